"""The pure parts: periods, matching rules that need no sandbox, catching up old days, notifiers."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.reconciliation import notify
from gocardless_commerce.reconciliation.apply import LogEntry, Merchant, Options, Transaction, WarehouseState, reconcile
from gocardless_commerce.reconciliation.period import Period

DC = "dc-1"
MERCHANT = Merchant("user-1", DC, 20261101)
PAYMENT = commerce_id(DC, "payment", "PM1")


def event(event_id: str, action: str, at: str, resource_type: str = "payments", **links: str) -> dict:
    return {"id": event_id, "resource_type": resource_type, "action": action, "created_at": at,
            "links": links or {"payment": "PM1"}, "details": {"cause": f"payment_{action}"}}


def settled_payment(**overrides) -> WarehouseState:
    return WarehouseState(transactions={PAYMENT: Transaction(PAYMENT, "PM1", Decimal("12.50"), "EUR", **overrides)})


def test_periods_are_utc_days_numbered_yyyymmdd():
    period = Period.before(datetime(2026, 11, 2, 6, 30, tzinfo=UTC))
    assert (str(period), period.job_number, period.start, period.end) == (
        "2026-11-01", 20261101, datetime(2026, 11, 1), datetime(2026, 11, 2))
    assert Period.of("2026-11-01") == Period.from_job_number(20261101) == Period.of(date(2026, 11, 1))


def test_catching_up_an_old_day_never_undoes_a_later_state():
    """D3 already failed the payment late; reconciling D1 (its confirmation) for the first time."""
    state = settled_payment(gateway_state="FailedToSettle", settled_on=None)
    state.other_periods[PAYMENT] = [LogEntry("EV9", PAYMENT, "gateway_state", "TransactionRejected", "Transaction", "PM1",
                                             None, "FailedToSettle", datetime(2026, 11, 3, 9))]
    outcome = reconcile([event("EV1", "confirmed", "2026-11-01T10:00:00.000Z")], {}, MERCHANT, state)
    (row,) = outcome.gateway_events
    assert row["outcome"] == "gateway_state Settled (superseded by the later event EV9), settled_on 2026-11-01"
    (changed,) = outcome.transactions
    assert (changed.gateway_state, changed.settled_on) == ("FailedToSettle", date(2026, 11, 1))
    assert [(e.change, e.before, e.after, e.superseded_by) for e in outcome.log] == [
        ("gateway_state", None, "Settled", "EV9"), ("settled_on", None, "2026-11-01", None)]
    assert state.transactions[PAYMENT].gateway_state == "FailedToSettle"  # the input is not modified


def test_a_rerun_keeps_what_the_first_run_logged():
    state = settled_payment(gateway_state="Settled", settled_on=date(2026, 11, 1))
    first = LogEntry("EV1", PAYMENT, "gateway_state", "TransactionSettled", "Transaction", "PM1", "Submitted", "Settled",
                     datetime(2026, 11, 1, 10))
    state.previous_log[first.key] = first
    outcome = reconcile([event("EV1", "confirmed", "2026-11-01T10:00:00.000Z")], {}, MERCHANT, state)
    assert outcome.log[0] == first and outcome.transactions == []


def test_events_of_one_day_apply_oldest_first_and_refunds_can_be_switched_off():
    events = [
        event("EV3", "charged_back", "2026-11-01T12:00:00.000Z"),
        event("EV1", "submitted", "2026-11-01T08:00:00.000Z"),
        event("EV2", "confirmed", "2026-11-01T09:00:00.000Z"),
    ]
    outcome = reconcile(events, {}, MERCHANT, settled_payment(), Options(reversal_refunds=False))
    assert [e["event_id"] for e in outcome.gateway_events] == ["EV1", "EV2", "EV3"]
    assert [(e.change, e.before, e.after) for e in outcome.log] == [
        ("gateway_state", None, "Submitted"), ("gateway_state", "Submitted", "Settled"), ("settled_on", None, "2026-11-01")]
    assert outcome.external_refunds == [] and outcome.summary()["reversed_amounts"] == {"EUR": "12.50"}


def test_a_mandate_unknown_everywhere_is_unmatched_and_other_resources_have_no_target():
    outcome = reconcile([
        event("EV1", "cancelled", "2026-11-01T08:00:00.000Z", "mandates", mandate="MD1"),
        event("EV2", "paid", "2026-11-01T09:00:00.000Z", "payouts", payout="PO1"),
    ], {}, MERCHANT, WarehouseState())
    mandate, payout = outcome.gateway_events
    assert (mandate["gateway_event"], mandate["matched"], mandate["unmatched_reason"]) == (
        "MandateCanceled", False, "payment method not in warehouse and mandate not returned by the API")
    assert (payout["object"], payout["gateway_event"], payout["action"], payout["matched"]) == ("Payout", "Unknown", "none", False)
    assert outcome.summary()["events_unmatched"] == 1  # an Unknown event needs no one's attention


CALLS: list = []


def test_the_notifier_is_pluggable_and_a_broken_one_does_not_fail_the_job(monkeypatch, caplog):
    monkeypatch.setenv(notify.NOTIFIER_ENV, f"{__name__}:capture")
    assert notify.load_notifier() is capture
    monkeypatch.setenv(notify.NOTIFIER_ENV, f"{__name__}.capture")
    notify.notify(["line 1", "line 2"], {"needs_attention": True})
    assert CALLS[-1] == ("line 1\nline 2", {"needs_attention": True})

    monkeypatch.setenv(notify.NOTIFIER_ENV, f"{__name__}:broken")
    with caplog.at_level(logging.INFO):
        notify.notify(["all good"], {"needs_attention": False})
    assert "all good" in caplog.text and "notifier" in caplog.text and "failed" in caplog.text


def capture(message: str, report: dict) -> None:
    CALLS.append((message, report))


def broken(message: str, report: dict) -> None:
    raise ConnectionError("Slack is down")


def test_slack_webhook_posts_the_summary(monkeypatch):
    sent = {}

    class Response:
        def raise_for_status(self) -> None:
            return None

    def post(url, json, timeout):
        sent.update(url=url, json=json)
        return Response()

    monkeypatch.setenv(notify.SLACK_WEBHOOK_ENV, "https://hooks.slack.example/T/B/X")
    monkeypatch.setattr("requests.post", post)
    notify.slack_webhook("job Error", {"needs_attention": True})
    assert sent == {"url": "https://hooks.slack.example/T/B/X", "json": {"text": ":warning: job Error"}}


@pytest.mark.parametrize("path", ["", None])
def test_the_default_notifier_is_the_log(monkeypatch, path):
    monkeypatch.delenv(notify.NOTIFIER_ENV, raising=False)
    assert notify.load_notifier(path) is notify.log_notifier


def _reconcile_days(days: list[list[dict]], order: list[int]) -> tuple:
    """Reconcile ``days`` (each a period's events) in ``order``, the log carried between periods
    as the warehouse carries it; returns the payment's final (gateway_state, settled_on)."""
    logs: dict[int, list[LogEntry]] = {}
    state = settled_payment()
    for day in order:
        others = [e for number, entries in logs.items() if number != day for e in entries]
        run_state = WarehouseState(transactions=state.transactions, other_periods={PAYMENT: others})
        outcome = reconcile(days[day], {}, Merchant("user-1", DC, 20261101 + day), run_state)
        logs[day] = [e for e in outcome.log if e.related_object_type == "Transaction"]
        for changed in outcome.transactions:
            state.transactions[PAYMENT] = changed
    final = state.transactions[PAYMENT]
    return final.gateway_state, final.settled_on


def test_a_failure_then_a_resubmission_ends_the_same_in_either_order():
    """Failed on day 1, resubmission requested on day 3: reconciled 1→3 or 3→1, the same state."""
    days = [[event("EV1", "submitted", "2026-11-01T08:00:00.000Z"), event("EV2", "failed", "2026-11-01T15:00:00.000Z")],
            [],
            [event("EV3", "resubmission_requested", "2026-11-03T06:00:00.000Z")]]
    assert _reconcile_days(days, [0, 2]) == _reconcile_days(days, [2, 0]) == ("FailedToSettle", None)


def test_the_earliest_settlement_date_wins_in_either_order():
    days = [[event("EV1", "confirmed", "2026-11-01T10:00:00.000Z")], [event("EV2", "confirmed", "2026-11-02T10:00:00.000Z")]]
    assert _reconcile_days(days, [0, 1]) == _reconcile_days(days, [1, 0]) == ("Settled", date(2026, 11, 1))
