"""Deterministic history for the sandbox: merchants, customers, mandates, subscriptions,
payments, refunds, payouts and the event of every status change.

Same seed + same ``now`` → identical data. Each customer's life is drawn from its own RNG
(seeded from seed, merchant and customer index), so a first pass can count subscription
payments cheaply and a second pass can materialise exactly ``payments_per_merchant`` payments
while streaming rows to SQLite; memory stays bounded at a million payments.

:class:`ActivityGenerator` is also what the clock uses to create new activity on advance.
"""

from __future__ import annotations

import logging
import math
import random
import time
from array import array
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from gocardless_sandbox import catalog
from gocardless_sandbox.config import SandboxConfig
from gocardless_sandbox.ids import IdFactory
from gocardless_sandbox.lifecycle import (
    Context,
    InvalidTransition,
    Plan,
    apply,
    charge_lead_days,
    create_mandate,
    create_payment,
    payment_creation_time,
    plan_mandate,
    plan_payment,
    stable_int,
    subscription_charge_date,
    upcoming_payments,
)
from gocardless_sandbox.store import Organisation, SandboxStore, Writer
from gocardless_sandbox.timeutil import DAY, HOUR, MINUTE, add_months, day_start, day_str, from_date, from_datetime, iso

log = logging.getLogger(__name__)

#: Share of payments that subscriptions may take before later customers get none.
SUBSCRIPTION_SHARE = 0.7


def merchant_countries(seed: int, position: int) -> tuple[list[str], list[float]]:
    """A merchant's customer mix: the global weights, jittered, with one boosted home market."""
    rng = random.Random(stable_int(seed, "countries", position))
    codes = list(catalog.COUNTRIES)
    home = rng.choice(("GB", "GB", "FR", "DE", "AU", "US", "SE"))
    weights = [c.weight * rng.uniform(0.6, 1.4) * (3.0 if c.code == home else 1.0) for c in catalog.COUNTRIES.values()]
    return codes, weights


