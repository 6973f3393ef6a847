"""Monthly insights per merchant, data connection and currency, with no missing months.

Pure functions over the commerce tables (the same rows the warehouse holds), so the numbers
an analyst reads can be recomputed from ``commerce.transactions`` / ``commerce.subscriptions``
and the raw subscription events. Every definition is in ``docs/metrics.md``.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd

from gocardless_commerce.model import mapping, schema
from gocardless_commerce.model.frames import RawFrames, as_timestamp, to_date
from gocardless_commerce.model.lookups import build_lookups
from gocardless_commerce.model.money import CENTS, RATE_PLACES, monthly_amount, round_half_up, round_ratio_half_up
from gocardless_commerce.model.subscriptions import StatusHistory, status_history

ZERO = Decimal("0.00")

#: The columns of ``commerce.transactions`` / ``commerce.subscriptions`` the insights read (a
#: stage reads only these of its staged rows).
TRANSACTION_COLUMNS_USED = ("user_id", "data_connection_id", "currency", "type", "status", "source_type", "amount",
                            "fee_amount", "value_date")
SUBSCRIPTION_COLUMNS_USED = ("user_id", "data_connection_id", "currency", "source_id", "customer_id", "mandate_id",
                             "amount", "frequency_unit", "frequency_interval", "start_date", "source_created_at",
                             "source_status", "ended_at")

#: Payment statuses counted as having reached submission (``failure_rate``'s denominator),
#: plus ``customer_approval_denied``, which the numerator counts, so the rate stays in [0, 1].
ATTEMPTED_PAYMENT_STATUSES = frozenset(
    {"submitted", "confirmed", "paid_out", "failed", "charged_back", "customer_approval_denied"}
)
FAILED_PAYMENT_STATUSES = frozenset({"failed", "customer_approval_denied"})
COLLECTED = frozenset({mapping.SUCCESS, mapping.SUCCESS_REFUND})


# --------------------------------------------------------------------------- months


def month_start(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_window(now: datetime, history_months: int) -> list[date]:
    """The ``history_months`` months ending with the current one (first days, oldest first)."""
    current = month_start(now)
    return [add_months(current, -offset) for offset in range(max(history_months, 1) - 1, -1, -1)]


def _utc_naive(now: datetime) -> datetime:
    moment = as_timestamp(now)
    if moment is None:
        raise ValueError(f"now must be a datetime, got {now!r}")
    return moment


def _ratio(numerator, denominator) -> Decimal | None:
    return round_half_up(Fraction(numerator) / Fraction(denominator), RATE_PLACES) if denominator else None


# --------------------------------------------------------------------------- transactions


@dataclass
class _TransactionMonth:
    payments_amount: Decimal = ZERO
    payments_nb: int = 0
    payouts_amount: Decimal = ZERO
    payouts_nb: int = 0
    refunds_amount: Decimal = ZERO
    refunds_nb: int = 0
    failed_nb: int = 0
    attempted_nb: int = 0
    chargebacks_nb: int = 0
    fees_amount: Decimal = ZERO

    def add(self, kind: str, status: str | None, source_status: str | None, amount, fee_amount) -> None:
        amount = amount if isinstance(amount, Decimal) else None
        fee_amount = fee_amount if isinstance(fee_amount, Decimal) else None
        if kind == mapping.PAYMENT:
            if status in COLLECTED and amount is not None:
                self.payments_amount += amount
                self.payments_nb += 1
                self.fees_amount += fee_amount or 0
            self.attempted_nb += source_status in ATTEMPTED_PAYMENT_STATUSES
            self.failed_nb += source_status in FAILED_PAYMENT_STATUSES
            self.chargebacks_nb += source_status == "charged_back"
        elif kind == mapping.PAYOUT and status == mapping.SUCCESS and amount is not None:
            self.payouts_amount += amount
            self.payouts_nb += 1
        elif kind == mapping.PAYMENT_REFUND and status == mapping.SUCCESS and amount is not None:
            self.refunds_amount += amount
            self.refunds_nb += 1
        elif kind == mapping.FEE and status in (mapping.PENDING, mapping.SUCCESS) and amount is not None:
            self.fees_amount += amount


def transactions_insight(
    transactions: pd.DataFrame | Iterable[pd.DataFrame], *, now: datetime, history_months: int = 12,
    only_months: Iterable[date] | None = None, currencies: Mapping[tuple[str, str], Iterable[str]] | None = None,
) -> pd.DataFrame:
    """``commerce.transactions_insight`` rows for every (user, data connection, currency, month).

    A (user, data connection) gets rows for every currency it has any transaction in, for each
    month of :func:`month_window`, zeros included. Movements count in the month of
    ``value_date``. ``transactions`` may come in chunks (any split gives the same result):
    the monthly cells are sums, so a merchant's history never has to be in memory at once.

    The incremental model recomputes some months only: ``only_months`` limits the rows
    returned (``transactions`` must then hold every transaction of those months and of the
    months before them), and ``currencies`` gives each (user, data connection)'s currencies,
    which those transactions alone may not show.
    """
    now = _utc_naive(now)
    months = month_window(now, history_months)
    first, last = add_months(months[0], -1), months[-1]  # one month before: MoM growth
    currencies = defaultdict(set, {key: set(values) for key, values in (currencies or {}).items()})
    if only_months is not None:
        wanted = set(only_months)
        months = [month for month in months if month in wanted]
    cells: dict[tuple, _TransactionMonth] = defaultdict(_TransactionMonth)
    chunks = [transactions] if isinstance(transactions, pd.DataFrame) else transactions
    rows_of_chunks = (zip(*(chunk[c] for c in TRANSACTION_COLUMNS_USED), strict=True) for chunk in chunks)
    # a million rows hold a few hundred distinct days and a dozen source types: each is read once
    month_of: dict = {}
    status_of: dict = {}
    for user, dc, currency, kind, status, source_type, amount, fee, value_date in itertools.chain.from_iterable(rows_of_chunks):
        if not isinstance(currency, str) or not currency:
            continue
        currencies[(user, dc)].add(currency)
        if value_date not in month_of:
            day = to_date(value_date)
            month_of[value_date] = month_start(day) if day is not None and first <= month_start(day) <= last else None
        month = month_of[value_date]
        if month is None:
            continue
        if source_type not in status_of:
            status_of[source_type] = (source_type.split(":", 1)[1]
                                      if isinstance(source_type, str) and ":" in source_type else None)
        cells[(user, dc, currency, month)].add(kind, status, status_of[source_type], amount, fee)

    rows: dict[str, list] = defaultdict(list)
    for (user, dc) in sorted(currencies):
        for month in months:
            for currency in sorted(currencies[(user, dc)]):
                cell = cells.get((user, dc, currency, month), _TransactionMonth())
                previous = cells.get((user, dc, currency, add_months(month, -1)), _TransactionMonth())
                _append(rows, user_id=user, data_connection_id=dc, month=month, currency=currency,
                        **_transaction_metrics(cell, previous))
    return schema.frame(rows, schema.TRANSACTIONS_INSIGHT)


def _transaction_metrics(cell: _TransactionMonth, previous: _TransactionMonth) -> dict:
    payments = round_half_up(cell.payments_amount, CENTS)
    refunds = round_half_up(cell.refunds_amount, CENTS)
    fees = round_half_up(cell.fees_amount, CENTS)
    previous_payments = round_half_up(previous.payments_amount, CENTS)
    return {
        "payments_amount": payments,
        "payments_nb": cell.payments_nb,
        "shopping_cart_average": round_half_up(Fraction(payments) / cell.payments_nb, CENTS) if cell.payments_nb else None,
        "payouts_amount": round_half_up(cell.payouts_amount, CENTS),
        "payouts_nb": cell.payouts_nb,
        "refunds_amount": refunds,
        "refunds_nb": cell.refunds_nb,
        "failed_nb": cell.failed_nb,
        "failure_rate": _ratio(cell.failed_nb, cell.attempted_nb),
        "chargebacks_nb": cell.chargebacks_nb,
        "chargeback_rate": _ratio(cell.chargebacks_nb, cell.payments_nb + cell.chargebacks_nb),
        "fees_amount": fees,
        "net_amount": payments - refunds - fees,
        "payments_amount_mom_growth": _ratio(payments - previous_payments, previous_payments),
    }


def _append(rows: dict[str, list], **values) -> None:
    for name, value in values.items():
        rows[name].append(value)


# --------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class _Subscription:
    customer: str
    monthly: Fraction  # before its first amount change (its current one when never amended)
    history: StatusHistory
    amendments: tuple[tuple[datetime, Fraction], ...] = ()  # (from when, monthly amount), oldest first

    def amounts(self) -> tuple[Fraction, ...]:
        """Every monthly amount it has had."""
        return (self.monthly, *(after for _, after in self.amendments))

    def monthly_at(self, moment: datetime) -> Fraction:
        """The normalised amount in force at ``moment`` (amendments up to it applied)."""
        monthly = self.monthly
        for changed_at, after in self.amendments:
            if changed_at > moment:
                break
            monthly = after
        return monthly


@dataclass
class _Movements:
    new: Decimal = ZERO
    expansion: Decimal = ZERO
    contraction: Decimal = ZERO
    churned: Decimal = ZERO
    reactivation: Decimal = ZERO
    churned_customers: int = 0


@dataclass
class _CustomerLedger:
    """Per-customer MRR at the previous month end, and who has ever paid (for reactivation)."""

    previous: dict[str, Decimal] = field(default_factory=dict)
    ever_paying: set[str] = field(default_factory=set)

    def close_month(self, current: dict[str, Decimal]) -> _Movements:
        moves = _Movements()
        for customer in sorted(self.previous.keys() | current.keys()):
            before, after = self.previous.get(customer, ZERO), current.get(customer, ZERO)
            if before == 0 and after > 0:
                if customer in self.ever_paying:
                    moves.reactivation += after
                else:
                    moves.new += after
            elif before > 0 and after == 0:
                moves.churned += before
                moves.churned_customers += 1
            elif after > before:
                moves.expansion += after - before
            elif after < before:
                moves.contraction += before - after
        self.ever_paying |= {c for c, v in current.items() if v > 0}
        self.previous = current
        return moves


def subscriptions_insight(
    subscriptions: pd.DataFrame,
    subscription_events: pd.DataFrame,
    *,
    now: datetime,
    history_months: int = 12,
    amount_changes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``commerce.subscriptions_insight`` rows for every (user, data connection, currency, month).

    ``subscriptions`` is ``commerce.subscriptions``; ``subscription_events`` the raw events
    frame (rows of other resource types are ignored); ``amount_changes`` the amendments
    (:func:`~gocardless_commerce.model.subscriptions.amount_changes_frame`): a subscription
    counts at the amount in force at each month end. A (user, data connection) gets rows for
    every currency it has any subscription in. MRR is measured at each month end (for the
    current month: ``now``); movements compare with the previous month end, per customer, and
    are computed from the first month any subscription started, so a customer who paid before
    the window and comes back counts as reactivation.
    """
    now = _utc_naive(now)
    months = month_window(now, history_months)
    events = build_lookups(RawFrames(events=subscription_events)).subscription_events
    amendments = _amendments_by_subscription(amount_changes)
    groups: dict[tuple[str, str], dict[str, list[_Subscription]]] = defaultdict(lambda: defaultdict(list))
    for user, dc, currency, source_id, customer, mandate, amount, unit, interval, start, created, status, ended in zip(
        *(subscriptions[c] for c in SUBSCRIPTION_COLUMNS_USED), strict=True
    ):
        if not isinstance(currency, str) or not currency:
            continue
        by_currency = groups[(user, dc)]
        by_currency.setdefault(currency, [])
        interval = None if pd.isna(interval) else interval
        monthly = monthly_amount(amount, unit, interval)
        if monthly is None:
            continue
        history = status_history(start, created, status, events.get((dc, source_id), []), ended)
        changes = amendments.get((dc, source_id), [])
        if changes:
            monthly = monthly_amount(changes[0][1], unit, interval)
        by_currency[currency].append(_Subscription(
            _str(customer) or _str(mandate) or source_id, monthly, history,
            tuple((changed_at, monthly_amount(after, unit, interval)) for changed_at, _, after in changes),
        ))

    rows: dict[str, list] = defaultdict(list)
    for (user, dc) in sorted(groups):
        for currency, subs in sorted(groups[(user, dc)].items()):
            for month, metrics in _subscription_months(subs, months, now):
                _append(rows, user_id=user, data_connection_id=dc, month=month, currency=currency, **metrics)
    frame = schema.frame(rows, schema.SUBSCRIPTIONS_INSIGHT)
    return frame.sort_values(["user_id", "data_connection_id", "month", "currency"], kind="stable", ignore_index=True)


