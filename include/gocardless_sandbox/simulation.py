"""Runtime changes to the sandbox: the simulated clock, scenario simulators and API writes.

All of them reuse the generator's building blocks (:mod:`.lifecycle`, :class:`ActivityGenerator`)
so a payment failed by a scenario simulator or by a clock advance looks exactly like one failed
in the generated history. Changes are serialised on one lock and written in one transaction.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from gocardless_sandbox import catalog
from gocardless_sandbox.config import SandboxConfig
from gocardless_sandbox.generator import ActivityGenerator, merchant_countries, new_bank_account
from gocardless_sandbox.ids import IdFactory
from gocardless_sandbox.lifecycle import (
    KINDS,
    Context,
    InvalidTransition,
    apply,
    charge_lead_days,
    create_mandate,
    create_payment,
    create_refund,
    payment_creation_time,
    plan_mandate,
    plan_payment,
    plan_refund,
    stable_int,
    subscription_charge_date,
    upcoming_payments,
)
from gocardless_sandbox.problems import ApiProblem, invalid_state, not_found, validation_failed
from gocardless_sandbox.store import RESOURCES, SandboxStore, Writer
from gocardless_sandbox.timeutil import DAY, HOUR, MINUTE, add_months, day_start, day_str, from_date, iso

log = logging.getLogger(__name__)

REFUND_NOT_POSSIBLE = "A refund is not possible on this payment."

#: Scenario simulator name -> (resource, the full path of steps it walks). A simulator starts
#: at the first step the record's current status allows, so a confirmed payment run through
#: ``payment_paid_out`` only takes the last step.
SCENARIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "payment_submitted": ("payments", ("submitted",)),
    "payment_confirmed": ("payments", ("submitted", "confirmed")),
    "payment_paid_out": ("payments", ("submitted", "confirmed", "paid_out")),
    "payment_failed": ("payments", ("submitted", "failed")),
    "payment_charged_back": ("payments", ("submitted", "confirmed", "paid_out", "charged_back")),
    "payment_chargeback_settled": ("payments", ("submitted", "confirmed", "paid_out", "charged_back", "chargeback_settled")),
    "payment_late_failure": ("payments", ("submitted", "confirmed", "paid_out", "late_failure")),
    "payment_late_failure_settled": ("payments", ("submitted", "confirmed", "paid_out", "late_failure", "late_failure_settled")),
    "payment_customer_approval_denied": ("payments", ("customer_approval_denied",)),
    "payment_customer_approval_granted": ("payments", ("customer_approval_granted",)),
    "payment_cancelled": ("payments", ("cancelled",)),
    "mandate_activated": ("mandates", ("submitted", "active")),
    "mandate_failed": ("mandates", ("submitted", "failed")),
    "mandate_expired": ("mandates", ("submitted", "active", "expired")),
    "mandate_cancelled": ("mandates", ("cancelled",)),
    "mandate_reinstated": ("mandates", ("reinstated",)),
    "mandate_resubmission_requested": ("mandates", ("resubmission_requested",)),
    "refund_paid": ("refunds", ("pending_submission", "submitted", "paid")),
    "refund_settled": ("refunds", ("pending_submission", "submitted", "paid", "refund_settled")),
    "refund_bounced": ("refunds", ("pending_submission", "submitted", "paid", "bounced")),
    "refund_funds_returned": ("refunds", ("pending_submission", "submitted", "paid", "funds_returned")),
    "payout_paid": ("payouts", ("paid",)),
}
RESOURCE_BY_PREFIX = {spec.prefix: name for name, spec in RESOURCES.items()}


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check."""
    if len(iban) < 15 or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