def random_amount(rng: random.Random, currency: str, *, round_to: int = 1) -> int:
    value = rng.lognormvariate(math.log(2500), 0.8) * catalog.AMOUNT_SCALE[currency]
    return max(100, int(value) // round_to * round_to)


@dataclass
class SubscriptionPlan:
    created: int
    fields: dict[str, Any]
    plan: Plan
    charges: list[tuple[int, date, int]]  # (payment created at, charge date, index)
    next_index: int
    amendments: list[tuple[int, int]] = field(default_factory=list)  # (at, new amount), oldest first

    def amount_at(self, moment: int) -> int:
        """The amount a payment created at ``moment`` charges (after the amendments before it)."""
        amount = self.fields["amount"]
        for at, new_amount in self.amendments:
            if at <= moment:
                amount = new_amount
        return amount


#: A plan change: a second subscription at another price, replacing the first or added to it.
PLAN_CHANGE_SHARE = 0.30
PLAN_CHANGE_FACTORS = (0.5, 0.75, 1.5, 2.0)
#: Share of subscriptions whose amount is amended in place (``subscriptions.amended``).
AMENDMENT_SHARE = 0.15


def scaled_amount(amount: int, factor: float) -> int:
    return max(100, int(amount * factor) // 100 * 100)


@dataclass
class CustomerPlan:
    created: int
    country: catalog.Country
    mandate_created: int
    mandate_plan: Plan
    active_from: int | None
    active_until: int | None
    subscriptions: list[SubscriptionPlan] = field(default_factory=list)
    window: tuple[int, int] | None = field(default=None)


class ActivityGenerator:
    """Draws and materialises customers and payments for one organisation."""

    def __init__(self, ctx: Context, seed: int, countries: tuple[list[str], list[float]]) -> None:
        self.ctx = ctx
        self.seed = seed
        self.country_codes, self.country_weights = countries

    # -- drawing ------------------------------------------------------------------------------
    def plan_customer(self, rng: random.Random, created: int, *, allow_subscription: bool) -> CustomerPlan:
        now = self.ctx.now
        code = rng.choices(self.country_codes, self.country_weights)[0]
        mandate_created = created + rng.randrange(2, 15) * MINUTE
        mandate_plan, active_from, active_until = plan_mandate(rng, mandate_created)
        plan = CustomerPlan(created, catalog.COUNTRIES[code], mandate_created, mandate_plan, active_from, active_until)
        if active_from is None:
            return plan
        end = min(active_until or now, now)
        if end - 7 * DAY > active_from + HOUR:
            plan.window = (active_from + HOUR, end - (7 * DAY if active_until and active_until <= now else 0))
        if allow_subscription and rng.random() < 0.45:
            subscription_created = active_from + rng.randrange(1, 72) * HOUR
            if subscription_created <= now:
                change_at, replaces, factor = None, False, 1.0
                if rng.random() < PLAN_CHANGE_SHARE:
                    change_at = subscription_created + rng.randrange(45, 400) * DAY + rng.randrange(0, DAY)
                    replaces, factor = rng.random() < 0.6, rng.choice(PLAN_CHANGE_FACTORS)
                first = self._plan_subscription(rng, subscription_created, plan, cancel_at=change_at if replaces else None)
                plan.subscriptions.append(first)
                if change_at is not None and change_at <= now and (active_until is None or change_at < active_until):
                    amount = scaled_amount(first.fields["amount"], factor)
                    plan.subscriptions.append(self._plan_subscription(rng, change_at, plan, amount=amount))
        return plan

    def _plan_subscription(self, rng: random.Random, created: int, customer: CustomerPlan, *,
                           cancel_at: int | None = None, amount: int | None = None) -> SubscriptionPlan:
        currency = customer.country.currency
        unit = rng.choices(("monthly", "weekly", "yearly"), (0.75, 0.15, 0.10))[0]
        interval = rng.choices((1, 2, 3), (0.8, 0.12, 0.08))[0]
        first = date.fromisoformat(day_str(created)) + timedelta(days=5)
        day_of_month = None
        if unit == "monthly":
            day_of_month = rng.choice((1, 1, 15, 28, -1, rng.randrange(1, 29)))
            first = add_months(first, 0 if (day_of_month == -1 or first.day <= day_of_month) else 1, day_of_month)
        fields = {
            "amount": amount or random_amount(rng, currency, round_to=100),
            "currency": currency,
            "name": rng.choice(catalog.PRODUCTS),
            "interval": interval,
            "interval_unit": unit,
            "day_of_month": day_of_month,
            "month": first.strftime("%B").lower() if unit == "yearly" else None,
            "start_date": first.isoformat(),
            "count": rng.randrange(3, 25) if rng.random() < 0.25 else None,
            "status": "active",
        }
        plan: Plan = []
        blocked: list[tuple[int, int]] = []  # paused windows
        stop = self.ctx.now + 10_000 * DAY
        if rng.random() < 0.05:
            fields["status"] = "pending_customer_approval"
            decided = created + rng.randrange(1, 48) * HOUR
            if rng.random() < 0.25:
                plan.append((decided, "customer_approval_denied", None))
                stop = decided
            else:
                plan.append((decided, "customer_approval_granted", None))
                blocked.append((created, decided))
        start_ms = from_date(first)
        if rng.random() < 0.08:
            paused = start_ms + rng.randrange(30, 300) * DAY + rng.randrange(0, DAY)
            plan.append((paused, "paused", None))
            resumed = paused + rng.randrange(30, 90) * DAY if rng.random() < 0.7 else stop
            if resumed < stop:
                plan.append((resumed, "resumed", None))
            blocked.append((paused, resumed))
        if rng.random() < 0.10:
            cancelled = start_ms + rng.randrange(30, 720) * DAY + rng.randrange(0, DAY)
            if cancelled < stop:
                plan.append((cancelled, "cancelled", None))
                stop = cancelled
        if cancel_at is not None and cancel_at < stop:  # replaced by a new plan
            plan.append((cancel_at, "cancelled", None))
            stop = cancel_at
        amendments = []
        if rng.random() < AMENDMENT_SHARE:
            amended = start_ms + rng.randrange(20, 400) * DAY + rng.randrange(0, DAY)
            if amended < stop and not any(a <= amended < b for a, b in blocked):
                new_amount = scaled_amount(fields["amount"], rng.choice(PLAN_CHANGE_FACTORS))
                plan.append((amended, "amended", {"amount": new_amount}))
                amendments.append((amended, new_amount))
        until = customer.active_until
        if until is not None and until <= self.ctx.now and until < stop:
            plan.append((until + 5 * MINUTE, "cancelled", {"origin": "gocardless", "cause": "mandate_cancelled",
                                                         "description": "The mandate for this subscription was cancelled."}))
            stop = until
        charges: list[tuple[int, date, int]] = []
        index = 0
        while True:
            charge = subscription_charge_date(fields, index)
            created_at = payment_creation_time(charge, created, rng)
            if fields["count"] is not None and index >= fields["count"]:
                finish = from_date(subscription_charge_date(fields, index - 1)) + DAY + 2 * HOUR
                # a paused subscription cannot finish: its last charge fell in a pause, so it
                # finishes once resumed (never resumed: it stays paused)
                finish = max([finish] + [resumed + HOUR for paused, resumed in blocked if paused <= finish < resumed])
                if finish - 2 * HOUR < stop:
                    plan.append((finish, "finished", None))
                break
            if created_at > self.ctx.now or created_at >= stop:
                break
            if not any(a <= created_at < b for a, b in blocked):
                charges.append((created_at, charge, index))
            index += 1
        return SubscriptionPlan(created, fields, plan, charges, index, amendments)

    # -- materialising --------------------------------------------------------------------------
    def materialise(self, rng: random.Random, customer: CustomerPlan, one_offs: int, subscription_budget: list[int]) -> int:
        """Write one customer's records; returns the number of payments created."""
        ctx = self.ctx
        country = customer.country
        given, family = rng.choice(catalog.GIVEN_NAMES), rng.choice(catalog.FAMILY_NAMES)
        customer_id = ctx.ids.new("CU")
        company = f"{family} {rng.choice(catalog.COMPANY_SUFFIXES)}" if rng.random() < 0.15 else None
        customer_body = {
            "id": customer_id,
            "address_line1": f"{rng.randrange(1, 200)} {rng.choice(catalog.STREETS)}",
            "address_line2": None,
            "address_line3": None,
            "city": rng.choice(country.cities),
            "company_name": company,
            "country_code": country.code,
            "created_at": iso(customer.created),
            "danish_identity_number": None,
            "email": f"{given.lower()}.{family.lower().replace(' ', '')}.{customer_id[-4:].lower()}@example.com",
            "family_name": family,
            "given_name": given,
            "language": country.language,
            "metadata": {"crm_id": f"crm-{stable_int(customer_id) % 10**6:06d}"} if rng.random() < 0.3 else {},
            "phone_number": None,
            "postal_code": f"{rng.randrange(10000, 99999)}",
            "region": None,
            "swedish_identity_number": None,
        }
        ctx.save("customers", customer_body)
        bank_account = new_bank_account(ctx, customer.created + rng.randrange(1, 2 * 60) * 1000, customer_body, country, rng)
        if customer.active_from is None and customer.mandate_plan[-1][1] == "failed":
            bank_account["enabled"] = False
        ctx.save("customer_bank_accounts", bank_account)
        mandate = create_mandate(ctx, customer.mandate_created, bank_account, customer.mandate_plan)
        created = 0
        for sub in customer.subscriptions:
            created += self._materialise_subscription(rng, sub, mandate, customer_id, subscription_budget)
        if customer.window and one_offs:
            start, end = customer.window
            for _ in range(one_offs):
                self.one_off_payment(rng, mandate, start + int(rng.random() * (end - start)))
            created += one_offs
        return created

    def _materialise_subscription(self, rng: random.Random, sub: SubscriptionPlan, mandate: dict[str, Any], customer_id: str, budget: list[int]) -> int:
        ctx = self.ctx
        subscription_id = ctx.ids.new("SB")
        body = {
            "id": subscription_id,
            **{k: sub.fields[k] for k in ("amount", "count", "currency", "day_of_month", "interval", "interval_unit", "month", "name", "start_date", "status")},
            "app_fee": None,
            "created_at": iso(sub.created),
            "earliest_charge_date_after_resume": None,
            "end_date": None,
            "links": {"mandate": mandate["id"]},
            "metadata": {},
            "parent_plan_paused": False,
            "payment_reference": None,
            "retry_if_possible": True,
            "upcoming_payments": [],
        }
        ctx.emit("subscriptions", "created", sub.created, {"subscription": subscription_id},
                 {"origin": "api", "cause": "subscription_created", "description": "Subscription created via the API."}, {})
        created = 0
        for created_at, charge, _ in sub.charges:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            created += 1
            status, plan = plan_payment(rng, created_at, charge.isoformat(), mandate["scheme"], one_off=False)
            create_payment(ctx, created_at, mandate, amount=sub.amount_at(created_at), currency=body["currency"],
                           charge_date=charge.isoformat(), plan=plan, status=status, subscription=body,
                           description=body["name"])
        parent = ctx.mandate_end_events.get(mandate["id"])
        plan = [(at, kind, {**params, "parent_event": parent} if parent and params and params.get("cause") == "mandate_cancelled" else params)
                for at, kind, params in sub.plan]
        self.store_subscription(body, plan, customer_id, sub.next_index)
        return created

    def store_subscription(self, body: dict[str, Any], plan: Plan, customer_id: str | None, next_index: int) -> None:
        """Run a subscription's plan, then store it with its next charge (for the clock)."""
        for at, kind, params in sorted(plan, key=lambda s: s[0]):
            if at > self.ctx.now:
                continue
            try:
                apply(self.ctx, "subscriptions", body, kind, at, params)
            except InvalidTransition:
                pass
        future = [step for step in plan if step[0] > self.ctx.now]
        body["upcoming_payments"] = upcoming_payments(body, next_index)
        exhausted = body["count"] is not None and next_index >= body["count"]
        hidden = {"customer": customer_id, "next_index": str(next_index),
                  "next_charge": None if exhausted else subscription_charge_date(body, next_index).isoformat()}
        self.ctx.run("subscriptions", body, future, hidden)

    def one_off_payment(self, rng: random.Random, mandate: dict[str, Any], at: int) -> dict[str, Any]:
        currency = catalog.CURRENCY_BY_SCHEME[mandate["scheme"]]
        charge_date = day_str(day_start(at) + charge_lead_days(mandate["scheme"]) * DAY)
        amount = random_amount(rng, currency)
        status, plan = plan_payment(rng, at, charge_date, mandate["scheme"], one_off=True)
        return create_payment(
            self.ctx, at, mandate, amount=amount, currency=currency, charge_date=charge_date, plan=plan, status=status,
            description=rng.choice(catalog.ONE_OFF_DESCRIPTIONS),
            reference=f"INV-{stable_int(at, amount) % 10**6:06d}" if rng.random() < 0.5 else None,
            app_fee=max(1, amount // 200) if rng.random() < 0.25 else None,
            metadata={"order_id": f"ord_{stable_int(at, 'order') % 10**8:08d}"} if rng.random() < 0.4 else None,
        )


def new_bank_account(ctx: Context, at: int, customer: dict[str, Any], country: catalog.Country, rng: random.Random | None = None, *, account_number: str | None = None, holder: str | None = None, currency: str | None = None, metadata: dict | None = None) -> dict[str, Any]:
    """A customer bank account body (not yet saved)."""
    rng = rng or random.Random(stable_int(customer["id"], at))
    digits = account_number or f"{rng.randrange(10**7, 10**8)}"
    currency = currency or country.currency
    return {
        "id": ctx.ids.new("BA"),
        "account_holder_name": holder or f"{customer.get('given_name') or ''} {customer.get('family_name') or ''}".strip() or customer.get("company_name") or "Account holder",
        "account_number_ending": digits[-4:] if currency == "NZD" else digits[-2:],
        "account_type": "checking" if currency == "USD" else None,
        "bank_account_token": None,
        "bank_name": rng.choice(country.banks),
        "country_code": country.code,
        "created_at": iso(at),
        "currency": currency,
        "enabled": True,
        "links": {"customer": customer["id"]},
        "metadata": metadata or {},
    }


def new_creditor(ids: IdFactory, organisation_id: str, name: str, created: int, rng: random.Random) -> dict[str, Any]:
    creditor_id = ids.new("CR")
    prefix = "".join(ch for ch in name.upper() if ch.isalpha())[:6]
    return {
        "id": creditor_id,
        "address_line1": f"{rng.randrange(1, 300)} {rng.choice(catalog.STREETS)}",
        "address_line2": None,
        "address_line3": None,
        "bank_reference_prefix": prefix,
        "can_create_refunds": True,
        "city": "London",
        "country_code": "GB",
        "created_at": iso(created),
        "creditor_type": "company",
        "custom_payment_pages_enabled": True,
        "fx_payout_currency": None,
        "links": {f"default_{c.lower()}_payout_account": ids.new("BA") for c in catalog.CURRENCIES},
        "logo_url": None,
        "mandate_imports_enabled": False,
        "merchant_responsible_for_notifications": True,
        "name": name,
        "postal_code": f"EC{rng.randrange(1, 4)}A {rng.randrange(1, 9)}BB",
        "region": None,
        "scheme_identifiers": [
            {"name": name, "scheme": scheme, "status": "active", "currency": currency, "reference": f"{prefix}{i:03d}",
             "minimum_advance_notice": 3, "can_specify_mandate_reference": True}
            for i, (scheme, currency) in enumerate((("bacs", "GBP"), ("sepa", "EUR"), ("autogiro", "SEK"), ("betalingsservice", "DKK"),
                                                    ("becs", "AUD"), ("becs_nz", "NZD"), ("pad", "CAD"), ("ach", "USD")))
        ],
        "verification_status": "successful",
    }


def generate(store: SandboxStore, config: SandboxConfig) -> list[Organisation]:
    """Fill an empty store with the history ``config`` describes; returns the organisations."""
    started = time.perf_counter()
    now = from_datetime(config.now)
    history_start = from_date(add_months(config.now.date(), -config.history_months))
    ids = IdFactory(config.seed)
    writer = Writer(store)
    organisations = []
    for position in range(config.merchants):
        rng = random.Random(stable_int(config.seed, "merchant", position))
        org_id = ids.new("OR")
        base_name = catalog.MERCHANT_NAMES[position % len(catalog.MERCHANT_NAMES)]
        name = base_name if position < len(catalog.MERCHANT_NAMES) else f"{base_name} {position // len(catalog.MERCHANT_NAMES) + 1}"
        creditor = new_creditor(ids, org_id, name, history_start - 30 * DAY, rng)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())
        organisation = Organisation(org_id, creditor["id"], name, f"finance@{slug}.example.com")
        store.add_organisation(organisation, position)
        writer.put("creditors", org_id, creditor)
        ctx = Context(store, writer, ids, organisation, creditor, now, runtime=False)
        activity = ActivityGenerator(ctx, config.seed, merchant_countries(config.seed, position))
        _generate_merchant(activity, config, position, history_start, rng)
        ctx.flush()
    store.ensure_indexes()
    store.set_meta("now", now)
    store.set_meta("ids", ids.counters)
    store.set_meta("seed", config.seed)
    log.info("generated %d merchants x %d payments in %.1fs", config.merchants, config.payments_per_merchant,
             time.perf_counter() - started)
    return organisations


def _generate_merchant(activity: ActivityGenerator, config: SandboxConfig, position: int, history_start: int, rng: random.Random) -> None:
    now = activity.ctx.now
    customers = config.customers
    target = config.payments_per_merchant

    def customer_rng(index: int) -> random.Random:
        return random.Random(stable_int(config.seed, position, "customer", index))

    def created_at(r: random.Random) -> int:
        return history_start + int((now - history_start) * r.random() ** 0.8)

    # Pass 1: draw every customer's life to count subscription payments and find windows.
    allow = bytearray(customers)
    eligible = array("l")
    subscription_payments = 0
    for index in range(customers):
        r = customer_rng(index)
        plan = activity.plan_customer(r, created_at(r), allow_subscription=True)
        count = sum(len(sub.charges) for sub in plan.subscriptions)
        if subscription_payments + count <= SUBSCRIPTION_SHARE * target:
            allow[index] = 1
            subscription_payments += count
        else:
            r = customer_rng(index)
            plan = activity.plan_customer(r, created_at(r), allow_subscription=False)
        if plan.window:
            eligible.append(index)
    one_offs = array("l", bytes(8 * customers)) if customers else array("l")
    remaining = target - min(subscription_payments, target)
    if eligible:
        for _ in range(remaining):
            one_offs[eligible[rng.randrange(len(eligible))]] += 1
    # Pass 2: replay each customer from the same seed and write its records.
    budget = [min(subscription_payments, target)]
    for index in range(customers):
        r = customer_rng(index)
        plan = activity.plan_customer(r, created_at(r), allow_subscription=bool(allow[index]))
        activity.materialise(r, plan, one_offs[index], budget)
