"""Status machines of payments, mandates, subscriptions, refunds and payouts, and their events.

Every status change in the sandbox, whether generated history, a clock advance or a scenario
simulator, goes through :func:`apply`: it checks the source status, sets the new one, posts
payout items when money moves, and records the event GoCardless would send (same ``action``,
``details{origin, cause, description, scheme, reason_code, …}`` and ``links`` shapes).

Objects are created with a *plan*: ``(at_ms, kind, params)`` steps computed up front.
:meth:`Context.run` applies the steps already due at the simulated ``now`` and stores the rest
in the ``pending`` table for the clock to materialise later.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gocardless_sandbox import catalog
from gocardless_sandbox.ids import IdFactory
from gocardless_sandbox.store import RESOURCE_SINGULAR, Organisation, SandboxStore, Writer
from gocardless_sandbox.timeutil import DAY, HOUR, MINUTE, SECOND, add_months, day_start, day_str, from_date, iso

Plan = list[tuple[int, str, dict[str, Any] | None]]


class InvalidTransition(Exception):
    """A step whose source status does not match the record's current status."""


@dataclass(frozen=True)
class Kind:
    sources: frozenset[str] | None  # None: any status
    target: str | None  # None: the status does not change
    action: str | None  # event action; None: a silent status change (no documented event)
    origin: str = "gocardless"
    cause: str = ""
    description: str = ""


def _k(sources: str | None, target: str | None, action: str | None, origin: str = "gocardless", cause: str = "", description: str = "") -> Kind:
    return Kind(frozenset(sources.split()) if sources else None, target, action, origin, cause, description)


KINDS: dict[str, dict[str, Kind]] = {
    "payments": {
        "customer_approval_granted": _k("pending_customer_approval", "pending_submission", "customer_approval_granted", "customer", "customer_approval_granted", "The customer granted approval for this payment."),
        "customer_approval_denied": _k("pending_customer_approval", "customer_approval_denied", "customer_approval_denied", "customer", "customer_approval_denied", "The customer denied approval for this payment."),
        "submitted": _k("pending_submission", "submitted", "submitted", "gocardless", "payment_submitted", "Payment submitted to the banks. As a result, it can no longer be cancelled."),
        "confirmed": _k("submitted", "confirmed", "confirmed", "gocardless", "payment_confirmed", "Enough time has passed since the payment was submitted for the banks to return an error, so this payment is now confirmed."),
        "paid_out": _k("confirmed", "paid_out", "paid_out", "gocardless", "payment_paid_out", "The payment has been paid out by GoCardless."),
        "failed": _k("submitted", "failed", "failed", "bank", "insufficient_funds", "The customer's account had insufficient funds to make this payment."),
        "late_failure": _k("confirmed paid_out", "failed", "failed", "bank", "refer_to_payer", "The customer's bank returned the payment after it was confirmed (a late failure)."),
        "late_failure_settled": _k("failed", None, "late_failure_settled", "gocardless", "late_failure_settled", "This late failure has been settled against a payout."),
        "resubmission_requested": _k("failed", "pending_submission", "resubmission_requested", "gocardless", "payment_autoretried", "This payment will be automatically retried by GoCardless."),
        "charged_back": _k("confirmed paid_out", "charged_back", "charged_back", "bank", "authorisation_disputed", "The customer has disputed that the amount taken differs from the amount they were notified of."),
        "chargeback_settled": _k("charged_back", None, "chargeback_settled", "gocardless", "chargeback_settled", "This chargeback has been settled against a payout."),
        "cancelled": _k("pending_submission pending_customer_approval", "cancelled", "cancelled", "api", "payment_cancelled", "The payment was cancelled."),
        "create_refund": _k("confirmed paid_out", None, None),
    },
    "mandates": {
        "submitted": _k("pending_submission", "submitted", "submitted", "gocardless", "mandate_submitted", "The mandate has been submitted to the banks."),
        "active": _k("submitted", "active", "active", "gocardless", "mandate_activated", "The time window after submission for the banks to refuse a mandate has ended without any errors being received, so this mandate is now active."),
        "failed": _k("pending_submission submitted", "failed", "failed", "bank", "invalid_bank_details", "The bank details for this mandate were invalid."),
        "cancelled": _k("pending_customer_approval pending_submission submitted active", "cancelled", "cancelled", "api", "mandate_cancelled", "The mandate was cancelled at your request."),
        "expired": _k("active", "expired", "expired", "gocardless", "mandate_expired", "The mandate expired due to dormancy."),
        "reinstated": _k("cancelled expired", "active", "reinstated", "bank", "mandate_reinstated", "The mandate was reinstated by the customer's bank."),
        "resubmission_requested": _k("failed active cancelled expired", "pending_submission", "resubmission_requested", "api", "resubmission_requested", "A resubmission of this mandate was requested."),
    },
    "subscriptions": {
        "customer_approval_granted": _k("pending_customer_approval", "active", "customer_approval_granted", "customer", "customer_approval_granted", "The customer granted approval for this subscription."),
        "customer_approval_denied": _k("pending_customer_approval", "customer_approval_denied", "customer_approval_denied", "customer", "customer_approval_denied", "The customer denied approval for this subscription."),
        "paused": _k("active", "paused", "paused", "api", "subscription_paused", "The subscription was paused."),
        "resumed": _k("paused", "active", "resumed", "api", "subscription_resumed", "The subscription was resumed."),
        "cancelled": _k("active paused pending_customer_approval", "cancelled", "cancelled", "api", "subscription_cancelled", "The subscription was cancelled."),
        "finished": _k("active", "finished", "finished", "gocardless", "subscription_finished", "The subscription has finished."),
        "amended": _k("active paused", None, "amended", "api", "subscription_amended", "The subscription amount was changed."),
    },
    "refunds": {
        "pending_submission": _k("created", "pending_submission", None),
        "submitted": _k("pending_submission", "submitted", None),
        "paid": _k("submitted", "paid", "paid", "gocardless", "refund_paid", "The refund has been paid to your customer."),
        "refund_settled": _k("paid", None, "refund_settled", "gocardless", "refund_settled", "The refund has been deducted from a payout."),
        "bounced": _k("paid", "bounced", "failed", "bank", "refund_failed", "The refund did not reach your customer and the funds will be returned to you."),
        "funds_returned": _k("paid bounced", "funds_returned", "funds_returned", "bank", "refund_funds_returned", "The refund funds have been returned to you."),
        "cancelled": _k("created pending_submission", "cancelled", None),
    },
    "payouts": {
        "paid": _k("pending", "paid", "paid", "gocardless", "payout_paid", "GoCardless has transferred the payout to the creditor's bank account."),
    },
}

