"""Match a period's events with the warehouse and apply their actions: pure, no I/O.

Input: the period's GoCardless events (and the records the API side-loaded with them), and the
warehouse state they touch. Output: the gateway events, the log of changes, the external
refunds and the new states to write. Events are applied oldest first, so several events on one
payment in one day end in the right state.

Reruns must change nothing, and the order in which days are reconciled must not matter:

* every change an event asks for is logged, also when the field already had the value, and a
  rerun keeps the ``before`` (and ``superseded_by``) the first run logged;
* a transaction's ``gateway_state`` and ``settled_on`` are a *replay* (:func:`replay`) of every
  logged change of every period, oldest event first, not the result of applying one period on
  top of whatever state the warehouse holds: a submission event only moves a payment that has
  not settled or failed *at that event's time*, and the earliest settlement date wins, whichever
  day was reconciled first. A change a later period's event overrides names it in ``superseded_by``;
* a payment method's status is the newest event's (a field that an event of a *later* period
  changed is left alone), so catching up an old day never undoes a newer state.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from gocardless_commerce.client.timestamps import parse_naive_utc
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.model.money import minor_to_major
from gocardless_commerce.reconciliation import mapping
from gocardless_commerce.reconciliation.mapping import Action, GatewayState

GATEWAY_STATE, SETTLED_ON, STATUS, EXTERNAL_REFUND = "gateway_state", "settled_on", "status", "external_refund"
#: Singular GoCardless object of each reconciled resource type (as in commerce ids).
SINGULAR = {"payments": "payment", "refunds": "refund", "mandates": "mandate"}


@dataclass
class Transaction:
    """A commerce transaction as far as the reconciliation is concerned."""

    id: str
    source_id: str
    amount: Decimal
    currency: str
    gateway_state: str | None = None
    settled_on: date | None = None


@dataclass
class PaymentMethod:
    """One mandate's payment method (``commerce.payment_methods``)."""

    id: str
    source_id: str
    status: str
    updated_at: datetime
    reason: str | None = None
    scheme: str | None = None
    customer_id: str | None = None
    source_status: str | None = None
    source_created_at: datetime | None = None

    @classmethod
    def from_mandate(cls, data_connection_id: str, mandate: dict[str, Any], updated_at: datetime) -> PaymentMethod:
        status = mandate.get("status")
        return cls(
            id=commerce_id(data_connection_id, "mandate", mandate["id"]),
            source_id=mandate["id"],
            status=mapping.payment_method_status(status),
            updated_at=updated_at,
            reason=f"mandate {status}" if status else None,
            scheme=mandate.get("scheme"),
            customer_id=(mandate.get("links") or {}).get("customer"),
            source_status=status,
            source_created_at=parse_naive_utc(mandate["created_at"]) if mandate.get("created_at") else None,
        )


@dataclass(frozen=True)
class LogEntry:
    event_id: str
    related_object_id: str
    change: str
    gateway_event: str
    related_object_type: str
    related_gocardless_id: str
    before: str | None
    after: str | None
    event_time: datetime
    created_object_id: str | None = None
    superseded_by: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.event_id, self.related_object_id, self.change


@dataclass
class WarehouseState:
    """What the period's events touch, read from the warehouse before applying them."""

    transactions: dict[str, Transaction] = field(default_factory=dict)  # by commerce id
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)  # by mandate id
    previous_log: dict[tuple[str, str, str], LogEntry] = field(default_factory=dict)  # this period, earlier run
    #: (payment method id, change) → newest (event time, event id) of a later period that set it
    later_changes: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)
    #: transaction id → its gateway_state/settled_on log entries of every *other* period
    other_periods: dict[str, list[LogEntry]] = field(default_factory=dict)


@dataclass(frozen=True)
class Merchant:
    user_id: str
    data_connection_id: str
    job_number: int


@dataclass(frozen=True)
class Options:
    reversal_refunds: bool = True
    reason_code: str = mapping.PAYMENT_REVERSAL


