"""Schema creation is explicit and repeatable, on DuckDB and PostgreSQL alike."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from gocardless_commerce.extract.landing import RESOURCES
from gocardless_commerce.warehouse.migrations import MigrationError, apply_migrations, migration_files, split_statements, migration_dialect


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


def test_a_missing_or_empty_migrations_folder_is_an_error(warehouse, tmp_path):
    for folder in (tmp_path / "absent", tmp_path):
        with pytest.raises(MigrationError, match="No warehouse migrations in"):
            apply_migrations(warehouse, folder)


def test_a_home_elsewhere_still_migrates_from_the_code(tmp_path):
    """GC_COMMERCE_HOME moves what runs write, not the schema that ships with the code."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "GC_COMMERCE_HOME": str(tmp_path)}
    env.pop("WAREHOUSE_URL", None)
    env.pop("GC_COMMERCE_DATA_DIR", None)
    env.pop("GC_COMMERCE_SQL_DIR", None)
    env.pop("GC_COMMERCE_REGISTRY_SNAPSHOT", None)
    done = subprocess.run([sys.executable, "-m", "gocardless_commerce", "warehouse", "migrate"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "warehouse.duckdb").exists()
    listed = subprocess.run([sys.executable, "-m", "gocardless_commerce", "merchants", "list"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
def _migrate_in_a_process(url: str, start) -> list[str]:
    start.wait(30)
    from gocardless_commerce.warehouse.engine import get_engine

    return apply_migrations(get_engine(url))


@pytest.mark.postgres
def test_four_processes_migrating_a_fresh_postgres_warehouse_all_succeed():
    """Every task migrates first; on a fresh warehouse they used to race (UniqueViolation)."""
    import multiprocessing
    import uuid

    import psycopg

    from tests.fixtures.warehouse import PG_ADMIN_DSN

    name = f"gc_wt_ops_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        context = multiprocessing.get_context("spawn")
        start = context.Manager().Event()
        with context.Pool(4) as pool:
            results = [pool.apply_async(_migrate_in_a_process, (url, start)) for _ in range(4)]
            time.sleep(3)  # every worker imported and is waiting at the start line
            start.set()
            applied = [r.get(timeout=120) for r in results]
        postgres_migrations = [p for p in migration_files() if migration_dialect(p) in (None, "postgresql")]
        assert sorted(len(a) for a in applied) == [0, 0, 0, len(postgres_migrations)]
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_migration_for_one_warehouse_runs_only_there(warehouse, warehouse_url):
    """``010_no_api_indexes.duckdb.sql``: DuckDB drops 008's API indexes (in memory, unused by
    its reads, too big for the model's memory limit at 1M payments); PostgreSQL keeps them."""
    with warehouse.connect() as conn:
        versions = set(conn.execute(sa.text("SELECT version FROM meta.schema_migrations")).scalars())
        if warehouse_url.startswith("duckdb"):
            indexes = set(conn.execute(sa.text("SELECT index_name FROM duckdb_indexes() WHERE schema_name = 'commerce'")).scalars())
        else:
            indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'commerce'")).scalars())
    duckdb = warehouse_url.startswith("duckdb")
    assert ("010_no_api_indexes.duckdb" in versions) is duckdb
    assert ("transactions_by_user_value_date" in indexes) is not duckdb
    assert "transactions_by_connection" in indexes
