"""The simulated clock: advancing it materialises planned changes and creates new activity."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.conftest import api_for


@pytest.fixture
def server(sandbox_factory):
    return sandbox_factory(payments_per_merchant=400)


def statuses(server, organisation_id):
    return {body["id"]: body["status"] for body in server.store.all_bodies(organisation_id, "payments")}


def test_advance_creates_activity_and_changes_old_payments(server):
    organisation_id = server.merchants[0].organisation_id
    api = api_for(server)
    before = statuses(server, organisation_id)
    events_before = server.store.count(organisation_id, "events")
    summary = server.advance(days=1, change_fraction=0.02)
    assert summary["now"] == "2026-11-02T00:00:00.000Z"
    assert summary["created"]["payments"] > 0 and summary["created"]["customers"] >= 2 and summary["created"]["events"] > 0
    after = statuses(server, organisation_id)
    new_ids = set(after) - set(before)
    assert len(new_ids) > 0
    assert server.store.count(organisation_id, "events") > events_before
    changed_old = {pid for pid in before if before[pid] == "paid_out" and after[pid] in ("charged_back", "failed")}
    older_paid_out = sum(1 for body in server.store.all_bodies(organisation_id, "payments")
                         if body["id"] in before and before[body["id"]] == "paid_out" and body["created_at"] < "2026-10-18")
    assert len(changed_old) >= round(older_paid_out * 0.02) > 0
    for payment_id in list(changed_old)[:5]:
        events = api.get("/events", payment=payment_id).json()["events"]
        assert events[0]["action"] in ("charged_back", "failed")
        assert "2026-11-01" <= events[0]["created_at"][:10] < "2026-11-02"
        assert events[0]["details"]["origin"] == "bank"
    # an incremental sync by created_at sees the new events of old payments
    fresh = api.walk("/events", limit=500, **{"created_at[gte]": "2026-11-01T00:00:00Z"})
    assert {e["links"].get("payment") for e in fresh} >= changed_old


def test_planned_transitions_materialise(server):
    organisation_id = server.merchants[0].organisation_id
    before = statuses(server, organisation_id)
    in_flight = {pid for pid, status in before.items() if status in ("pending_submission", "submitted", "confirmed")}
    assert in_flight
    server.advance(days=10)
    after = statuses(server, organisation_id)
    assert all(after[pid] not in ("pending_submission", "submitted") for pid in in_flight if before[pid] != "pending_customer_approval")
    assert sum(1 for pid in in_flight if after[pid] == "paid_out") > len(in_flight) // 2
    payouts = server.store.all_bodies(organisation_id, "payouts")
    assert payouts[0]["created_at"] >= "2026-11-02"
    assert any(p["status"] == "paid" and p["arrival_date"] >= "2026-11-02" for p in payouts)
    subscriptions_charged = server.store.conn.execute(
        "SELECT count(*) FROM payments WHERE org = ? AND subscription IS NOT NULL AND created_at >= '2026-11-01'", (organisation_id,)
    ).fetchone()[0]
    assert subscriptions_charged > 0


def test_clock_over_http_and_determinism(sandbox_factory):
    first, second = sandbox_factory(payments_per_merchant=100), sandbox_factory(payments_per_merchant=100)
    results = []
    for server in (first, second):
        response = requests.post(f"{server.base_url}/sandbox/clock/advance", json={"days": 3, "change_fraction": 0.05},
                                 headers=server.admin_headers, timeout=30)
        assert response.status_code == 200
        results.append(response.json())
        assert requests.get(f"{server.base_url}/sandbox/clock", headers=server.admin_headers, timeout=10).json() == {"now": "2026-11-04T00:00:00.000Z", "date": "2026-11-04"}
    assert results[0] == results[1]
    organisation_id = first.merchants[0].organisation_id
    assert first.store.all_bodies(organisation_id, "events") == second.store.all_bodies(organisation_id, "events")
    bad = requests.post(f"{first.base_url}/sandbox/clock/advance", json={"days": -1}, headers=first.admin_headers, timeout=10)
    assert bad.status_code == 422
