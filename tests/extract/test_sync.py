"""Extraction semantics against the real sandbox, landing in DuckDB and PostgreSQL.

The sandbox's store is the ground truth: after a sync, every raw table must hold exactly the
records the API serves for that merchant, in their current state.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gocardless_commerce.extract import landing, sync
from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.relay import relay_to
from tests.fixtures.sandbox import NETWORK_FAULTS, NO_FAULTS, PINNED_NOW, put_faults

DC = "dc-test"
LISTED = ("creditors", "customers", "customer_bank_accounts", "mandates", "subscriptions", "payments", "refunds", "payouts", "events")


def _request(run_id: str, now=PINNED_NOW, **overrides) -> sync.SyncRequest:
    return sync.SyncRequest(
        user_id="user-1", data_connection_id=DC, run_id=run_id, now=now, **{"history_months": 18, **overrides}
    )


def _sync(server, engine, request, merchant=0, **client_options):
    options = {"base_url": server.base_url, "backoff_base": 0.01, **client_options}
    with GoCardlessClient(server.merchants[merchant].access_token, **options) as client:
        return sync.sync_data_connection(client, engine, request)


def _landed(engine, resource: str) -> dict[str, dict]:
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT id, CAST(payload AS VARCHAR) FROM {landing.RESOURCES[resource].table} "
                "WHERE data_connection_id = :dc AND removed_at IS NULL"
            ),
            {"dc": DC},
        ).all()
    return {row[0]: json.loads(row[1]) for row in rows}


def _truth(server, resource: str, merchant=0) -> dict[str, dict]:
    org = server.merchants[merchant].organisation_id
    return {body["id"]: body for body in server.store.all_bodies(org, resource)}


def _expected_payout_items(server, now, merchant=0) -> int:
    oldest = sync.months_before(now, sync.PAYOUT_ITEMS_MONTHS).date().isoformat()
    return sum(
        len(server.store.payout_items(payout_id))
        for payout_id, body in _truth(server, "payouts", merchant).items()
        if body["created_at"][:10] >= oldest
    )


def _payout_item_count(engine) -> int:
    with transaction(engine) as conn:
        return conn.execute(sa.text("SELECT count(*) FROM raw.gocardless_payout_items")).scalar_one()


def _assert_raw_matches_sandbox(server, engine):
    for resource in LISTED:
        assert _landed(engine, resource) == _truth(server, resource), resource
    # items of every payout of the first run's 6-month window, and of every payout since
    # (items landed earlier stay when their payout ages out of GoCardless' window)
    assert _payout_item_count(engine) == _expected_payout_items(server, PINNED_NOW)


@pytest.fixture
def private_sandbox(sandbox_factory):
    return sandbox_factory(merchants=2, payments_per_merchant=250, seed=21)


def test_backfill_lands_every_resource_as_the_sandbox_holds_it(private_sandbox, warehouse):
    result = _sync(private_sandbox, warehouse, _request("backfill-1"))
    assert result.mode == "backfill"
    _assert_raw_matches_sandbox(private_sandbox, warehouse)
    # the other merchant's records never land under this data connection
    other = set(_truth(private_sandbox, "payments", merchant=1))
    assert not other & set(_landed(warehouse, "payments"))
    # pages of 500: requests stay close to the minimum
    for name in LISTED:
        stats = result.streams[name]
        assert stats.requests == max(1, -(-stats.records // 500)), name


def test_a_sync_through_network_faults_lands_what_a_clean_sync_lands(private_sandbox, warehouse):
    """503/504/429 with Retry-After, resets and hung connections cost retries, not records."""
    put_faults(private_sandbox, error_rate=0.05, drop_rate=0.03, **NETWORK_FAULTS)
    try:
        result = _sync(private_sandbox, warehouse, _request("faulted-1"), timeout=(2.0, 1.0), max_retries=8)
    finally:
        put_faults(private_sandbox, **NO_FAULTS)
    injected = private_sandbox.app.state.faults_injected
    assert {"503", "504", "429-retry-after", "reset"} <= set(injected), injected
    assert result.mode == "backfill"
    _assert_raw_matches_sandbox(private_sandbox, warehouse)


def test_a_sync_through_a_window_of_refused_connections_lands_what_a_clean_sync_lands(private_sandbox, warehouse):
    """Mid-sync the API's address resets every connection and refuses new ones for a second:
    the retries (backoff from 0.25 s) outlast the window and nothing is lost."""
    with relay_to(private_sandbox.base_url) as relay:
        relay.refuse_at_request(4, 1.0)
        result = _sync(private_sandbox, warehouse, _request("refused-1"), base_url=relay.base_url,
                       backoff_base=0.25, backoff_max=2.0)
    # attempts the refusing port turned away never reached the relay: the client made more
    assert relay.refusals == 1 and result.api_requests > relay.requests > 4
    _assert_raw_matches_sandbox(private_sandbox, warehouse)


def test_records_created_while_a_sync_pages_land_exactly_once(private_sandbox, warehouse, monkeypatch):
    """Records created between two pages of a listing: the run lands every record that existed
    when it started, once; the next run lands the new ones, and raw equals a clean sync."""
    monkeypatch.setattr(sync, "DEFAULT_PAGE_SIZE", 60)  # several pages per listing at this size
    before = {resource: _truth(private_sandbox, resource) for resource in ("customers", "payments")}
    put_faults(private_sandbox, shift_rate=0.5)
    try:
        _sync(private_sandbox, warehouse, _request("shifted-1"))
    finally:
        put_faults(private_sandbox, **NO_FAULTS)
    for resource, existing in before.items():
        landed = _landed(warehouse, resource)
        assert set(existing) <= set(landed), resource
        assert set(_truth(private_sandbox, resource)) - set(existing), f"no {resource} arrived mid-listing"
    _sync(private_sandbox, warehouse, _request("after-shift-2"))
    _assert_raw_matches_sandbox(private_sandbox, warehouse)


def test_incremental_lands_new_and_changed_records_with_few_requests(private_sandbox, warehouse):
    backfill = _sync(private_sandbox, warehouse, _request("run-1"))
    old_paid_out = [p for p in _truth(private_sandbox, "payments").values() if p["status"] == "paid_out"]
    summary = private_sandbox.advance(days=1, change_fraction=0.05)
    assert sum(summary["status_changes"].values()) > 0

    tomorrow = PINNED_NOW + timedelta(days=1)
    incremental = _sync(private_sandbox, warehouse, _request("run-2", now=tomorrow))
    assert incremental.mode == "incremental"
    _assert_raw_matches_sandbox(private_sandbox, warehouse)
    # at least one old paid_out payment changed status after creation, and that change landed
    landed = _landed(warehouse, "payments")
    changed_old = [p["id"] for p in old_paid_out if landed[p["id"]]["status"] != "paid_out"]
    assert changed_old, "the sandbox should have charged back or late-failed some old payments"
    assert incremental.api_requests * 5 < backfill.api_requests
    assert 0 < incremental.records_changed < backfill.records_changed


def test_rerunning_a_run_changes_nothing(private_sandbox, warehouse):
    _sync(private_sandbox, warehouse, _request("run-1"))
    private_sandbox.advance(days=1, change_fraction=0.02)
    tomorrow = PINNED_NOW + timedelta(days=1)
    _sync(private_sandbox, warehouse, _request("run-2", now=tomorrow))
    before = {r: _landed(warehouse, r) for r in LISTED}
    with transaction(warehouse) as conn:
        state_before = conn.execute(sa.text("SELECT * FROM meta.sync_state ORDER BY stream")).all()
    rerun = _sync(private_sandbox, warehouse, _request("run-2", now=tomorrow))
    assert rerun.records_changed == 0
    assert {r: _landed(warehouse, r) for r in LISTED} == before
    with transaction(warehouse) as conn:
        assert conn.execute(sa.text("SELECT * FROM meta.sync_state ORDER BY stream")).all() == state_before


def test_a_run_killed_midway_resumes_to_the_same_state(private_sandbox, warehouse, monkeypatch):
    _sync(private_sandbox, warehouse, _request("run-1"))
    private_sandbox.advance(days=1, change_fraction=0.05)
    tomorrow = PINNED_NOW + timedelta(days=1)
    with transaction(warehouse) as conn:
        cursor_before = conn.execute(
            sa.text("SELECT cursor_created_at FROM meta.sync_state WHERE stream = 'events'")
        ).scalar_one()

    real_land = landing.land_raw
    calls = {"n": 0}

    def dies_on_the_fourth_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("worker killed")
        return real_land(*args, **kwargs)

    monkeypatch.setattr(landing, "land_raw", dies_on_the_fourth_batch)
    with pytest.raises(KeyboardInterrupt):
        _sync(private_sandbox, warehouse, _request("run-2", now=tomorrow))
    monkeypatch.setattr(landing, "land_raw", real_land)
    with transaction(warehouse) as conn:  # the cursor did not move
        assert conn.execute(
            sa.text("SELECT cursor_created_at FROM meta.sync_state WHERE stream = 'events'")
        ).scalar_one() == cursor_before

    _sync(private_sandbox, warehouse, _request("run-2", now=tomorrow))
    _assert_raw_matches_sandbox(private_sandbox, warehouse)


def test_full_refresh_flags_customers_removed_in_gocardless(private_sandbox, warehouse):
    import requests

    _sync(private_sandbox, warehouse, _request("run-1"))
    merchant = private_sandbox.merchants[0]
    removed = sorted(_truth(private_sandbox, "customers"))[0]
    response = requests.delete(
        f"{private_sandbox.base_url}/customers/{removed}",
        headers={"Authorization": f"Bearer {merchant.access_token}", "GoCardless-Version": "2015-07-06"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    result = _sync(private_sandbox, warehouse, _request("run-2", full_refresh=True))
    assert result.mode == "full_refresh"
    assert result.streams["customers"].removed == 1
    with transaction(warehouse) as conn:
        flagged = conn.execute(
            sa.text("SELECT id FROM raw.gocardless_customers WHERE removed_at IS NOT NULL")
        ).scalars().all()
    assert flagged == [removed]


def test_months_before_clamps_the_day():
    from datetime import UTC, datetime

    assert sync.months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert sync.months_before(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2025, 1, 15, tzinfo=UTC)


def _ending_events(server) -> dict[str, dict]:
    """The sandbox's ``cancelled``/``finished`` event of each subscription, by subscription id."""
    return {
        event["links"]["subscription"]: event
        for event in sorted(_truth(server, "events").values(), key=lambda e: e["created_at"], reverse=True)
        if event["resource_type"] == "subscriptions" and event["action"] in ("cancelled", "finished")
    }


