"""``build_subscriptions`` and the status history behind "active at time t"."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from gocardless_commerce.model import build_subscriptions, schema
from gocardless_commerce.model.lookups import SubscriptionEvent
from gocardless_commerce.model.subscriptions import status_history
from tests.model import scenario


@pytest.fixture(scope="module")
def subscriptions() -> pd.DataFrame:
    return build_subscriptions(scenario.frames())


def test_columns_statuses_frequencies_and_mrr(subscriptions):
    assert list(subscriptions.columns) == [*schema.SUBSCRIPTIONS, schema.ISSUES]  # the issues column is validation's, never loaded
    got = subscriptions[["source_id", "status", "frequency_unit", "frequency_interval", "amount", "mrr", "customer_id"]]
    assert got.to_dict("records") == [
        {"source_id": "SB1", "status": "ACTIVE", "frequency_unit": "month", "frequency_interval": 1,
         "amount": Decimal("10.00"), "mrr": Decimal("10.0000"), "customer_id": "CU1"},
        {"source_id": "SB2", "status": "ACTIVE", "frequency_unit": "week", "frequency_interval": 2,
         "amount": Decimal("5.00"), "mrr": Decimal("10.8333"), "customer_id": "CU1"},  # 5 × 52 / 24
        {"source_id": "SB3", "status": "ACTIVE", "frequency_unit": "year", "frequency_interval": 1,
         "amount": Decimal("120.00"), "mrr": Decimal("10.0000"), "customer_id": "CU2"},
        {"source_id": "SB4", "status": "CANCELLED", "frequency_unit": "month", "frequency_interval": 3,
         "amount": Decimal("30.00"), "mrr": Decimal("10.0000"), "customer_id": "CU3"},
        {"source_id": "SB5", "status": "ACTIVE", "frequency_unit": "month", "frequency_interval": 1,
         "amount": Decimal("20.00"), "mrr": Decimal("20.0000"), "customer_id": "CU3"},
        {"source_id": "SB6", "status": "ACTIVE", "frequency_unit": "month", "frequency_interval": 1,
         "amount": Decimal("15.00"), "mrr": Decimal("15.0000"), "customer_id": "CU2"},
    ]


def test_ended_at_and_dates_come_from_events(subscriptions):
    sb4 = subscriptions[subscriptions["source_id"] == "SB4"].iloc[0]
    assert sb4["ended_at"] == pd.Timestamp("2024-02-20 09:00")
    assert sb4["updated_at"] == pd.Timestamp("2024-02-20 09:00")
    assert sb4["start_date"] == date(2023, 11, 1)
    assert subscriptions["ended_at"].isna().sum() == 5
    assert list(subscriptions["plan_name"][:1]) == ["plan SB1"]


def test_every_status_maps():
    records = [scenario.subscription(f"S{i}", 100, "monthly", 1, status, "2024-01-01", "2024-01-01T00:00:00Z")
               for i, status in enumerate(["pending_customer_approval", "active", "paused", "cancelled", "finished",
                                           "customer_approval_denied", "weird"])]
    subscriptions = build_subscriptions(scenario.frames(subscriptions=records, events=[]))
    assert list(subscriptions["status"]) == ["CREATED", "ACTIVE", "PAUSED", "CANCELLED", "FINISHED", "DENIED", None]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_pause_and_resume_history():
    history = status_history("2024-01-01", None, "active", [
        SubscriptionEvent(at("2024-02-10 00:00"), "EV1", "paused"),
        SubscriptionEvent(at("2024-03-05 00:00"), "EV2", "resumed"),
    ])
    assert not history.is_active(at("2023-12-31 23:59"))  # not started
    assert history.is_active(at("2024-02-09 23:59"))
    assert not history.is_active(at("2024-02-29 23:59"))
    assert history.is_active(at("2024-03-05 00:00"))


def test_approval_history_and_missing_events():
    approved = status_history(None, at("2024-03-01 10:00"), "active", [
        SubscriptionEvent(at("2024-04-10 10:00"), "EV1", "customer_approval_granted")])
    assert approved.state_at(at("2024-03-31 23:59")) == "pending_customer_approval"
    assert approved.is_active(at("2024-04-10 10:00"))
    no_events = status_history("2024-01-01", None, "cancelled", [])
    assert not no_events.is_active(at("2024-02-01 00:00"))  # ended at an unknown time: never counted
    # the last event says resumed, the record says paused: the record wins from that event on
    stale = status_history("2024-01-01", None, "paused", [SubscriptionEvent(at("2024-02-01"), "EV1", "resumed")])
    assert not stale.is_active(at("2024-03-01"))


def test_ended_at_comes_from_the_record_when_the_ending_event_is_older_than_raw_holds():
    """No events in raw (older than the 12-month window): a finished subscription's record says
    when it ended (end_date, else its count-th charge); a cancelled one's record cannot."""
    records = [
        {**scenario.subscription("SBE1", 1000, "monthly", 1, "finished", "2022-01-15", "2022-01-01T00:00:00Z"), "count": 3},
        {**scenario.subscription("SBE2", 1000, "weekly", 2, "finished", "2022-01-03", "2022-01-01T00:00:00Z"),
         "end_date": "2022-06-30"},
        scenario.subscription("SBE3", 1000, "monthly", 1, "cancelled", "2022-01-15", "2022-01-01T00:00:00Z"),
        {**scenario.subscription("SBE4", 1000, "yearly", 1, "finished", "2021-02-28", "2021-02-01T00:00:00Z"), "count": 2},
    ]
    ended = build_subscriptions(scenario.frames(subscriptions=records, events=[])).set_index("source_id")["ended_at"]
    assert ended["SBE1"] == pd.Timestamp("2022-03-15") and ended["SBE2"] == pd.Timestamp("2022-06-30")
    assert pd.isna(ended["SBE3"]) and ended["SBE4"] == pd.Timestamp("2022-02-28")
    # and it was active until then
    history = status_history("2022-01-15", None, "finished", [], ended["SBE1"])
    assert history.is_active(at("2022-02-28 23:59")) and not history.is_active(at("2022-03-31 23:59"))