class Simulation:
    """The mutable side of a sandbox: clock, ids and every change after generation."""

    def __init__(self, store: SandboxStore, config: SandboxConfig) -> None:
        self.store = store
        self.config = config
        self.seed = store.get_meta("seed", config.seed)
        self.ids = IdFactory(self.seed, store.get_meta("ids", {}))
        self.lock = threading.RLock()
        self._now: int = store.get_meta("now")
        self._emitted_at: dict[int, int] = {}
        self._arrivals = 0  # records created by the ``shift`` fault

    @property
    def now(self) -> int:
        return self._now

    def clock(self) -> dict[str, Any]:
        return {"now": iso(self._now), "date": day_str(self._now)}

    # -- plumbing ---------------------------------------------------------------------------
    def _context(self, org_id: str, writer: Writer, now: int) -> Context:
        organisation = self.store.organisation(org_id)
        if organisation is None:
            raise not_found()
        creditor = self.store.get(org_id, "creditors", organisation.creditor_id)
        return Context(self.store, writer, self.ids, organisation, creditor, now, runtime=True, emitted_at=self._emitted_at)

    @contextmanager
    def change(self, org_id: str) -> Iterator[Context]:
        """One runtime change for one organisation, committed atomically at the end."""
        with self.lock:
            ctx = self._context(org_id, Writer(self.store), self._now)
            yield ctx
            ctx.flush()
            self.store.set_meta("ids", self.ids.counters)

    def _rng(self, *parts: Any) -> random.Random:
        return random.Random(stable_int(self.seed, self._now, *parts))

    # -- clock ------------------------------------------------------------------------------
    def advance(self, days: int = 1, change_fraction: float = 0.0) -> dict[str, Any]:
        """Move the clock ``days`` forward, one day at a time; returns what changed."""
        if days < 0 or not 0.0 <= change_fraction <= 1.0:
            raise ValueError("days must be >= 0 and change_fraction between 0 and 1")
        with self.lock:
            before = self._counts()
            applied: Counter[str] = Counter()
            previous = self._now
            writer = Writer(self.store)
            for _ in range(days):
                day_from, self._now = self._now, self._now + DAY
                contexts = {o.id: self._context(o.id, writer, self._now) for o in self.store.organisations()}
                applied += self._materialise_due(contexts)
                for position, ctx in enumerate(contexts.values()):
                    self._new_activity(ctx, position, day_from)
                for ctx in contexts.values():
                    ctx.flush()
            if change_fraction > 0:
                contexts = {o.id: self._context(o.id, writer, self._now) for o in self.store.organisations()}
                for ctx in contexts.values():
                    applied["payments"] += self._change_old_payments(ctx, change_fraction, previous)
                    ctx.flush()
                applied += self._materialise_due(contexts)
            self.store.set_meta("now", self._now)
            self.store.set_meta("ids", self.ids.counters)
            self._emitted_at.clear()
            after = self._counts()
        created = {name: after[name] - before[name] for name in after if after[name] != before[name]}
        summary = {"now": iso(self._now), "days": days, "created": created, "status_changes": dict(applied)}
        log.info("sandbox clock advanced to %s: %s", summary["now"], summary)
        return summary

    def _counts(self) -> dict[str, int]:
        conn = self.store.conn
        counts = {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in RESOURCES}
        counts["payout_items"] = conn.execute("SELECT count(*) FROM payout_items").fetchone()[0]
        return counts

    def _materialise_due(self, contexts: dict[str, Context]) -> Counter[str]:
        applied: Counter[str] = Counter()
        while rows := self.store.due_transitions(self._now):
            for seq, due, org, resource, resource_id, kind, params in rows:
                ctx = contexts[org]
                ctx.writer.done(seq)
                body = ctx.load(resource, resource_id)
                if body is None:
                    continue
                try:
                    apply(ctx, resource, body, kind, due, _json(params))
                except InvalidTransition:
                    continue
                ctx.save(resource, body)
                applied[resource] += 1
            for ctx in contexts.values():
                ctx.flush()
        return applied

    def _new_activity(self, ctx: Context, position: int, day_from: int) -> None:
        """A day of business: subscription charges, new customers and one-off payments."""
        rng = self._rng(ctx.org.id, "activity")
        activity = ActivityGenerator(ctx, self.seed, merchant_countries(self.seed, position))
        self._charge_subscriptions(ctx, activity, day_from, rng)
        history_days = max(1, self.config.history_months * 30)
        new_customers = max(1, round(self.config.customers / history_days))
        for _ in range(new_customers):
            created = day_from + rng.randrange(1, DAY - 2 * HOUR)
            plan = activity.plan_customer(rng, created, allow_subscription=True)
            activity.materialise(rng, plan, 0, [10**9])
        one_offs = max(1, round(self.config.payments_per_merchant * 0.5 / history_days))
        mandates = ctx.store.select(
            "mandates", "org = ? AND status = 'active'", (ctx.org.id,),
            suffix=f"ORDER BY (rowid * {stable_int(self._now, ctx.org.id) % 999_983 | 1}) % 1000003 LIMIT {one_offs}",
        )
        for _, mandate in mandates:
            activity.one_off_payment(rng, mandate, day_from + rng.randrange(1, DAY - HOUR))

    def _charge_subscriptions(self, ctx: Context, activity: ActivityGenerator, day_from: int, rng: random.Random) -> None:
        horizon = day_str(self._now + 5 * DAY)
        rows = ctx.store.conn.execute(
            "SELECT id, next_index, customer FROM subscriptions WHERE org = ? AND status = 'active' "
            "AND removed = 0 AND next_charge IS NOT NULL AND next_charge <= ?",
            (ctx.org.id, horizon),
        ).fetchall()
        for subscription_id, next_index, customer_id in rows:
            body = ctx.load("subscriptions", subscription_id)
            mandate = ctx.load("mandates", body["links"]["mandate"])
            index = int(next_index)
            plan = []
            while True:
                if body["count"] is not None and index >= body["count"]:
                    last = from_date(subscription_charge_date(body, index - 1))
                    plan.append((max(last + DAY + 2 * HOUR, day_from + HOUR), "finished", None))
                    break
                charge = subscription_charge_date(body, index)
                created = max(payment_creation_time(charge, 0, rng), day_from + MINUTE)
                if created > self._now:
                    break
                if mandate is not None and mandate["status"] in ("active", "pending_submission", "submitted"):
                    status, payment_plan = plan_payment(rng, created, charge.isoformat(), mandate["scheme"], one_off=False)
                    create_payment(ctx, created, mandate, amount=body["amount"], currency=body["currency"],
                                   charge_date=charge.isoformat(), plan=payment_plan, status=status,
                                   subscription=body, description=body["name"])
                index += 1
            activity.store_subscription(body, plan, customer_id, index)

    def _change_old_payments(self, ctx: Context, fraction: float, previous_now: int) -> int:
        """Chargebacks and late failures on older paid-out payments (changes on old records)."""
        cutoff = iso(previous_now - 14 * DAY)
        total = ctx.store.conn.execute(
            "SELECT count(*) FROM payments WHERE org = ? AND status = 'paid_out' AND created_at < ?", (ctx.org.id, cutoff)
        ).fetchone()[0]
        wanted = min(total, max(1, round(total * fraction))) if total else 0
        if not wanted:
            return 0
        shuffle = stable_int(self.seed, self._now, ctx.org.id) % 999_983 | 1
        rows = ctx.store.conn.execute(
            f"SELECT id FROM payments WHERE org = ? AND status = 'paid_out' AND created_at < ? "
            f"ORDER BY (rowid * {shuffle}) % 1000003 LIMIT ?",
            (ctx.org.id, cutoff, wanted),
        ).fetchall()
        rng = self._rng(ctx.org.id, "changes")
        day_from = self._now - DAY
        for (payment_id,) in rows:
            body = ctx.load("payments", payment_id)
            at = day_from + rng.randrange(HOUR, DAY - 4 * HOUR)
            if rng.random() < 0.7:
                apply(ctx, "payments", body, "charged_back", at)
                settle = (day_start(at) + 2 * DAY + 8 * HOUR + rng.randrange(1, 600) * 1000, "chargeback_settled", None)
            else:
                apply(ctx, "payments", body, "late_failure", at, {"will_attempt_retry": False})
                settle = (day_start(at) + DAY + 8 * HOUR + rng.randrange(1, 600) * 1000, "late_failure_settled", None)
            ctx.run("payments", body, [settle])
        return len(rows)

    # -- scenario simulators ------------------------------------------------------------------
    def run_scenario(self, org_id: str, name: str, resource_id: str) -> dict[str, Any]:
        if name not in SCENARIOS:
            raise ApiProblem(404, type_="invalid_api_usage", reason="resource_not_found",
                             message=f"Scenario simulator {name} not found")
        resource, path = SCENARIOS[name]
        if RESOURCE_BY_PREFIX.get(resource_id[:2]) != resource:
            raise validation_failed("links[resource]", f"must be a {resource[:-1]} for {name}", "scenario_simulators")
        with self.change(org_id) as ctx:
            body = ctx.load(resource, resource_id)
            if body is None:
                raise not_found()
            kinds = KINDS[resource]
            start = next((i for i, step in enumerate(path) if body.get("status") in kinds[step].sources), None)
            if start is None:
                raise invalid_state("invalid_state", f"The {resource[:-1]} is {body.get('status')}, so {name} cannot run on it.")
            ctx.writer.cancel_pending(resource_id)
            for step in path[start:]:
                params = {"cause": "mandate_cancelled", "origin": "api"} if step == "cancelled" and resource == "mandates" else None
                apply(ctx, resource, body, step, self._now, params)
            ctx.save(resource, body)
        return {"id": name, "links": {"resource": resource_id}}

    # -- writes -------------------------------------------------------------------------------
    def remove_customer(self, org_id: str, customer_id: str) -> dict[str, Any]:
        with self.change(org_id) as ctx:
            body = ctx.load("customers", customer_id)
            if body is None:
                raise not_found()
            ctx.writer.remove("customers", customer_id)
        return body

    def create_customer(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "customers")
        if not (data.get("email") or data.get("given_name") or data.get("company_name")):
            raise validation_failed("email", "can't be blank", "customers")
        with self.change(org_id) as ctx:
            body = {
                "id": ctx.ids.new("CU"),
                **{key: data.get(key) for key in ("address_line1", "address_line2", "address_line3", "city", "company_name",
                                                  "country_code", "danish_identity_number")},
                "created_at": iso(self._now),
                "email": data.get("email"),
                "family_name": data.get("family_name"),
                "given_name": data.get("given_name"),
                "language": data.get("language") or "en",
                "metadata": data.get("metadata") or {},
                "phone_number": data.get("phone_number"),
                "postal_code": data.get("postal_code"),
                "region": data.get("region"),
                "swedish_identity_number": data.get("swedish_identity_number"),
            }
            ctx.save("customers", body)
        return body

    def create_bank_account(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "customer_bank_accounts")
        customer_id = (data.get("links") or {}).get("customer")
        iban = (data.get("iban") or "").replace(" ", "").upper()
        if iban:
            if not iban_is_valid(iban):
                raise validation_failed("iban", "is invalid", "customer_bank_accounts")
            country_code, account_number = iban[:2], iban[-8:]
        else:
            country_code = (data.get("country_code") or "").upper()
            account_number = data.get("account_number") or ""
            if not account_number:
                raise validation_failed("account_number", "can't be blank", "customer_bank_accounts")
        country = catalog.COUNTRIES.get(country_code)
        if country is None:
            raise validation_failed("country_code" if not iban else "iban", "is not a supported country", "customer_bank_accounts")
        currency = data.get("currency") or country.currency
        _check_currency(currency, "customer_bank_accounts")
        if currency != country.currency:
            raise validation_failed("currency", f"must be {country.currency} for a {country.code} bank account", "customer_bank_accounts")
        with self.change(org_id) as ctx:
            customer = ctx.load("customers", customer_id or "")
            if customer is None:
                raise validation_failed("links[customer]", "must reference an existing customer", "customer_bank_accounts")
            body = new_bank_account(ctx, self._now, customer, country, account_number=account_number,
                                    holder=data.get("account_holder_name"), currency=currency, metadata=data.get("metadata"))
            ctx.save("customer_bank_accounts", body)
        return body

    def create_mandate(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "mandates")
        bank_account_id = (data.get("links") or {}).get("customer_bank_account")
        with self.change(org_id) as ctx:
            bank_account = ctx.load("customer_bank_accounts", bank_account_id or "")
            if bank_account is None or not bank_account["enabled"]:
                raise validation_failed("links[customer_bank_account]", "must reference an enabled customer bank account", "mandates")
            scheme = catalog.SCHEME_BY_CURRENCY[bank_account["currency"]]
            if data.get("scheme") and data["scheme"] != scheme:
                raise validation_failed("scheme", f"must be {scheme} for this bank account", "mandates")
            plan, _, _ = plan_mandate(self._rng("mandate", bank_account_id), self._now, happy=True)
            body = create_mandate(ctx, self._now, bank_account, plan, reference=data.get("reference"), metadata=data.get("metadata"),
                                  payments_require_approval=bool(data.get("payments_require_approval", False)))
        return body

    def create_payment(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "payments")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise validation_failed("amount", "must be a positive integer", "payments")
        currency = data.get("currency")
        _check_currency(currency, "payments")
        mandate_id = (data.get("links") or {}).get("mandate")
        with self.change(org_id) as ctx:
            mandate = ctx.load("mandates", mandate_id or "")
            if mandate is None:
                raise validation_failed("links[mandate]", "must reference an existing mandate", "payments")
            if mandate["status"] not in ("pending_submission", "submitted", "active"):
                raise invalid_state("mandate_is_inactive", "The specified mandate is not active.")
            if catalog.CURRENCY_BY_SCHEME[mandate["scheme"]] != currency:
                raise validation_failed("currency", f"must be {catalog.CURRENCY_BY_SCHEME[mandate['scheme']]} for a {mandate['scheme']} mandate", "payments")
            earliest = day_start(self._now) + charge_lead_days(mandate["scheme"]) * DAY
            charge_date = data.get("charge_date") or day_str(earliest)
            try:
                charge_date = max(date.fromisoformat(charge_date), date.fromisoformat(day_str(earliest))).isoformat()
            except (TypeError, ValueError):
                raise validation_failed("charge_date", "must be a date (YYYY-MM-DD)", "payments") from None
            if mandate["payments_require_approval"]:  # waits for the customer (a scenario simulator)
                status, plan = "pending_customer_approval", []
            else:
                status, plan = plan_payment(self._rng("payment", mandate_id), self._now, charge_date, mandate["scheme"], one_off=True, happy=True)
            app_fee = data.get("app_fee")
            body = create_payment(ctx, self._now, mandate, amount=amount, currency=currency, charge_date=charge_date, plan=plan, status=status,
                                  description=data.get("description"), reference=data.get("reference"),
                                  metadata=data.get("metadata"), app_fee=app_fee,
                                  retry_if_possible=bool(data.get("retry_if_possible", True)))
        return body

    def create_subscription(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "subscriptions")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise validation_failed("amount", "must be a positive integer", "subscriptions")
        currency = data.get("currency")
        _check_currency(currency, "subscriptions")
        unit = data.get("interval_unit")
        if unit not in ("weekly", "monthly", "yearly"):
            raise validation_failed("interval_unit", "must be one of weekly, monthly, yearly", "subscriptions")
        interval = int(data.get("interval") or 1)
        mandate_id = (data.get("links") or {}).get("mandate")
        with self.change(org_id) as ctx:
            mandate = ctx.load("mandates", mandate_id or "")
            if mandate is None:
                raise validation_failed("links[mandate]", "must reference an existing mandate", "subscriptions")
            if catalog.CURRENCY_BY_SCHEME[mandate["scheme"]] != currency:
                raise validation_failed("currency", "must match the mandate's scheme", "subscriptions")
            earliest = date.fromisoformat(day_str(self._now + charge_lead_days(mandate["scheme"]) * DAY))
            start = max(date.fromisoformat(data.get("start_date") or earliest.isoformat()), earliest)
            day_of_month = data.get("day_of_month")
            if unit == "monthly" and day_of_month:
                start = add_months(start, 0 if (int(day_of_month) == -1 or start.day <= int(day_of_month)) else 1, int(day_of_month))
            body = {
                "id": ctx.ids.new("SB"),
                "amount": amount,
                "app_fee": data.get("app_fee"),
                "count": data.get("count"),
                "created_at": iso(self._now),
                "currency": currency,
                "day_of_month": int(day_of_month) if day_of_month else None,
                "earliest_charge_date_after_resume": None,
                "end_date": None,
                "interval": interval,
                "interval_unit": unit,
                "links": {"mandate": mandate["id"]},
                "metadata": data.get("metadata") or {},
                "month": data.get("month"),
                "name": data.get("name"),
                "parent_plan_paused": False,
                "payment_reference": data.get("payment_reference"),
                "retry_if_possible": bool(data.get("retry_if_possible", True)),
                "start_date": start.isoformat(),
                "status": "active",
                "upcoming_payments": [],
            }
            ctx.emit("subscriptions", "created", self._now, {"subscription": body["id"]},
                     {"origin": "api", "cause": "subscription_created", "description": "Subscription created via the API."},
                     body["metadata"])
            body["upcoming_payments"] = upcoming_payments(body, 0)
            ctx.save("subscriptions", body, {"customer": mandate["links"]["customer"], "next_index": "0",
                                             "next_charge": start.isoformat()})
        return body

    def create_refund(self, org_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_metadata(data, "refunds")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise validation_failed("amount", "must be a positive integer", "refunds")
        payment_id = (data.get("links") or {}).get("payment")
        with self.change(org_id) as ctx:
            payment = ctx.load("payments", payment_id or "")
            if payment is None:
                raise validation_failed("links[payment]", "must reference an existing payment", "refunds")
            confirmed = self.store.conn.execute(
                "SELECT max(created_at) FROM events WHERE org = ? AND resource_id = ? AND action = 'confirmed'",
                (org_id, payment_id),
            ).fetchone()[0]
            two_days_ago = iso(self._now - 2 * DAY + MINUTE)  # events are stamped a few ms after the change
            if payment["status"] not in ("confirmed", "paid_out") or confirmed is None or confirmed > two_days_ago:
                raise invalid_state("refund_payment_invalid_state", REFUND_NOT_POSSIBLE)
            if amount > payment["amount"] - payment.get("amount_refunded", 0):
                raise invalid_state("total_amount_confirmation_invalid", "The refund amount exceeds the amount left to refund.")
            plan = plan_refund(self._rng("refund", payment_id), self._now, happy=True)
            body = create_refund(ctx, payment, amount, self._now, plan, reference=data.get("reference"), metadata=data.get("metadata"))
            ctx.save("payments", payment)
        return body

    def cancel_payment(self, org_id: str, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.change(org_id) as ctx:
            payment = ctx.load("payments", payment_id)
            if payment is None:
                raise not_found()
            if payment["status"] not in KINDS["payments"]["cancelled"].sources:
                raise invalid_state("cancellation_failed", "This payment could not be cancelled as it has already been submitted.")
            if data.get("metadata"):
                payment["metadata"] = data["metadata"]
            ctx.writer.cancel_pending(payment_id)
            apply(ctx, "payments", payment, "cancelled", self._now)
            ctx.save("payments", payment)
        return payment

    def arrive_during_listing(self, org_id: str) -> list[str]:
        """New records of one organisation, created now while a client is paging a listing
        (the ``shift`` fault): a customer and, on an active mandate, a payment with its event.

        Returns the new ids. Lists are newest first with id cursors, so records created
        mid-listing sort ahead of the pages already read and never shift the later ones.
        """
        with self.lock:
            self._arrivals += 1
            number = self._arrivals
            customer = self.create_customer(org_id, {"email": f"arrival-{number}@example.com", "given_name": "Arrival",
                                                      "family_name": str(number)})
            created = [customer["id"]]
            mandates = self.store.select("mandates", "org = ? AND status = 'active'", (org_id,), suffix="ORDER BY id LIMIT 1")
            if mandates:
                mandate = mandates[0][1]
                payment = self.create_payment(org_id, {"amount": 1000 + number, "links": {"mandate": mandate["id"]},
                                                       "currency": catalog.CURRENCY_BY_SCHEME[mandate["scheme"]]})
                created.append(payment["id"])
        return created


    def retry_payment(self, org_id: str, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """``POST /payments/{id}/actions/retry``: a failed payment goes back to
        ``pending_submission`` (event ``resubmission_requested``)."""
        with self.change(org_id) as ctx:
            payment = ctx.load("payments", payment_id)
            if payment is None:
                raise not_found()
            if payment["status"] not in KINDS["payments"]["resubmission_requested"].sources:
                raise invalid_state("retry_failed", "Only failed payments can be retried.")
            if data.get("metadata"):
                payment["metadata"] = data["metadata"]
            apply(ctx, "payments", payment, "resubmission_requested", self._now, {
                "origin": "api", "cause": "payment_retried", "description": "This payment was retried via the API."})
            ctx.save("payments", payment)
        return payment


def _json(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _check_currency(currency: Any, resource: str) -> None:
    if currency not in catalog.CURRENCIES:
        raise validation_failed("currency", f"must be one of {', '.join(catalog.CURRENCIES)}", resource)


def _check_metadata(data: dict[str, Any], resource: str) -> None:
    metadata = data.get("metadata")
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 3 or any(
        len(str(k)) > 50 or not isinstance(v, str) or len(v) > 500 for k, v in metadata.items()
    ):
        raise validation_failed("metadata", "must have at most 3 string keys (50 chars) and values (500 chars)", resource)

