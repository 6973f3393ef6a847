"""GoCardless subscriptions → ``commerce.subscriptions``, and when each one counted as active.

The row is the subscription's current state (Qard COMMERCE_SUBSCRIPTION plus the GoCardless
status, dates, links and normalised ``mrr``). The insights also need its past: a subscription
paused in March was not active at the end of March even if it is active today, so
:func:`status_history` replays its events.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from gocardless_commerce.model import mapping, schema, source_rules
from gocardless_commerce.model.frames import RawFrames, as_timestamp, links, records, text, to_date, to_int
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.model.lookups import Lookups, SubscriptionEvent, build_lookups
from gocardless_commerce.model.money import MRR_COLUMN_PLACES, monthly_amount, round_half_up
from gocardless_commerce.model.transactions import optional_dates, strict_amounts, with_issues

ACTIVE = "active"
#: GoCardless finishes a subscription shortly after its last charge; an ``active`` one whose end
#: is longer ago than this is stale or wrong (``active_subscription_not_ended``).
END_GRACE = timedelta(days=3)


def build_subscriptions(frames: RawFrames, now: datetime | None = None) -> pd.DataFrame:
    """All subscriptions of ``frames``, columns of ``schema.SUBSCRIPTIONS`` (plus ``schema.ISSUES``),
    sorted by (data connection, id). ``now`` enables the ``active_subscription_not_ended`` rule."""
    return subscriptions_to_frame(frames.subscriptions, build_lookups(frames), now)


def last_charge_date(payload: dict) -> date | None:
    """The charge date of a subscription's ``count``-th payment (``start_date`` + (count − 1)
    intervals); ``None`` without a count or readable schedule."""
    start, count, interval = to_date(payload.get("start_date")), to_int(payload.get("count")), to_int(payload.get("interval"))
    unit = mapping.FREQUENCY_UNIT.get(payload.get("interval_unit"))
    if start is None or count is None or count < 1 or interval is None or interval < 1 or unit is None:
        return None
    steps = (count - 1) * interval
    if unit == "week":
        return start + timedelta(weeks=steps)
    months = steps * (12 if unit == "year" else 1)
    index = start.year * 12 + start.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def record_end(payload: dict) -> date | None:
    """When the subscription's own record says it ends: ``end_date``, else its last charge."""
    return to_date(payload.get("end_date")) or last_charge_date(payload)


def subscription_issues(payload: dict, mandate_scheme: str | None, now: datetime | None) -> tuple[str, ...]:
    """The consistency rules of ``source_rules`` a subscription record breaks."""
    _, issues = strict_amounts(payload, "amount")
    issues += optional_dates(payload, "start_date", "end_date")[1]
    expected = mapping.SCHEME_CURRENCY.get(mandate_scheme or "")
    if expected and payload.get("currency") != expected:
        issues += (source_rules.CURRENCY_MATCHES_MANDATE_SCHEME,)
    end = record_end(payload)
    if now is not None and payload.get("status") == ACTIVE and end is not None and end + END_GRACE < now.date():
        issues += (source_rules.ACTIVE_SUBSCRIPTION_NOT_ENDED,)
    return issues


def subscriptions_to_frame(subscriptions: pd.DataFrame, lookups: Lookups, now: datetime | None = None) -> pd.DataFrame:
    """Raw subscriptions → ``commerce.subscriptions`` rows, given the facts (events, mandates) they need."""
    columns: dict[str, list] = defaultdict(list)
    issues: list[tuple[str, ...]] = []
    now = as_timestamp(now)
    ordered = sorted(records(subscriptions), key=lambda r: (r.data_connection_id or "", r.id or ""))
    for record in ordered:
        dc, payload = record.data_connection_id, record.payload
        source_status = text(payload.get("status"))
        amount = strict_amounts(payload, "amount")[0]["amount"]
        unit = mapping.FREQUENCY_UNIT.get(payload.get("interval_unit"))
        interval = to_int(payload.get("interval"))
        monthly = monthly_amount(amount, unit, interval)
        mandate_id = text(links(payload).get("mandate"))
        history = lookups.subscription_events.get((dc, record.id), [])
        issues.append(subscription_issues(payload, lookups.scheme_of_mandate.get((dc, mandate_id)), now))
        row = {
            "id": commerce_id(dc, "subscription", record.id),
            "user_id": record.user_id,
            "data_connection_id": dc,
            "provider_name": mapping.PROVIDER_NAME,
            "source_id": record.id,
            "source_created_at": record.created_at,
            "amount": amount,
            "currency": text(payload.get("currency")),
            "status": mapping.SUBSCRIPTION_STATUS.get(source_status) if source_status else None,
            "plan_name": text(payload.get("name")),
            "frequency_unit": unit,
            "frequency_interval": interval,
            "source_status": source_status,
            "start_date": to_date(payload.get("start_date")),
            "ended_at": ended_at(history, source_status, payload),
            "mandate_id": mandate_id,
            "customer_id": lookups.customer(dc, mandate_id),
            "mrr": round_half_up(monthly, MRR_COLUMN_PLACES) if monthly is not None else None,
            "updated_at": lookups.last_change(record, "subscriptions"),
        }
        for name in schema.SUBSCRIPTIONS:
            columns[name].append(row[name])
    return with_issues(schema.frame(columns, schema.SUBSCRIPTIONS), issues)


class AmountChange(NamedTuple):
    """An amendment of a subscription's amount (per billing period, major units)."""

    changed_at: datetime
    amount_before: Decimal
    amount_after: Decimal


#: Columns of the amount-history frame the insights read (``amount_changes_frame``).
AMOUNT_CHANGE_COLUMNS = ("data_connection_id", "subscription_id", "changed_at", "amount_before", "amount_after")