def _amendments_by_subscription(amount_changes: pd.DataFrame | None) -> dict[tuple[str, str], list[tuple]]:
    """(data connection, subscription id) → [(changed_at, amount before, amount after)], oldest first."""
    found: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    if amount_changes is None or amount_changes.empty:
        return found
    for dc, subscription_id, changed_at, before, after in zip(
        *(amount_changes[c] for c in ("data_connection_id", "subscription_id", "changed_at", "amount_before", "amount_after")),
        strict=True,
    ):
        found[(dc, subscription_id)].append((as_timestamp(changed_at), before, after))
    for changes in found.values():
        changes.sort()
    return found


def _str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _month_end(month: date, now: datetime) -> datetime:
    """The moment a month's MRR is measured: its last microsecond, or ``now`` for the current month."""
    if month == month_start(now):
        return now
    return datetime.combine(add_months(month, 1), datetime.min.time()) - timedelta(microseconds=1)


def _subscription_months(subs: list[_Subscription], months: list[date], now: datetime):
    starts = [s.history.started_at for s in subs if s.history.started_at is not None]
    first = min([add_months(months[0], -1), *(month_start(t) for t in starts)])
    ledger = _CustomerLedger()
    previous_mrr, previous_customers = ZERO, 0
    # Each customer's MRR is summed exactly as a numerator over one common denominator:
    # integer additions instead of Fraction ones (which reduce by a gcd at every step).
    denominator = math.lcm(1, *(amount.denominator for sub in subs for amount in sub.amounts()))
    month = first
    while month <= months[-1]:
        moment = _month_end(month, now)
        exact: dict[str, int] = defaultdict(int)
        active_nb = 0
        for sub in subs:
            if sub.history.is_active(moment):
                monthly = sub.monthly_at(moment)
                exact[sub.customer] += monthly.numerator * (denominator // monthly.denominator)
                active_nb += 1
        per_customer = {c: round_ratio_half_up(v, denominator, CENTS) for c, v in exact.items()}
        moves = ledger.close_month(per_customer)
        mrr = sum(per_customer.values(), ZERO)
        customers_nb = sum(1 for v in per_customer.values() if v > 0)
        if month >= months[0]:
            yield month, {
                "mrr": mrr,
                "subscription_nb": active_nb,
                "new_mrr": moves.new,
                "expansion_mrr": moves.expansion,
                "contraction_mrr": moves.contraction,
                "churned_mrr": moves.churned,
                "reactivation_mrr": moves.reactivation,
                "customers_nb": customers_nb,
                "arpa": round_half_up(Fraction(mrr) / customers_nb, CENTS) if customers_nb else None,
                "customer_churn_rate": _ratio(moves.churned_customers, previous_customers),
                "net_mrr_churn_rate": _ratio(
                    moves.churned + moves.contraction - moves.expansion - moves.reactivation, previous_mrr
                ),
            }
        previous_mrr, previous_customers = mrr, customers_nb
        month = add_months(month, 1)
