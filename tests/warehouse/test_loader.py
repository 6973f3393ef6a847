"""The bulk upsert path behaves the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
import sqlalchemy as sa

from gocardless_commerce.extract import landing
from gocardless_commerce.warehouse.engine import transaction

CTX = landing.LandingContext(user_id="u1", data_connection_id="dc1", run_id="run-1", extracted_at="2026-11-01 00:00:00")


def _payment(pid: str, status: str = "submitted", amount: int = 1000) -> dict:
    return {"id": pid, "created_at": "2026-10-01T12:00:00.000Z", "amount": amount, "status": status}


def _rows(engine, table="raw.gocardless_payments"):
    with transaction(engine) as conn:
        return conn.execute(
            sa.text(f"SELECT id, CAST(payload AS VARCHAR), run_id, removed_at FROM {table} ORDER BY id")
        ).all()


def test_upsert_inserts_then_updates_only_what_changed(warehouse):
    payments = landing.RESOURCES["payments"]
    with transaction(warehouse) as conn:
        assert landing.land(conn, payments, [_payment("PM1"), _payment("PM2")], CTX) == 2
    rerun = landing.LandingContext(**{**vars(CTX), "run_id": "run-2"})
    with transaction(warehouse) as conn:
        # PM1 unchanged, PM2 changed status: only PM2 is rewritten.
        assert landing.land(conn, payments, [_payment("PM1"), _payment("PM2", "charged_back")], rerun) == 1
    rows = _rows(warehouse)
    assert [(r[0], json.loads(r[1])["status"], r[2]) for r in rows] == [
        ("PM1", "submitted", "run-1"),
        ("PM2", "charged_back", "run-2"),
    ]


def test_duplicate_ids_in_one_batch_keep_the_last(warehouse):
    with transaction(warehouse) as conn:
        changed = landing.land(conn, landing.RESOURCES["payments"], [_payment("PM1"), _payment("PM1", "paid_out")], CTX)
    assert changed == 1
    assert json.loads(_rows(warehouse)[0][1])["status"] == "paid_out"


def test_events_are_append_only(warehouse):
    event = {"id": "EV1", "created_at": "2026-10-01T12:00:00.000Z", "resource_type": "payments", "action": "created"}
    with transaction(warehouse) as conn:
        assert landing.land(conn, landing.RESOURCES["events"], [event], CTX) == 1
        assert landing.land(conn, landing.RESOURCES["events"], [dict(event, action="changed")], CTX) == 0
    with transaction(warehouse) as conn:
        assert conn.execute(sa.text("SELECT action FROM raw.gocardless_events")).scalar_one() == "created"


def test_a_failed_transaction_lands_nothing(warehouse):
    try:
        with transaction(warehouse) as conn:
            landing.land(conn, landing.RESOURCES["payments"], [_payment("PM1")], CTX)
            raise RuntimeError("killed mid-run")
    except RuntimeError:
        pass
    assert _rows(warehouse) == []


def test_mark_removed_flags_vanished_rows_and_clears_on_return(warehouse):
    customers = landing.RESOURCES["customers"]
    records = [{"id": f"CU{i}", "created_at": "2026-10-01T12:00:00.000Z"} for i in range(3)]
    with transaction(warehouse) as conn:
        landing.land(conn, customers, records, CTX)
        assert landing.mark_removed(conn, customers, "dc1", ["CU0", "CU2"], "2026-11-02 00:00:00") == 1
    assert [r[0] for r in _rows(warehouse, customers.table) if r[3] is not None] == ["CU1"]
    with transaction(warehouse) as conn:
        assert landing.land(conn, customers, records, CTX) == 1  # CU1 is back: removed_at cleared
    assert all(r[3] is None for r in _rows(warehouse, customers.table))


def test_payout_item_ids_say_what_the_item_is():
    """payout + type + linked object + amount: the same item listed twice is one item."""
    items = [
        {"type": "payment_paid_out", "amount": "10.0", "links": {"payment": "PM1"}},
        {"type": "gocardless_fee", "amount": "-1.5", "links": {"payment": "PM1"}},
        {"type": "gocardless_fee", "amount": "-1.5", "links": {"payment": "PM1"}},
        {"type": "app_fee", "amount": "-0.2", "links": {}},
    ]
    assert landing.payout_item_ids("PO1", items) == [
        "PO1:payment_paid_out:PM1:10.0",
        "PO1:gocardless_fee:PM1:-1.5",
        "PO1:gocardless_fee:PM1:-1.5",
        "PO1:app_fee:-:-0.2",
    ]
    assert landing.payout_item_ids("PO1", list(reversed(items))) == list(reversed(landing.payout_item_ids("PO1", items)))


def _raw_records(resource: str, records: list[dict]):
    """Records as the client hands them to the landing: parsed with the resource's schema."""
    from gocardless_commerce.client.pagination import raw_records

    return raw_records(resource, msgspec.Raw(msgspec.json.encode(records)))