def amount_changes(current_amount: Decimal | None, history: Sequence[SubscriptionEvent],
                   payments: Sequence[tuple[datetime, Decimal]]) -> list[AmountChange]:
    """What each ``amended`` event changed the amount from and to.

    GoCardless' event carries no amount, so the history is rebuilt from what the subscription
    charged: after the last amendment, its current ``amount``; between two amendments (or
    before the first), the amount of its last payment created in that stretch (GoCardless
    creates payments ahead of their charge date at the amount then in force). A stretch with no
    readable positive payment (older than the window) takes the next stretch's amount: that amendment
    shows as no change. ``payments`` are ``(created_at, amount)``, oldest first.
    """
    times = sorted(e.created_at for e in history if e.action == mapping.SUBSCRIPTION_AMENDED and e.created_at is not None)
    if not times or current_amount is None:
        return []
    bounds: list[datetime | None] = [None, *times]
    amounts: list[Decimal] = [current_amount]  # built backwards: the stretch after amendment i
    for index in range(len(times) - 1, -1, -1):
        low, high = bounds[index], times[index]
        charged = [amount for at, amount in payments if amount > 0 and (low is None or at >= low) and at < high]
        amounts.insert(0, charged[-1] if charged else amounts[0])
    return [
        AmountChange(at, amounts[i], amounts[i + 1]) for i, at in enumerate(times) if amounts[i] != amounts[i + 1]
    ]


def amount_changes_frame(subscriptions: pd.DataFrame, lookups: Lookups) -> pd.DataFrame:
    """The amount changes of raw ``subscriptions`` (columns :data:`AMOUNT_CHANGE_COLUMNS`)."""
    rows: list[tuple] = []
    for record in records(subscriptions):
        key = (record.data_connection_id, record.id)
        history = lookups.subscription_events.get(key, [])
        if not any(e.action == mapping.SUBSCRIPTION_AMENDED for e in history):
            continue
        current = strict_amounts(record.payload, "amount")[0]["amount"]
        rows += [(record.data_connection_id, record.id, *change)
                 for change in amount_changes(current, history, lookups.subscription_payments.get(key, []))]
    return pd.DataFrame(rows or None, columns=list(AMOUNT_CHANGE_COLUMNS), dtype=object)


def no_amount_changes() -> pd.DataFrame:
    return pd.DataFrame(columns=list(AMOUNT_CHANGE_COLUMNS), dtype=object)


def ended_at(history: Sequence[SubscriptionEvent], source_status: str | None = None,
             payload: dict | None = None) -> datetime | None:
    """Time of the first ``cancelled`` or ``finished`` event (a subscription ends once).

    When that event is older than the events raw holds, a ``finished`` subscription's own record
    still says when it ended (its ``end_date``, else its last charge date, 00:00 UTC). A
    ``cancelled`` one's record carries no date: NULL until its events are landed.
    """
    event = next((e.created_at for e in history if e.action in mapping.SUBSCRIPTION_END_ACTIONS), None)
    if event is not None or source_status != "finished":
        return event
    end = record_end(payload or {})
    return datetime.combine(end, time()) if end else None


#: The state a subscription must have been in before its first status-changing event.
_STATE_BEFORE = {
    "customer_approval_granted": "pending_customer_approval",
    "customer_approval_denied": "pending_customer_approval",
    "resumed": "paused",
}


@dataclass(frozen=True)
class StatusHistory:
    """When a subscription started and which GoCardless state it was in from when."""

    started_at: datetime | None
    change_times: tuple[datetime, ...]  # sorted; state i holds from change_times[i - 1]
    states: tuple[str, ...]  # len(change_times) + 1; states[0] holds since the beginning

    def state_at(self, moment: datetime) -> str:
        return self.states[bisect.bisect_right(self.change_times, moment)]

    def is_active(self, moment: datetime) -> bool:
        """Started at or before ``moment`` and in state ``active`` at ``moment``."""
        return self.started_at is not None and self.started_at <= moment and self.state_at(moment) == ACTIVE


def status_history(
    start_date, source_created_at, source_status: str | None, events: Sequence[SubscriptionEvent],
    ended: datetime | None = None,
) -> StatusHistory:
    """Replay a subscription's status-changing events (oldest first).

    * Started = ``start_date`` (first charge date, 00:00 UTC), else ``source_created_at``.
    * Before the first change it was ``pending_customer_approval`` if that change is an
      approval, ``paused`` if it is ``resumed``, else ``active``. With no events at all, the
      current status holds for its whole life (the best that can be known), except that a
      subscription whose end is known (``ended``: ``ended_at``, from its record when the
      event is older than raw's events) was active until then.
    * If replaying ends in a state other than the current status (an event is missing), the
      current status wins from the last event on.
    """
    start = to_date(start_date)
    started_at = datetime.combine(start, time()) if start else as_timestamp(source_created_at)
    changes = [e for e in events if e.action in mapping.SUBSCRIPTION_EVENT_STATE and e.created_at is not None]
    if not changes:
        ended = as_timestamp(ended)
        if ended is not None and source_status in mapping.SUBSCRIPTION_END_ACTIONS:
            return StatusHistory(started_at, (ended,), (ACTIVE, source_status))
        return StatusHistory(started_at, (), (source_status or "",))
    times = [e.created_at for e in changes]
    states = [_STATE_BEFORE.get(changes[0].action, ACTIVE)]
    states += [mapping.SUBSCRIPTION_EVENT_STATE[e.action] for e in changes]
    if source_status in mapping.SUBSCRIPTION_STATUS and states[-1] != source_status:
        states[-1] = source_status
    return StatusHistory(started_at, tuple(times), tuple(states))