def test_a_subscription_cancelled_before_the_events_window_gets_its_ending_event_once(sandbox_factory, warehouse):
    """The events window is 12 months; a subscription cancelled 13–30 months ago still gets
    its ``cancelled`` event (one ``/events?subscription=`` listing each) and so its ``ended_at``;
    a later run does not ask again."""
    from gocardless_commerce.client.timestamps import format_timestamp, parse_naive_utc
    from gocardless_commerce.model import stages

    private_sandbox = sandbox_factory(merchants=1, payments_per_merchant=600, history_months=30, seed=21)
    window_start = format_timestamp(sync.months_before(PINNED_NOW, 12))
    ending = _ending_events(private_sandbox)
    events_in_window = [e for e in _truth(private_sandbox, "events").values() if e["created_at"] >= window_start]
    old = sorted(
        sid for sid, body in _truth(private_sandbox, "subscriptions").items()
        if body["status"] == "cancelled" and ending[sid]["created_at"] < window_start
    )
    assert old, "the sandbox should hold subscriptions cancelled before the events window"

    request = _request("window-12", history_months=12)
    result = _sync(private_sandbox, warehouse, request)
    landed_events = _landed(warehouse, "events")
    assert {ending[sid]["id"] for sid in old} <= set(landed_events)
    # the window's pages, plus one listing per subscription missing its end (each fits a page)
    assert result.streams["events"].requests == -(-len(events_in_window) // 500) + len(old)
    # ... landed together: one upsert (one landing sequence value), one commit, not one per listing
    with transaction(warehouse) as conn:
        statements = conn.execute(
            sa.text("SELECT count(DISTINCT landed_seq) FROM raw.gocardless_events WHERE id IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": sorted(ending[sid]["id"] for sid in old)},
        ).scalar_one()
    assert statements == 1

    run = stages.ModelRun(user_id="user-1", data_connection_id=DC, run_id="model-1", now=PINNED_NOW,
                          history_months=12, data_types=("COMMERCE_SUBSCRIPTION",))
    for stage in (stages.transform, stages.validate, stages.build_insights, stages.load):
        stage(warehouse, run)
    with transaction(warehouse) as conn:
        ended = dict(conn.execute(sa.text(
            "SELECT source_id, ended_at FROM commerce.subscriptions WHERE data_connection_id = :dc"
        ), {"dc": DC}).all())
    for sid in old:
        assert ended[sid] == parse_naive_utc(ending[sid]["created_at"]), sid

    # a full refresh lands every subscription again: their events are in raw, nothing is asked
    again = _sync(private_sandbox, warehouse, _request("window-12-again", history_months=12, full_refresh=True))
    assert again.streams["events"].requests == -(-len(events_in_window) // 500)