@dataclass
class Outcome:
    gateway_events: list[dict[str, Any]]
    log: list[LogEntry]
    external_refunds: list[dict[str, Any]]
    transactions: list[Transaction]  # changed ones, final state
    payment_methods: list[PaymentMethod]  # new or changed ones, final state

    def summary(self) -> dict[str, Any]:
        """The merchant's daily summary (counts, and amounts per currency, major units)."""
        amounts: dict[str, defaultdict[str, Decimal]] = {
            name: defaultdict(Decimal) for name in ("settled", "refunds_settled", "rejected", "reversed")
        }
        bucket = {
            ("Payment", "TransactionSettled"): "settled", ("Refund", "TransactionSettled"): "refunds_settled",
            ("Payment", "TransactionRejected"): "rejected", ("Payment", "TransactionReversed"): "reversed",
        }
        counted = set()  # a refund paid and settled the same day counts once
        for event in self.gateway_events:
            name = bucket.get((event["object"], event["gateway_event"]))
            if name and event["amount"] is not None and (name, event["related_gocardless_id"]) not in counted:
                counted.add((name, event["related_gocardless_id"]))
                amounts[name][event["currency"]] += event["amount"]
        return {
            "events_total": len(self.gateway_events),
            "events_matched": sum(1 for e in self.gateway_events if e["matched"]),
            "events_unmatched": sum(1 for e in self.gateway_events if needs_attention(e)),
            "events_by_gateway_event": dict(sorted(Counter(e["gateway_event"] for e in self.gateway_events).items())),
            **{
                f"{name}_amounts": {currency: f"{total:.2f}" for currency, total in sorted(totals.items())}
                for name, totals in amounts.items()
            },
            "external_refunds": len(self.external_refunds),
            "payment_methods_changed": sum(
                1 for e in self.log if e.change == STATUS and e.before != e.after and not e.superseded_by
            ),
        }


def needs_attention(gateway_event: dict[str, Any]) -> bool:
    """An event that should have acted on the warehouse but matched nothing."""
    return not gateway_event["matched"] and gateway_event["gateway_event"] != mapping.UNKNOWN


EventKey = tuple[datetime, str]  # (event time, event id): the order changes are replayed in


@dataclass(frozen=True)
class Replayed:
    """A transaction's reconciled fields after replaying its changes, and which event set each."""

    gateway_state: str | None = None
    settled_on: date | None = None
    set_by: dict[str, EventKey] = field(default_factory=dict)


def replay(entries: list[LogEntry]) -> Replayed:
    """Fold a transaction's logged changes, oldest event first, from the unreconciled state.

    A settlement (an event that logged ``settled_on``) makes it ``Settled`` on the event's day,
    unless it was already settled on or before that day; a submission state (``NotSubmitted``,
    ``Submitted``) applies only while the payment has not settled or failed; any other
    ``gateway_state`` applies as logged. The result depends only on the set of entries.
    """
    by_event: dict[EventKey, dict[str, str | None]] = defaultdict(dict)
    for entry in entries:
        by_event[(entry.event_time, entry.event_id)][entry.change] = entry.after
    state: str | None = None
    settled_on: date | None = None
    set_by: dict[str, EventKey] = {}
    for key in sorted(by_event):
        changes = by_event[key]
        if SETTLED_ON in changes:
            day = key[0].date()
            if not (state == GatewayState.SETTLED and settled_on is not None and settled_on <= day):
                settled_on, set_by[SETTLED_ON] = day, key
            new = GatewayState.SETTLED.value
        elif GATEWAY_STATE in changes:
            new = changes[GATEWAY_STATE]
            if new in mapping.SUBMISSION_STATE_VALUES and state not in mapping.PRE_SETTLEMENT_STATES:
                continue
        else:
            continue
        if new != state:
            state, set_by[GATEWAY_STATE] = new, key
    return Replayed(state, settled_on, set_by)


def related_id(event: dict[str, Any]) -> str | None:
    """The GoCardless id the event is about (``links.payment`` for a payment event…)."""
    links = event.get("links") or {}
    singular = event["resource_type"].removesuffix("s")
    return links.get(singular) or next((v for v in links.values() if isinstance(v, str)), None)