#: Payout item types that count as fees in ``deducted_fees``.
FEE_TYPES = frozenset({"gocardless_fee", "app_fee", "surcharge_fee"})
#: Statuses of payments a mandate's end cancels.
PENDING_PAYMENT_STATUSES = ("pending_submission", "pending_customer_approval")


def stable_int(*parts: Any) -> int:
    """A deterministic pseudo-random integer from any values (no RNG state involved)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def gocardless_fee(amount: int) -> float:
    """1% + 20 minor units, capped at 400, kept to half a minor unit like GoCardless does."""
    return min(round((amount * 0.01 + 20) * 2) / 2, 400.0)


class Context:
    """One organisation's view of the sandbox during one operation (generation or request)."""

    def __init__(
        self,
        store: SandboxStore,
        writer: Writer,
        ids: IdFactory,
        organisation: Organisation,
        creditor: dict[str, Any],
        now_ms: int,
        *,
        runtime: bool,
        emitted_at: dict[int, int] | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.ids = ids
        self.org = organisation
        self.creditor = creditor
        self.now = now_ms
        self.runtime = runtime
        self.ledger = PayoutLedger(self)
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}
        #: mandate id -> id of the event that ended it (parent of the cancellations it causes)
        self.mandate_end_events: dict[str, str] = {}
        #: events stamped per instant, shared across changes at the same simulated time
        self._emitted_at: dict[int, int] = emitted_at if emitted_at is not None else {}

    # -- records ----------------------------------------------------------------------------
    def load(self, resource: str, record_id: str) -> dict[str, Any] | None:
        body = self._cache.get((resource, record_id))
        if body is None:
            body = self.store.get(self.org.id, resource, record_id)
            if body is not None:
                self._cache[(resource, record_id)] = body
        return body

    def save(self, resource: str, body: dict[str, Any], hidden: dict[str, Any] | None = None) -> None:
        if self.runtime:
            self._cache[(resource, body["id"])] = body
        self.writer.put(resource, self.org.id, body, hidden)

    def run(self, resource: str, body: dict[str, Any], plan: Plan, hidden: dict[str, Any] | None = None) -> None:
        """Apply the steps of ``plan`` due by now, schedule the rest, then store the record."""
        for at, kind, params in sorted(plan, key=lambda step: step[0]):
            if at <= self.now:
                try:
                    apply(self, resource, body, kind, at, params)
                except InvalidTransition:
                    continue
            else:
                self.writer.schedule(at, self.org.id, resource, body["id"], kind, params)
        self.save(resource, body, hidden)

    def emit(
        self,
        resource_type: str,
        action: str,
        at: int,
        links: dict[str, str],
        details: dict[str, Any],
        resource_metadata: dict[str, Any] | None,
    ) -> str:
        """Record an event, a few seconds after the change it reports."""
        event_id = self.ids.new("EV")
        if self.runtime:  # same-instant events of one change keep their order (1 ms apart)
            offset = self._emitted_at.get(at, 0)
            self._emitted_at[at] = offset + 1
        else:  # generated history: the event lands a few seconds after the change
            offset = stable_int(event_id) % 5000
        event = {
            "id": event_id,
            "created_at": iso(at + offset),
            "resource_type": resource_type,
            "action": action,
            "links": links,
            "details": details,
            "metadata": {},
            "resource_metadata": resource_metadata or {},
        }
        self.writer.put("events", self.org.id, event)
        return event_id

    def flush(self) -> None:
        self.ledger.flush()
        self.writer.flush()
        self._cache.clear()


