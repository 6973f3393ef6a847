"""Schema creation is explicit and repeatable, on DuckDB and PostgreSQL alike."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gocardless_commerce.extract.landing import RESOURCES
from gocardless_commerce.warehouse.migrations import MigrationError, apply_migrations, split_statements


def _tables(engine, schema: str) -> set[str]:
    # information_schema works on both backends (DuckDB's SQLAlchemy inspector does not).
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
            ).scalars()
        )


def test_migrations_create_every_raw_table_and_are_idempotent(warehouse):
    assert apply_migrations(warehouse) == []  # the fixture applied them already
    assert _tables(warehouse, "raw") == {f"gocardless_{name}" for name in RESOURCES} | {"gocardless_quarantine"}
    assert {"schema_migrations", "users", "data_connections", "sync_state", "sync_runs"} <= _tables(warehouse, "meta")
    with warehouse.connect() as conn:
        columns = set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = 'gocardless_payments'"
                )
            ).scalars()
        )
    assert {"user_id", "data_connection_id", "id", "created_at", "payload", "extracted_at", "run_id"} <= columns


def test_migration_005_keys_payout_items_by_what_they_are(warehouse_url, tmp_path):
    """Items landed under the old occurrence keys get the new keys; copies a repeated page
    landed under ``…:2`` collapse into one."""
    import json
    import shutil

    from gocardless_commerce.extract.landing import payout_item_key
    from gocardless_commerce.warehouse.engine import get_engine, transaction
    from gocardless_commerce.warehouse.migrations import migration_files

    old_folder = tmp_path / "old"
    old_folder.mkdir()
    for path in migration_files():
        if path.name < "005":
            shutil.copy(path, old_folder)
    engine = get_engine(warehouse_url)
    apply_migrations(engine, old_folder)
    items = [
        ("PO1:gocardless_fee:PM1:1", {"type": "gocardless_fee", "amount": "-20.0", "links": {"payment": "PM1"}}),
        ("PO1:gocardless_fee:PM1:2", {"type": "gocardless_fee", "amount": "-20.0", "links": {"payment": "PM1"}}),
        ("PO1:payment_paid_out:PM1:1", {"type": "payment_paid_out", "amount": "1000.0", "links": {"payment": "PM1"}}),
        ("PO1:app_fee:-:1", {"type": "app_fee", "amount": "-1.5", "links": {}}),
    ]
    with transaction(engine) as conn:
        for item_id, payload in items:
            conn.execute(
                sa.text("INSERT INTO raw.gocardless_payout_items VALUES ('dc', :id, 'u', NULL, 'PO1', "
                        "CAST(:payload AS JSON), CAST('2026-01-01' AS TIMESTAMP), 'run', NULL)"),
                {"id": item_id, "payload": json.dumps(payload)},
            )
    apply_migrations(engine)
    with transaction(engine) as conn:
        ids = conn.execute(sa.text("SELECT id FROM raw.gocardless_payout_items ORDER BY id")).scalars().all()
        assert conn.execute(sa.text("SELECT records_quarantined FROM meta.sync_runs")).all() == []
    assert ids == sorted({payout_item_key("PO1", p["type"], p["links"], p["amount"]) for _, p in items})
    assert len(ids) == 3


def test_an_edited_migration_is_refused(warehouse, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "900_extra.sql").write_text("CREATE SCHEMA IF NOT EXISTS extra;")
    assert apply_migrations(warehouse, folder) == ["900_extra"]
    (folder / "900_extra.sql").write_text("CREATE SCHEMA IF NOT EXISTS extra2;")
    with pytest.raises(MigrationError, match="900_extra.sql changed after it was applied"):
        apply_migrations(warehouse, folder)


def test_split_statements_ignores_comments():
    sql = "-- a comment; with a semicolon\nCREATE SCHEMA a;\n\nCREATE TABLE a.t (x INT); -- trailing\n"
    assert split_statements(sql) == ["CREATE SCHEMA a", "CREATE TABLE a.t (x INT)"]