def test_land_raw_stores_the_api_json_byte_for_byte_and_matches_land(warehouse):
    from gocardless_commerce.client.pagination import raw_records

    payments = landing.RESOURCES["payments"]
    as_sent = b'{"id":"PM1","created_at":"2026-10-01T12:00:00.000Z","amount":1000,"status":"submitted"}'
    page = b"[" + msgspec.json.encode(_payment("PM2")) + b"," + as_sent + b"]"
    records = raw_records("payments", msgspec.Raw(page))
    with transaction(warehouse) as conn:
        assert landing.land_raw(conn, payments, records, CTX) == 2
        # the same records as dicts: nothing to change
        assert landing.land(conn, payments, [_payment("PM1"), _payment("PM2")], CTX) == 0
    rows = _rows(warehouse)
    assert rows[0][1].replace(" ", "") == as_sent.decode()
    events = landing.RESOURCES["events"]
    event = {"id": "EV1", "created_at": "2026-10-01T12:00:00.000Z", "resource_type": "payments", "action": "created"}
    with transaction(warehouse) as conn:
        assert landing.land_raw(conn, events, _raw_records("events", [event]), CTX) == 1
        assert conn.execute(sa.text("SELECT resource_type, action FROM raw.gocardless_events")).one() == ("payments", "created")


def test_land_raw_payout_items_keys_items_like_land_payout_items(warehouse):
    items = [
        {"type": "payment_paid_out", "amount": "10.0", "links": {"payment": "PM1"}},
        {"type": "gocardless_fee", "amount": "-1.0", "links": {"payment": "PM1"}},
        {"type": "app_fee", "amount": "-0.5", "links": {"payment": "PM1"}},
    ]
    records = _raw_records("payout_items", items)
    ids = landing.payout_item_ids("PO1", items)
    with transaction(warehouse) as conn:
        assert landing.land_raw(conn, landing.RESOURCES["payout_items"], records, CTX,
                                ids=ids, extras=[("PO1",)] * len(items)) == 3
        assert landing.land_payout_items(conn, [("PO1", items)], CTX) == 0
        assert conn.execute(sa.text("SELECT payout_id, count(*) FROM raw.gocardless_payout_items GROUP BY 1")).one() == ("PO1", 3)
    assert [r[0] for r in _rows(warehouse, "raw.gocardless_payout_items")] == sorted(ids)


def test_the_sync_lands_records_without_importing_pandas(tmp_path):
    # pandas costs the sync process ~40 MB of RSS; the landing path must not pull it in.
    script = f"""
import sys, msgspec
from gocardless_commerce.extract import landing, sync
from gocardless_commerce.client.pagination import raw_records
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
engine = get_engine("duckdb:///{tmp_path / 'w.duckdb'}")
apply_migrations(engine)
body = b'[{{"id":"PM1","created_at":"2026-10-01T12:00:00.000Z","amount":100}}]'
records = raw_records("payments", msgspec.Raw(body))
ctx = landing.LandingContext(user_id="u", data_connection_id="dc", run_id="r", extracted_at="2026-11-01 00:00:00")
with transaction(engine) as conn:
    assert landing.land_raw(conn, landing.RESOURCES["payments"], records, ctx) == 1
    landing.mark_removed(conn, landing.RESOURCES["payments"], "dc", ["PM1"], "2026-11-01 00:00:00")
assert "pandas" not in sys.modules, "pandas was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_uuid_key_set_deletes_exactly_what_a_text_one_does(warehouse):
    """The commerce load keeps its million row ids as UUIDs (16 bytes, not 36 characters): the
    rows it deletes are the ones a text key set would."""
    from gocardless_commerce.model.ids import commerce_id
    from gocardless_commerce.warehouse.loader import delete_missing, key_set

    ids = [commerce_id("dc1", "payment", f"PM{n}") for n in range(6)]
    for key_type in ("VARCHAR", "UUID"):
        with transaction(warehouse) as conn:
            conn.exec_driver_sql("CREATE TABLE kept_rows (id VARCHAR, data_connection_id VARCHAR)")
            conn.execute(sa.text("INSERT INTO kept_rows VALUES (:id, :dc)"),
                         [{"id": i, "dc": "dc1"} for i in ids] + [{"id": ids[0], "dc": "dc2"}])
            with key_set(conn, key_type) as keep:
                keep.add(ids[:2])
                keep.add([ids[4]])
                removed = delete_missing(conn, "kept_rows", {"data_connection_id": "dc1"}, "id", keep)
            left = sorted(conn.execute(sa.text("SELECT id, data_connection_id FROM kept_rows")).all())
            conn.exec_driver_sql("DROP TABLE kept_rows")
        assert removed == 3, key_type
        assert left == sorted([(ids[0], "dc1"), (ids[1], "dc1"), (ids[4], "dc1"), (ids[0], "dc2")]), key_type