def details_for(kind: Kind, scheme: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
    params = params or {}
    origin = params.get("origin", kind.origin)
    cause = params.get("cause", kind.cause)
    details: dict[str, Any] = {
        "origin": origin,
        "cause": cause,
        "description": params.get("description", kind.description),
    }
    if origin == "bank":
        details["scheme"] = scheme
        details["reason_code"] = params.get("reason_code") or catalog.REASON_CODES.get(scheme or "", {}).get(cause, "other")
    if "will_attempt_retry" in params:
        details["will_attempt_retry"] = params["will_attempt_retry"]
        if not params["will_attempt_retry"]:
            details["not_retried_reason"] = "other"
    if "bank_account_id" in params:
        details["bank_account_id"] = params["bank_account_id"]
    return details


def apply(ctx: Context, resource: str, body: dict[str, Any], kind_name: str, at: int, params: dict[str, Any] | None = None) -> str | None:
    """Move ``body`` one step; returns the id of the event recorded (None for silent steps)."""
    kind = KINDS[resource][kind_name]
    if kind.sources is not None and body.get("status") not in kind.sources:
        raise InvalidTransition(f"{resource} {body['id']} is {body.get('status')}, cannot {kind_name}")
    if kind.target:
        body["status"] = kind.target
    links = {RESOURCE_SINGULAR[resource]: body["id"]}
    if params and params.get("parent_event"):
        links["parent_event"] = params["parent_event"]
    payout_id = _money_movement(ctx, resource, body, kind_name, at, params or {})
    if payout_id:
        links["payout"] = payout_id
    if kind.action is None:
        return None
    scheme = body.get("scheme") or (params or {}).get("scheme")
    event_id = ctx.emit(resource, kind.action, at, links, details_for(kind, scheme, params), body.get("metadata"))
    if resource == "mandates" and kind_name in ("cancelled", "expired"):
        ctx.mandate_end_events[body["id"]] = event_id
    if ctx.runtime and resource == "mandates" and kind_name in ("cancelled", "expired", "failed"):
        end_mandate_dependants(ctx, body, at, event_id, kind_name)
    return event_id


def _money_movement(ctx: Context, resource: str, body: dict[str, Any], kind: str, at: int, params: dict[str, Any]) -> str | None:
    """Side effects of a step: payout items, refund creation, dates. Returns a payout id."""
    if resource == "payments":
        amount = body["amount"]
        links = {"payment": body["id"], "mandate": body["links"]["mandate"]}
        fee = gocardless_fee(amount)
        if kind == "paid_out":
            items = [("payment_paid_out", float(amount)), ("gocardless_fee", -fee)]
            if body.get("app_fee"):
                items.append(("app_fee", -float(body["app_fee"])))
            if stable_int(body["id"], "surcharge") % 20 == 0:
                items.append(("surcharge_fee", -5.5))
            payout_id = ctx.ledger.post(body["currency"], at, links, items)
            if stable_int(body["id"], "mandate_fee") % 25 == 0:  # a fee of the mandate, not of this payment
                ctx.ledger.post(body["currency"], at, {"mandate": body["links"]["mandate"]}, [("gocardless_fee", -25.0)])
            body["links"]["payout"] = payout_id
            return payout_id
        if kind == "late_failure_settled":
            return ctx.ledger.post(body["currency"], at, links, [("payment_failed", -float(amount)), ("gocardless_fee", fee)])
        if kind == "chargeback_settled":
            return ctx.ledger.post(body["currency"], at, links, [("payment_charged_back", -float(amount)), ("gocardless_fee", fee)])
        if params.get("charge_date"):  # retries and late approvals move the charge date
            body["charge_date"] = params["charge_date"]
        if kind == "create_refund":
            refundable = amount - body.get("amount_refunded", 0)
            wanted = params.get("amount") or 0
            if wanted <= 0:  # planned refunds: half full, half partial
                roll = stable_int(body["id"], "refund")
                wanted = refundable if roll % 2 else max(1, refundable * (20 + roll % 60) // 100)
            if refundable > 0:
                refund_plan = plan_refund(random.Random(stable_int(body["id"], at)), at)
                create_refund(ctx, body, min(wanted, refundable), at, refund_plan)
    elif resource == "refunds" and kind == "refund_settled":
        links = {"refund": body["id"], "payment": body["links"]["payment"], "mandate": body["links"]["mandate"]}
        return ctx.ledger.post(body["currency"], at, links, [("refund", -float(body["amount"]))])
    elif resource == "subscriptions" and kind == "amended":
        body["amount"] = params["amount"]
    elif resource == "payouts" and kind == "paid":
        body["arrival_date"] = day_str(at)
    return None


def end_mandate_dependants(ctx: Context, mandate: dict[str, Any], at: int, event_id: str, why: str) -> None:
    """A mandate that stops working cancels its subscriptions and not-yet-submitted payments."""
    cause = {"cancelled": "mandate_cancelled", "expired": "mandate_expired", "failed": "mandate_cancelled"}[why]
    params = {"origin": "gocardless", "cause": cause, "parent_event": event_id,
              "description": f"The mandate for this payment was {why}."}
    for resource, statuses in (("subscriptions", ("active", "paused")), ("payments", PENDING_PAYMENT_STATUSES)):
        marks = ",".join("?" * len(statuses))
        rows = ctx.store.conn.execute(
            f"SELECT id FROM {resource} WHERE mandate = ? AND status IN ({marks}) AND removed = 0",
            (mandate["id"], *statuses),
        ).fetchall()
        for (record_id,) in rows:
            body = ctx.load(resource, record_id)
            if body is None or body["status"] not in statuses:
                continue
            sub_params = dict(params, description=f"The mandate for this {RESOURCE_SINGULAR[resource]} was {why}.")
            apply(ctx, resource, body, "cancelled", at, sub_params)
            ctx.writer.cancel_pending(record_id)
            ctx.save(resource, body)


@dataclass
class _PayoutDraft:
    """One day's movements in one currency, posted under the payout id they will be paid in."""

    body: dict[str, Any]
    day: int
    total: float = 0.0
    fees: float = 0.0


class PayoutLedger:
    """Groups money movements into payouts per creditor, currency and day, and never pays out
    a balance that is not positive.

    Items are written as they are posted, under their day's payout id; totals are kept in
    memory (a few thousand days at most). On :meth:`flush` each currency's days are netted in
    order, as GoCardless does: a day whose running balance (what earlier days carried plus its
    own movements) is ≤ 0 creates no payout and carries the balance forward; the next day whose
    running balance is positive gets a payout of that balance (``deducted_fees`` = −Σ fee items,
    negative when settled failures refund fees), and the carried days' items, and the events and
    payments naming their payout id, move to it. A balance still carried after the last day is
    kept in the store (:func:`carried_payouts`) for the clock's next days. A payout once stored
    is closed: later movements of its day go into another payout.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.open: dict[tuple[str, int], _PayoutDraft] = {}

    def post(self, currency: str, at: int, links: dict[str, str], items: list[tuple[str, float]]) -> str:
        key = (currency, day_start(at))
        draft = self.open.get(key) or self._open(currency, key[1], at)
        payout_id = draft.body["id"]
        for item_type, amount in items:
            self.ctx.writer.payout_item(
                self.ctx.org.id, payout_id, {"amount": f"{amount:.1f}", "links": links, "taxes": [], "type": item_type}
            )
            draft.total += amount
            if item_type in FEE_TYPES:
                draft.fees -= amount
        return payout_id

    def _open(self, currency: str, day: int, at: int) -> _PayoutDraft:
        ctx = self.ctx
        payout_id = ctx.ids.new("PO")
        account = ctx.creditor["links"].get(f"default_{currency.lower()}_payout_account")
        # At runtime a payout appears with its first movement, never before the clock got there
        # (an incremental sync by created_at must see it); generated days are posted out of order.
        created_at = at if ctx.runtime else min(at, day + 8 * HOUR)
        body = {
            "id": payout_id,
            "amount": 0,
            "arrival_date": None,
            "created_at": iso(created_at),
            "currency": currency,
            "deducted_fees": 0,
            "fx": {"estimated_exchange_rate": None, "exchange_rate": None, "fx_amount": None, "fx_currency": currency},
            "links": {"creditor": ctx.creditor["id"], "creditor_bank_account": account},
            "metadata": {},
            "payout_type": "merchant",
            "reference": f"{ctx.creditor['bank_reference_prefix']}-{payout_id[-6:]}",
            "status": "pending",
            "tax_currency": None,
        }
        draft = self.open[(currency, day)] = _PayoutDraft(body, day)
        return draft

    def flush(self) -> None:
        if not self.open:
            return
        ctx = self.ctx
        carried_before = carried_payouts(ctx.store, ctx.org.id)
        carried = dict(carried_before)
        settled: dict[str, str] = {}  # carried payout id -> the payout that pays it
        windows: list[int] = []
        payouts = []
        for (currency, _), draft in sorted(self.open.items(), key=lambda entry: entry[0]):
            carry = carried.pop(currency, None) or {"total": 0.0, "fees": 0.0, "parts": []}
            total, fees = carry["total"] + draft.total, carry["fees"] + draft.fees
            if int(round(total)) <= 0:
                carried[currency] = {"total": total, "fees": fees, "parts": [*carry["parts"], [draft.body["id"], draft.day]]}
                continue
            for part_id, part_day in carry["parts"]:
                settled[part_id] = draft.body["id"]
                windows.append(part_day)
            draft.body["amount"] = int(round(total))
            draft.body["deducted_fees"] = int(round(fees))
            payouts.append(draft)
        self.open.clear()
        if settled:
            self._relink(settled, min(windows), max(windows) + DAY + MINUTE)
        for draft in payouts:
            settle_days = 1 if draft.body["currency"] == "GBP" else 2
            paid_at = draft.day + settle_days * DAY + 9 * HOUR + stable_int(draft.body["id"]) % (30 * MINUTE)
            ctx.run("payouts", draft.body, [(paid_at, "paid", None)], {"day": day_str(draft.day)})
        if carried != carried_before:
            ctx.store.set_meta(_carry_key(ctx.org.id), carried)

    def _relink(self, settled: dict[str, str], since: int, until: int) -> None:
        """Point the carried payouts' items, and the events and payments naming them, at the
        payout that pays them (their events were emitted on their own day, within the window)."""
        ctx = self.ctx
        ctx.writer.flush()  # what this operation posted must be in the store to be found
        for old_id, new_id in settled.items():
            ctx.writer.move_payout_items(old_id, new_id)
        marks = ", ".join("?" * len(settled))
        events = ctx.store.select(
            "events",
            "org = ? AND resource_type IN ('payments', 'refunds') AND created_at >= ? AND created_at < ? "
            f"AND json_extract(CAST(body AS TEXT), '$.links.payout') IN ({marks})",
            (ctx.org.id, iso(since), iso(until), *settled),
        )
        for _, event in events:
            event["links"]["payout"] = settled[event["links"]["payout"]]
            ctx.writer.put("events", ctx.org.id, event)
            if event["action"] != "paid_out":
                continue
            payment = ctx.load("payments", event["links"]["payment"])
            if payment is not None and payment["links"].get("payout") in settled:
                payment["links"]["payout"] = settled[payment["links"]["payout"]]
                ctx.save("payments", payment)


def _carry_key(org_id: str) -> str:
    return f"payout_carry:{org_id}"


def carried_payouts(store: SandboxStore, org_id: str) -> dict[str, dict[str, Any]]:
    """The balance an organisation carries forward, per currency: ``{"total", "fees", "parts"}``
    (minor units; ``parts``: ``[payout id, day]`` of the days waiting for a positive payout)."""
    return store.get_meta(_carry_key(org_id), {})


# -- creation -------------------------------------------------------------------------------
def create_mandate(ctx: Context, at: int, bank_account: dict[str, Any], plan: Plan, *, reference: str | None = None, metadata: dict | None = None, payments_require_approval: bool = False) -> dict[str, Any]:
    mandate_id = ctx.ids.new("MD")
    scheme = catalog.SCHEME_BY_CURRENCY[bank_account["currency"]]
    body = {
        "id": mandate_id,
        "authorisation_source": "web" if scheme == "ach" else None,
        "consent_parameters": None,
        "consent_type": None,
        "created_at": iso(at),
        "funds_settlement": "managed",
        "links": {
            "creditor": ctx.creditor["id"],
            "customer": bank_account["links"]["customer"],
            "customer_bank_account": bank_account["id"],
        },
        "mandate_type": "bank_debit",
        "metadata": metadata or {},
        "next_possible_charge_date": day_str(at + 4 * DAY),
        "payments_require_approval": payments_require_approval,
        "reference": reference or f"{ctx.creditor['bank_reference_prefix']}-{mandate_id[-6:]}",
        "scheme": scheme,
        "status": "pending_submission",
        "verified_at": None,
    }
    ctx.emit("mandates", "created", at, {"mandate": mandate_id},
             {"origin": "api", "cause": "mandate_created", "description": "Mandate created via the API."}, body["metadata"])
    ctx.run("mandates", body, plan)
    return body


def create_payment(
    ctx: Context,
    at: int,
    mandate: dict[str, Any],
    *,
    amount: int,
    currency: str,
    charge_date: str,
    plan: Plan,
    status: str = "pending_submission",
    subscription: dict[str, Any] | None = None,
    description: str | None = None,
    reference: str | None = None,
    metadata: dict[str, Any] | None = None,
    app_fee: int | None = None,
    retry_if_possible: bool = True,
) -> dict[str, Any]:
    payment_id = ctx.ids.new("PM")
    links = {"creditor": ctx.creditor["id"], "mandate": mandate["id"]}
    if subscription is not None:
        links["subscription"] = subscription["id"]
    body = {
        "id": payment_id,
        "amount": amount,
        "amount_refunded": 0,
        "app_fee": app_fee,
        "charge_date": charge_date,
        "created_at": iso(at),
        "currency": currency,
        "description": description,
        "faster_ach": False if mandate["scheme"] == "ach" else None,
        "fx": {"estimated_exchange_rate": None, "exchange_rate": None, "fx_amount": None, "fx_currency": None},
        "links": links,
        "metadata": metadata or {},
        "reference": reference,
        "retry_if_possible": retry_if_possible,
        "scheme": mandate["scheme"],
        "status": status,
    }
    if subscription is not None:
        created = {"origin": "gocardless", "cause": "payment_created", "description": "Payment created by a subscription."}
        ctx.emit("subscriptions", "payment_created", at, {"subscription": subscription["id"], "payment": payment_id},
                 created, subscription.get("metadata"))
    else:
        created = {"origin": "api", "cause": "payment_created", "description": "Payment created via the API."}
    ctx.emit("payments", "created", at, {"payment": payment_id}, created, body["metadata"])
    ctx.run("payments", body, plan, {"customer": mandate["links"]["customer"]})
    return body


def create_refund(ctx: Context, payment: dict[str, Any], amount: int, at: int, plan: Plan, *, reference: str | None = None, metadata: dict | None = None) -> dict[str, Any]:
    refund_id = ctx.ids.new("RF")
    payment["amount_refunded"] = payment.get("amount_refunded", 0) + amount
    body = {
        "id": refund_id,
        "amount": amount,
        "created_at": iso(at),
        "currency": payment["currency"],
        "fx": {"estimated_exchange_rate": None, "exchange_rate": None, "fx_amount": None, "fx_currency": None},
        "links": {"mandate": payment["links"]["mandate"], "payment": payment["id"]},
        "metadata": metadata or {},
        "reference": reference,
        "status": "created",
    }
    ctx.emit("refunds", "created", at, {"refund": refund_id, "payment": payment["id"]},
             {"origin": "api", "cause": "refund_created", "description": "The refund has been created."}, body["metadata"])
    ctx.run("refunds", body, plan)
    return body


# -- plans ----------------------------------------------------------------------------------
def _at(day_ms: int, hour: int, rng: random.Random) -> int:
    """A time on a given day at ``hour`` plus up to ten minutes of jitter."""
    return day_ms + hour * HOUR + rng.randrange(1, 600) * SECOND


def charge_lead_days(scheme: str) -> int:
    return {"bacs": 4, "autogiro": 3, "betalingsservice": 5}.get(scheme, 3)


def plan_payment(rng: random.Random, created: int, charge_date: str, scheme: str, *, one_off: bool, happy: bool = False) -> tuple[str, Plan]:
    """Initial status and the steps of a payment's life (failures only unless ``happy``)."""
    plan: Plan = []
    status = "pending_submission"
    chance = (lambda p: False) if happy else (lambda p: rng.random() < p)
    t = created
    if one_off and chance(0.04):
        status = "pending_customer_approval"
        t = created + rng.randrange(1, 7 * 24) * HOUR
        if chance(0.25):
            return status, [(t, "customer_approval_denied", None)]
    charge = from_date(charge_date)
    if status == "pending_customer_approval":
        moved = None
        if t + HOUR > charge - DAY:
            charge = day_start(t) + 2 * DAY
            moved = {"charge_date": day_str(charge)}
        plan.append((t, "customer_approval_granted", moved))
    if chance(0.02):
        plan.append((t + rng.randrange(20, 600) * MINUTE, "cancelled", None))
        return status, plan
    for attempt in range(2):
        plan.append((max(_at(charge - DAY, 14, rng), t + HOUR), "submitted", None))
        if chance(0.04 if attempt == 0 else 0.25):
            cause, description = rng.choice(catalog.FAILURE_CAUSES)
            retry = attempt == 0 and rng.random() < 0.5
            failed_at = _at(charge + DAY, 11, rng)
            plan.append((failed_at, "failed", {"cause": cause, "description": description, "will_attempt_retry": retry}))
            if not retry:
                return status, plan
            charge += 7 * DAY
            t = failed_at
            plan.append((_at(day_start(failed_at) + 2 * DAY, 6, rng), "resubmission_requested", {"charge_date": day_str(charge)}))
            continue
        plan.append((_at(charge, 10, rng), "confirmed", None))
        paid_out = _at(charge + 2 * DAY, 8, rng)
        plan.append((paid_out, "paid_out", None))
        if chance(0.008):
            failed_at = _at(day_start(paid_out) + rng.randrange(1, 5) * DAY, 11, rng)
            plan.append((failed_at, "late_failure", {"will_attempt_retry": False}))
            plan.append((_at(day_start(failed_at) + DAY, 8, rng), "late_failure_settled", None))
        elif chance(0.008):
            charged_back = _at(day_start(paid_out) + rng.randrange(7, 90) * DAY, 13, rng)
            plan.append((charged_back, "charged_back", None))
            plan.append((_at(day_start(charged_back) + 2 * DAY, 8, rng), "chargeback_settled", None))
        elif chance(0.03):
            refund_at = _at(day_start(paid_out) + rng.randrange(1, 20) * DAY, 15, rng)
            plan.append((refund_at, "create_refund", None))  # amount picked when applied
        return status, plan
    return status, plan


def plan_refund(rng: random.Random, created: int, *, happy: bool = False) -> Plan:
    plan: Plan = [(created + rng.randrange(1, 10) * MINUTE, "pending_submission", None)]
    if not happy and rng.random() < 0.02:
        return plan + [(created + rng.randrange(20, 90) * MINUTE, "cancelled", None)]
    submitted = _at(day_start(created) + DAY, 14, rng)
    paid = _at(day_start(submitted) + DAY, 10, rng)
    plan += [(submitted, "submitted", None), (paid, "paid", None), (_at(day_start(paid) + DAY, 8, rng), "refund_settled", None)]
    roll = 1.0 if happy else rng.random()
    if roll < 0.03:
        plan.append((_at(day_start(paid) + 3 * DAY, 12, rng), "bounced", None))
    elif roll < 0.05:
        plan.append((_at(day_start(paid) + 4 * DAY, 12, rng), "funds_returned", None))
    return plan


def plan_mandate(rng: random.Random, created: int, *, happy: bool = False) -> tuple[Plan, int | None, int | None]:
    """Steps of a mandate's life and its usable window ``(active_from, active_until)``."""
    submitted = created + rng.randrange(6, 30) * HOUR
    plan: Plan = [(submitted, "submitted", None)]
    if not happy and rng.random() < 0.04:
        failed = _at(day_start(submitted) + rng.randrange(1, 3) * DAY, 11, rng)
        cause = rng.choice(("invalid_bank_details", "bank_account_closed"))
        plan.append((failed, "failed", {"cause": cause}))
        if rng.random() < 0.5:
            return plan, None, None
        resubmit = failed + 2 * DAY
        submitted = resubmit + rng.randrange(6, 30) * HOUR
        plan += [(resubmit, "resubmission_requested", None), (submitted, "submitted", None)]
    active = _at(day_start(submitted) + 2 * DAY, 9, rng)
    plan.append((active, "active", None))
    until = None
    roll = 1.0 if happy else rng.random()
    if roll < 0.08:
        until = active + rng.randrange(10, 540) * DAY + rng.randrange(0, DAY)
        by_bank = rng.random() < 0.3
        params = {"origin": "bank", "cause": "bank_account_closed", "description": "The customer's bank account was closed."} if by_bank else None
        plan.append((until, "cancelled", params))
        if rng.random() < 0.35:
            plan.append((until + rng.randrange(3, 30) * DAY, "reinstated", None))
    elif roll < 0.10:
        until = active + rng.randrange(300, 540) * DAY
        plan.append((until, "expired", None))
    return plan, active, until


# -- subscriptions ----------------------------------------------------------------------------
def subscription_charge_date(subscription: dict[str, Any], index: int) -> date:
    start = date.fromisoformat(subscription["start_date"])
    interval = subscription["interval"]
    unit = subscription["interval_unit"]
    if unit == "weekly":
        return start + timedelta(weeks=interval * index)
    months = interval * index * (12 if unit == "yearly" else 1)
    return add_months(start, months, subscription.get("day_of_month"))


def payment_creation_time(charge: date, not_before: int, rng: random.Random) -> int:
    """Subscription payments are created five days before their charge date."""
    return max(_at(from_date(charge) - 5 * DAY, 3, rng), not_before + MINUTE)


def upcoming_payments(subscription: dict[str, Any], next_index: int) -> list[dict[str, Any]]:
    if subscription["status"] != "active":
        return []
    count = subscription.get("count")
    last = next_index + 10 if count is None else min(count, next_index + 10)
    return [
        {"amount": subscription["amount"], "charge_date": subscription_charge_date(subscription, i).isoformat()}
        for i in range(next_index, last)
    ]
