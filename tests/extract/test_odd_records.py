"""Bad data never stops a merchant: records the sync cannot read land in the raw quarantine,
repeated pages land once, conflicting copies are counted and kept, cursors stay in the window.

Driven through the sandbox's odd-record modes (``gocardless_sandbox.odd_records``), landing in
DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from gocardless_commerce.extract import sync
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
from tests.extract.test_sync import DC, _landed, _sync, _truth
from tests.fixtures.sandbox import PINNED_NOW, sandbox_headers


def _request(run_id: str, now=PINNED_NOW, history_months: int = 18, **overrides) -> sync.SyncRequest:
    return sync.SyncRequest(
        user_id="user-1", data_connection_id=DC, run_id=run_id, now=now, history_months=history_months, **overrides
    )


@pytest.fixture
def odd_sandbox(sandbox_factory):
    return sandbox_factory(merchants=1, payments_per_merchant=150, seed=33)


def _set_odd_records(server, config: dict) -> None:
    response = requests.put(f"{server.base_url}/sandbox/odd_records", json=config, headers=server.admin_headers, timeout=10)
    assert response.status_code == 200, response.text


def _quarantine(engine) -> list[tuple]:
    with transaction(engine) as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT resource, record_id, reason, CAST(payload AS VARCHAR), first_seen_run_id, last_seen_run_id "
                    "FROM raw.gocardless_quarantine WHERE data_connection_id = :dc ORDER BY resource, reason, record_id"
                ),
                {"dc": DC},
            ).all()
        ]


def _cursors(engine) -> dict:
    with transaction(engine) as conn:
        return dict(conn.execute(sa.text("SELECT stream, cursor_created_at FROM meta.sync_state")).all())


def _payout_items(engine) -> dict[str, str]:
    with transaction(engine) as conn:
        return dict(conn.execute(sa.text("SELECT id, CAST(payload AS VARCHAR) FROM raw.gocardless_payout_items")).all())


BROKEN_PAYMENTS = {
    "placeholder_created_at": ("invalid_created_at",),
    "null_created_at": ("missing_created_at",),
    "missing_id": ("missing_id",),
    "numeric_id": ("invalid_id",),
    "string_amount": ("invalid_amount",),
    "fractional_amount": ("invalid_amount",),
}


def test_records_with_bad_fields_are_quarantined_and_the_rest_lands(odd_sandbox, warehouse, caplog):
    payments = sorted(_truth(odd_sandbox, "payments"))
    broken = dict(zip(payments, BROKEN_PAYMENTS))  # payment id -> mode
    refund = sorted(_truth(odd_sandbox, "refunds"))[0]
    payout = sorted(_truth(odd_sandbox, "payouts"))[-1]
    event = sorted(_truth(odd_sandbox, "events"))[-1]
    _set_odd_records(odd_sandbox, {"bad_fields": [
        *({"resource": "payments", "id": pid, "mode": mode} for pid, mode in broken.items()),
        {"resource": "refunds", "id": refund, "mode": "fractional_amount"},
        {"resource": "events", "id": event, "mode": "placeholder_created_at"},
        {"resource": "payout_items", "id": payout, "mode": "string_amount"},
    ]})

    with caplog.at_level("INFO", logger="gocardless_commerce.extract.sync"):
        result = _sync(odd_sandbox, warehouse, _request("run-1"))

    # everything else landed, exactly as served
    landed = _landed(warehouse, "payments")
    assert set(landed) == set(payments) - set(broken)
    assert set(_landed(warehouse, "refunds")) == set(_truth(odd_sandbox, "refunds")) - {refund}
    assert set(_landed(warehouse, "events")) == set(_truth(odd_sandbox, "events")) - {event}
    # every bad record is in the quarantine, as sent, with its reason
    rows = _quarantine(warehouse)
    reasons = {(resource, reason) for resource, _, reason, *_ in rows}
    expected = {("payments", r) for mode in broken.values() for r in BROKEN_PAYMENTS[mode]}
    expected |= {("refunds", "invalid_amount"), ("events", "invalid_created_at"), ("payout_items", "invalid_amount")}
    assert reasons == expected
    string_amount = next(p for p, m in broken.items() if m == "string_amount")
    sent = next(json.loads(payload) for _, rid, _, payload, *_ in rows if rid == string_amount)
    assert sent["amount"] == str(_truth(odd_sandbox, "payments")[string_amount]["amount"])  # not coerced
    assert all(first == last == "run-1" for *_, first, last in rows)
    # counted by reason in the result, the run summary and meta.sync_runs
    assert result.records_quarantined == len(broken) + 3
    assert result.quarantined["invalid_amount"] == 4  # string + fractional payment, refund, payout item
    with transaction(warehouse) as conn:
        quarantined, summary = conn.execute(
            sa.text("SELECT records_quarantined, CAST(summary AS VARCHAR) FROM meta.sync_runs WHERE run_id = 'run-1'")
        ).one()
    assert quarantined == result.records_quarantined
    assert json.loads(summary)["quarantined"] == result.quarantined
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sync backfill")]
    assert f"{result.records_quarantined} quarantined {result.quarantined}" in done[0]  # the task log
    # the placeholder did not move (nor break) the events cursor
    assert _cursors(warehouse)["events"] <= PINNED_NOW.replace(tzinfo=None)

    # a rerun of the same run leaves the quarantine identical; another run only moves last_seen
    _sync(odd_sandbox, warehouse, _request("run-1"))
    assert _quarantine(warehouse) == rows
    _sync(odd_sandbox, warehouse, _request("run-2", full_refresh=True))
    again = _quarantine(warehouse)
    assert [row[:5] for row in again] == [row[:5] for row in rows]
    assert {row[5] for row in again} == {"run-2"}


def test_a_page_served_twice_and_reordered_lands_the_same_rows(odd_sandbox, warehouse):
    first = _sync(odd_sandbox, warehouse, _request("run-1"))
    items_before = _payout_items(warehouse)
    payments_before = _landed(warehouse, "payments")
    _set_odd_records(odd_sandbox, {"repeat_pages": ["payout_items", "payments"], "reverse": ["payout_items"]})

    again = _sync(odd_sandbox, warehouse, _request("run-2", full_refresh=True))

    assert _payout_items(warehouse) == items_before  # same keys, same payloads: no fee counted twice
    assert _landed(warehouse, "payments") == payments_before
    for stream in ("payout_items", "payments"):
        assert again.streams[stream].records == first.streams[stream].records  # distinct records
        assert again.streams[stream].repeated == first.streams[stream].records
        assert again.streams[stream].conflicting == 0
    assert again.records_quarantined == 0


def test_conflicting_copies_are_counted_and_every_version_kept(odd_sandbox, warehouse):
    payment = sorted(_truth(odd_sandbox, "payments"))[3]
    payout = sorted(_truth(odd_sandbox, "payouts"))[-1]
    _set_odd_records(odd_sandbox, {"conflicting_copies": [
        {"resource": "payments", "id": payment}, {"resource": "payout_items", "id": payout},
    ]})

    result = _sync(odd_sandbox, warehouse, _request("run-1"))

    assert result.streams["payments"].conflicting == 1
    assert result.streams["payout_items"].conflicting == 1
    assert result.streams["payments"].records == len(_truth(odd_sandbox, "payments"))  # distinct, not copies
    copies = [row for row in _quarantine(warehouse) if row[2] == "conflicting_copy"]
    payment_copies = [json.loads(row[3]) for row in copies if row[0] == "payments"]
    assert len(payment_copies) == 2 and all(c["id"] == payment for c in payment_copies)
    assert payment_copies[0] != payment_copies[1]
    assert len([row for row in copies if row[0] == "payout_items"]) == 2
    assert result.quarantined["conflicting_copy"] == 2
    # the rerun finds the same rows
    _sync(odd_sandbox, warehouse, _request("run-1"))
    assert [row for row in _quarantine(warehouse) if row[2] == "conflicting_copy"] == copies


def test_cursors_stay_in_the_window_asked_for_and_never_move_backwards(odd_sandbox, warehouse):
    payments = sorted(_truth(odd_sandbox, "payments"), key=lambda p: _truth(odd_sandbox, "payments")[p]["created_at"])
    _set_odd_records(odd_sandbox, {"bad_fields": [
        {"resource": "payments", "id": payments[-1], "mode": "far_future_created_at"},
        {"resource": "refunds", "id": sorted(_truth(odd_sandbox, "refunds"))[0], "mode": "epoch_created_at"},
    ]})
    _sync(odd_sandbox, warehouse, _request("run-1"))
    cursors = _cursors(warehouse)
    window_start = sync.months_before(PINNED_NOW, 18).replace(tzinfo=None)
    assert window_start <= cursors["payments"] <= PINNED_NOW.replace(tzinfo=None)  # not 2999
    assert window_start <= cursors["refunds"] <= PINNED_NOW.replace(tzinfo=None)
    # valid timestamps, however odd, land
    assert payments[-1] in _landed(warehouse, "payments")

    # a later run over an earlier window (a rerun of an old day) does not move any cursor back
    _sync(odd_sandbox, warehouse, _request("old-day", now=PINNED_NOW - timedelta(days=40), history_months=1, full_refresh=True))
    assert _cursors(warehouse) == cursors


def test_advance_cursor_clamps_to_the_window():
    run = sync._Sync.__new__(sync._Sync)
    run.request = _request("unit")
    run.cursors = {}
    start = PINNED_NOW - timedelta(days=10)
    run._advance_cursor("payments", PINNED_NOW - timedelta(days=400), start)  # older than asked
    assert run.cursors["payments"] == start
    run._advance_cursor("payments", PINNED_NOW + timedelta(days=400_000), start)  # year 3000
    assert run.cursors["payments"] == PINNED_NOW
    run._advance_cursor("payments", PINNED_NOW - timedelta(days=5), start)  # never backwards
    assert run.cursors["payments"] == PINNED_NOW


# -- parents refreshed through a child's event ---------------------------------------------------
def _fresh_backfill(server, tmp_path, now):
    engine = get_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    apply_migrations(engine)
    _sync(server, engine, _request("fresh", now=now))
    return engine


def _assert_equal_to_fresh_backfill(incremental, fresh, resources):
    """Field for field, over the fresh backfill's window (the incremental warehouse also keeps
    the day that aged out of it)."""
    for resource in resources:
        fresh_rows = _landed(fresh, resource)
        kept = _landed(incremental, resource)
        assert fresh_rows, resource
        assert {i: kept.get(i) for i in fresh_rows} == fresh_rows, resource


def test_a_refund_refreshes_its_payment_on_an_incremental_sync(odd_sandbox, warehouse, tmp_path):
    _sync(odd_sandbox, warehouse, _request("run-1"))
    truth = _truth(odd_sandbox, "payments")
    payment = next(p for p in sorted(truth) if truth[p]["status"] == "paid_out" and truth[p]["amount_refunded"] == 0)
    _refund_in_full(odd_sandbox, payment)
    odd_sandbox.advance(days=1)
    tomorrow = PINNED_NOW + timedelta(days=1)

    _sync(odd_sandbox, warehouse, _request("run-2", now=tomorrow))

    assert _landed(warehouse, "payments")[payment]["amount_refunded"] == truth[payment]["amount"]
    fresh = _fresh_backfill(odd_sandbox, tmp_path, tomorrow)
    _assert_equal_to_fresh_backfill(warehouse, fresh, ("payments", "refunds", "mandates", "subscriptions", "payouts"))


def _refund_in_full(server, payment_id: str) -> None:
    payment = _truth(server, "payments")[payment_id]
    response = requests.post(
        f"{server.base_url}/refunds", headers=sandbox_headers(server.merchants[0].access_token), timeout=10,
        json={"refunds": {"amount": payment["amount"], "total_amount_confirmation": payment["amount"],
                          "links": {"payment": payment_id}}},
    )
    assert response.status_code == 201, response.text


def test_a_refund_whose_payment_is_older_than_the_window_brings_its_payment(odd_sandbox, warehouse):
    window_start = sync.months_before(PINNED_NOW, 2)
    truth = _truth(odd_sandbox, "payments")
    old = next(p for p in sorted(truth) if truth[p]["status"] == "paid_out" and truth[p]["amount_refunded"] == 0
               and truth[p]["created_at"] < window_start.isoformat())
    _refund_in_full(odd_sandbox, old)  # a refund today, of a payment created before the window

    result = _sync(odd_sandbox, warehouse, _request("run-1", history_months=2))

    payments = _landed(warehouse, "payments")
    refunded = {r["links"]["payment"] for r in _landed(warehouse, "refunds").values()}
    assert old in refunded and refunded <= set(payments)
    assert all(payments[p] == _truth(odd_sandbox, "payments")[p] for p in refunded)
    assert result.streams["payments"].records == len(payments)


def test_a_mandate_replaced_moves_its_subscriptions_on_an_incremental_sync(odd_sandbox, warehouse, tmp_path):
    """GoCardless moves a replaced mandate's subscriptions to the new mandate and reports a
    mandate event only; the sandbox is told to do exactly that."""
    _sync(odd_sandbox, warehouse, _request("run-1"))
    org = odd_sandbox.merchants[0].organisation_id
    subscriptions = _truth(odd_sandbox, "subscriptions")
    moved = next(s for s in sorted(subscriptions) if subscriptions[s]["status"] == "active")
    old_mandate = subscriptions[moved]["links"]["mandate"]
    new_mandate = next(m for m in sorted(_truth(odd_sandbox, "mandates")) if m != old_mandate)
    odd_sandbox.advance(days=1)
    with odd_sandbox.simulation.change(org) as ctx:
        mandate = ctx.load("mandates", old_mandate)
        mandate["links"]["new_mandate"] = new_mandate
        ctx.save("mandates", mandate)
        subscription = ctx.load("subscriptions", moved)
        subscription["links"]["mandate"] = new_mandate
        ctx.save("subscriptions", subscription)
        ctx.emit("mandates", "replaced", odd_sandbox.simulation.now, {"mandate": old_mandate, "new_mandate": new_mandate},
                 {"origin": "gocardless", "cause": "scheme_identifier_changed"}, {})
    tomorrow = PINNED_NOW + timedelta(days=1)

    _sync(odd_sandbox, warehouse, _request("run-2", now=tomorrow))

    assert _landed(warehouse, "subscriptions")[moved]["links"]["mandate"] == new_mandate
    fresh = _fresh_backfill(odd_sandbox, tmp_path, tomorrow)
    _assert_equal_to_fresh_backfill(warehouse, fresh, ("subscriptions", "mandates", "payments"))