def reconcile(
    events: list[dict[str, Any]],
    linked: dict[str, dict[str, dict[str, Any]]],
    merchant: Merchant,
    state: WarehouseState,
    options: Options = Options(),
) -> Outcome:
    """Turn the period's events into gateway events, match them, and apply their actions.

    ``linked`` holds the records side-loaded with the events, by resource type and id
    (``linked["mandates"]["MD1"]``); a mandate missing from the warehouse becomes a payment
    method from there. ``state`` is not modified.
    """
    run = _Run(merchant, state, linked, options)
    for event in sorted(events, key=lambda e: (e["created_at"], e["id"])):
        run.process(event)
    return run.outcome()


class _Run:
    """The changes of one merchant's period, applied to a private copy of the state."""

    def __init__(self, merchant: Merchant, state: WarehouseState, linked: dict, options: Options) -> None:
        self.merchant = merchant
        self.state = state
        self.linked = linked
        self.options = options
        self.transactions = {k: replace(v) for k, v in state.transactions.items()}
        self.payment_methods = {k: replace(v) for k, v in state.payment_methods.items()}
        self.created_payment_methods: set[str] = set()
        self.transaction_log: dict[str, list[LogEntry]] = defaultdict(list)  # this period's, by transaction
        self.gateway_events: list[dict[str, Any]] = []
        self.log: list[LogEntry] = []
        self.external_refunds: list[dict[str, Any]] = []

    # -- one event ------------------------------------------------------------------------------
    def process(self, event: dict[str, Any]) -> None:
        resource_type, action = event["resource_type"], event["action"]
        rule = mapping.rule_for(resource_type, action)
        details = event.get("details") or {}
        row = {
            "data_connection_id": self.merchant.data_connection_id,
            "event_id": event["id"],
            "user_id": self.merchant.user_id,
            "job_number": self.merchant.job_number,
            "object": mapping.object_name(resource_type),
            "gocardless_action": action,
            "gateway_event": rule.gateway_event,
            "action": rule.action.value,
            "event_time": parse_naive_utc(event["created_at"]),
            "amount": None,
            "currency": None,
            "related_gocardless_id": related_id(event),
            "matched": False,
            "matched_transaction_id": None,
            "matched_payment_method_id": None,
            "unmatched_reason": None,
            "outcome": None,
            "reason_code": details.get("reason_code"),
            "cause": details.get("cause"),
            "raw_event": event,
        }
        if resource_type in ("payments", "refunds"):
            self._transaction_event(event, rule, row)
        elif resource_type == "mandates":
            self._mandate_event(event, rule, row)
        else:
            row["unmatched_reason"] = f"no transaction or payment method for {resource_type} events"
            row["outcome"] = "no action"
        self.gateway_events.append(row)

    def _transaction_event(self, event: dict, rule: mapping.Rule, row: dict) -> None:
        resource_type = event["resource_type"]
        source_id = row["related_gocardless_id"]
        record = self.linked.get(resource_type, {}).get(source_id) or {}
        transaction = self.transactions.get(commerce_id(self.merchant.data_connection_id, SINGULAR[resource_type], source_id or ""))
        if transaction is None:
            row["amount"], row["currency"] = minor_to_major(record.get("amount")), record.get("currency")
            row["unmatched_reason"] = f"{SINGULAR[resource_type]} transaction not in warehouse"
            row["outcome"] = "no action (unmatched)"
            return
        row.update(matched=True, matched_transaction_id=transaction.id, amount=transaction.amount, currency=transaction.currency)
        if rule.action is Action.SETTLE:
            row["outcome"] = self._settle(event, rule, transaction, row["event_time"])
        elif rule.action is Action.FAIL_TO_SETTLE:
            row["outcome"] = self._set_gateway_state(event, rule, transaction, GatewayState.FAILED_TO_SETTLE)
        elif rule.action is Action.EXTERNAL_REFUND:
            row["outcome"] = self._external_refund(event, rule, transaction, row["event_time"])
        elif (tracked := mapping.submission_state(resource_type, event["action"])) is not None:
            row["outcome"] = self._track_submission(event, rule, transaction, tracked)
        else:
            row["outcome"] = "no action"

    def _mandate_event(self, event: dict, rule: mapping.Rule, row: dict) -> None:
        payment_method = self._payment_method(row["related_gocardless_id"], row["event_time"])
        if payment_method is None:
            row["unmatched_reason"] = "payment method not in warehouse and mandate not returned by the API"
            row["outcome"] = "no action (unmatched)"
            return
        row.update(matched=True, matched_payment_method_id=payment_method.id)
        if rule.action in (Action.CLOSE_PAYMENT_METHOD, Action.REACTIVATE_PAYMENT_METHOD):
            status = mapping.CLOSED if rule.action is Action.CLOSE_PAYMENT_METHOD else mapping.ACTIVE
            row["outcome"] = self._set_payment_method_status(event, rule, payment_method, status, row["event_time"])
        else:
            row["outcome"] = "no action"

    def _payment_method(self, mandate_id: str | None, at: datetime) -> PaymentMethod | None:
        """The mandate's payment method; created from the API's mandate when the warehouse has none."""
        if mandate_id in self.payment_methods:
            return self.payment_methods[mandate_id]
        mandate = self.linked.get("mandates", {}).get(mandate_id or "")
        if mandate is None:
            return None
        method = PaymentMethod.from_mandate(self.merchant.data_connection_id, mandate, at)
        self.payment_methods[mandate_id] = method
        self.created_payment_methods.add(mandate_id)
        return method

    # -- actions --------------------------------------------------------------------------------
    def _settle(self, event: dict, rule: mapping.Rule, transaction: Transaction, at: datetime) -> str:
        """``Settled``, and ``settled_on`` the event's date (an earlier settlement date stays)."""
        day = at.date()
        before = self._replayed_before(transaction, event)
        already = before.gateway_state == GatewayState.SETTLED and before.settled_on and before.settled_on <= day
        settled_on = before.settled_on if already else day
        outcome = self._set_gateway_state(event, rule, transaction, GatewayState.SETTLED)
        self._log_transaction_change(event, rule, transaction, SETTLED_ON, _text(before.settled_on), _text(settled_on))
        return f"{outcome}, settled_on {settled_on.isoformat()}"

    def _set_gateway_state(self, event: dict, rule: mapping.Rule, transaction: Transaction, state: GatewayState) -> str:
        before = self._replayed_before(transaction, event).gateway_state
        superseded_by = self._log_transaction_change(event, rule, transaction, GATEWAY_STATE, before, state.value)
        return f"gateway_state {state.value}" + _superseded(superseded_by)

    def _track_submission(self, event: dict, rule: mapping.Rule, transaction: Transaction, state: GatewayState) -> str:
        """Before it settles, a payment's gateway state follows its submission (no gateway event):
        judged on the state at the event's time, whichever days were reconciled before."""
        before = self._replayed_before(transaction, event).gateway_state
        if before not in mapping.PRE_SETTLEMENT_STATES:
            return f"no action (gateway_state already {before})"
        return self._set_gateway_state(event, rule, transaction, state)

    def _entries(self, transaction: Transaction) -> list[LogEntry]:
        return [*self.state.other_periods.get(transaction.id, ()), *self.transaction_log[transaction.id]]

    def _replayed_before(self, transaction: Transaction, event: dict) -> Replayed:
        """The transaction's reconciled fields just before ``event``, from every period's changes."""
        key = (parse_naive_utc(event["created_at"]), event["id"])
        return replay([e for e in self._entries(transaction) if (e.event_time, e.event_id) < key])

    def _log_transaction_change(self, event: dict, rule: mapping.Rule, transaction: Transaction, change: str,
                                before: str | None, after: str | None) -> str | None:
        """Log one change of a transaction's field; returns the later period's event that
        overrides it (``superseded_by``). The fields themselves are replayed in :meth:`outcome`."""
        at = parse_naive_utc(event["created_at"])
        entry = LogEntry(event["id"], transaction.id, change, rule.gateway_event, "Transaction", transaction.source_id,
                         before, after, at)
        self.transaction_log[transaction.id].append(entry)
        setter = replay(self._entries(transaction)).set_by.get(change)
        superseded_by = setter[1] if setter is not None and setter > (at, event["id"]) else None
        previous = self.state.previous_log.get(entry.key)
        if previous is not None:
            entry = replace(entry, before=previous.before, superseded_by=previous.superseded_by)
        else:
            entry = replace(entry, superseded_by=superseded_by)
        self.log.append(entry)
        return entry.superseded_by

    def _set_payment_method_status(self, event: dict, rule: mapping.Rule, method: PaymentMethod, status: str, at: datetime) -> str:
        before = None if method.source_id in self.created_payment_methods else method.status
        cause = (event.get("details") or {}).get("cause") or event["action"]

        def apply() -> None:
            method.status, method.reason, method.updated_at = status, f"{rule.gateway_event} ({cause})", at

        superseded_by = self._change(event, rule, ("PaymentMethod", method.id, method.source_id), STATUS, before, status, apply)
        self.created_payment_methods.discard(method.source_id)
        return f"payment method {status}" + _superseded(superseded_by)

    def _external_refund(self, event: dict, rule: mapping.Rule, transaction: Transaction, at: datetime) -> str:
        if not self.options.reversal_refunds:
            return "no action (reversal refunds are switched off)"
        refund_id = commerce_id(self.merchant.data_connection_id, "external_refund", event["id"])
        self.external_refunds.append({
            "id": refund_id,
            "data_connection_id": self.merchant.data_connection_id,
            "user_id": self.merchant.user_id,
            "job_number": self.merchant.job_number,
            "event_id": event["id"],
            "payment_transaction_id": transaction.id,
            "payment_gocardless_id": transaction.source_id,
            "amount": transaction.amount,
            "currency": transaction.currency,
            "reason_code": self.options.reason_code,
            "created_at": at,
        })
        description = f"{transaction.amount:.2f} {transaction.currency} {self.options.reason_code}"
        self.log.append(LogEntry(
            event["id"], transaction.id, EXTERNAL_REFUND, rule.gateway_event, "Transaction", transaction.source_id,
            None, description, at, created_object_id=refund_id,
        ))
        return f"external refund {description}"

    # -- bookkeeping ----------------------------------------------------------------------------
    def _change(self, event: dict, rule: mapping.Rule, target: tuple[str, str, str], change: str,
                current: str | None, new: str | None, apply) -> str | None:
        """Apply one field change unless a later period's event set the field; log it either way.

        ``target`` is (object type, object id, GoCardless id). Every evaluated change is logged
        (``before`` = ``after`` when the field already had the value), so a rerun finds the first
        run's row and keeps its ``before`` and ``superseded_by``. Returns ``superseded_by``.
        """
        object_type, object_id, source_id = target
        at = parse_naive_utc(event["created_at"])
        later = self.state.later_changes.get((object_id, change))
        superseded = later is not None and later > (at, event["id"])
        if not superseded:
            apply()
        previous = self.state.previous_log.get((event["id"], object_id, change))
        if previous is not None:
            before, superseded_by = previous.before, previous.superseded_by
        else:
            before, superseded_by = current, later[1] if superseded else None
        self.log.append(LogEntry(
            event["id"], object_id, change, rule.gateway_event, object_type, source_id, before, new, at,
            superseded_by=superseded_by,
        ))
        return superseded_by

    def outcome(self) -> Outcome:
        for transaction_id, entries in self.transaction_log.items():
            replayed = replay([*self.state.other_periods.get(transaction_id, ()), *entries])
            transaction = self.transactions[transaction_id]
            transaction.gateway_state, transaction.settled_on = replayed.gateway_state, replayed.settled_on
        changed_transactions = [
            t for k, t in self.transactions.items()
            if (t.gateway_state, t.settled_on) != (self.state.transactions[k].gateway_state, self.state.transactions[k].settled_on)
        ]
        changed_methods = [m for k, m in self.payment_methods.items() if self.state.payment_methods.get(k) != m]
        return Outcome(self.gateway_events, self.log, self.external_refunds, changed_transactions, changed_methods)


def _superseded(by: str | None) -> str:
    return f" (superseded by the later event {by})" if by else ""


def _text(value: date | None) -> str | None:
    return value.isoformat() if value else None
