"""The commerce DDL and analyst views apply on DuckDB and PostgreSQL, and take the model's rows."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa

from gocardless_commerce import settings
from gocardless_commerce.model import build_subscriptions, build_transactions, schema, subscriptions_insight
from gocardless_commerce.warehouse.migrations import split_statements
from tests.model import scenario


def python_rows(frame):
    """Rows as plain Python values (numpy scalars unwrapped, NaN/NaT/NA → None) for the DB driver."""
    def plain(value):
        if hasattr(value, "item"):
            value = value.item()
        return None if value is None or value is pd.NaT or value is pd.NA or value != value else value
    return [{c: plain(v) for c, v in zip(frame.columns, row, strict=True)} for row in frame.itertuples(index=False)]


def insert(conn, table, frame):
    columns = ", ".join(frame.columns)
    values = ", ".join(f":{c}" for c in frame.columns)
    conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), python_rows(frame))


def test_commerce_tables_views_and_a_round_trip(warehouse):
    frames = scenario.frames()
    transactions = build_transactions(frames).drop(columns=schema.ISSUES)
    insight = subscriptions_insight(build_subscriptions(frames), frames.events,
                                    now=scenario.NOW, history_months=scenario.HISTORY_MONTHS)
    with warehouse.begin() as conn:
        for view in sorted((settings.sql_dir() / "views").glob("*.sql")):
            for statement in split_statements(view.read_text()):
                conn.exec_driver_sql(statement)
        insert(conn, "commerce.transactions", transactions)
        insert(conn, "commerce.subscriptions", build_subscriptions(frames).drop(columns=schema.ISSUES))
        conn.execute(sa.text(
            "INSERT INTO commerce.quarantine (data_connection_id, source_table, source_id, occurrence, user_id, row_id, "
            "failed_rules, payload, first_run_id, last_run_id) VALUES ('dc_1', 'commerce.transactions', 'PM9', 1, "
            "'user_1', NULL, CAST(:rules AS JSON), CAST(:payload AS JSON), 'r', 'r')"),
            {"rules": json.dumps(["amount_not_null"]), "payload": "{}"})
        insert(conn, "commerce.subscriptions_insight", insight)
        fee = conn.execute(sa.text("SELECT fee_amount FROM commerce.transactions WHERE source_id = 'PM1'")).scalar_one()
        bridge = conn.execute(sa.text(
            "SELECT opening_mrr, net_new_mrr, mrr FROM commerce.mrr_movements "
            "WHERE currency = 'GBP' AND month = DATE '2024-02-01'")).one()
        conn.execute(sa.text("SELECT count(*) FROM commerce.latest_month_per_merchant")).scalar_one()
    assert str(fee) == "0.5550"
    assert [str(v) for v in bridge] == ["30.00", "-9.17", "20.83"]


def test_006_folds_the_per_run_quarantine_into_one_row_per_record(warehouse_url, tmp_path):
    """A warehouse quarantined by the old shape (one row per run) keeps each record once, with the
    first and last run that found it and the last run's rules."""
    import shutil

    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations, migration_files

    old = tmp_path / "before_006"
    old.mkdir()
    for path in migration_files():
        if path.name < "006":
            shutil.copy(path, old / path.name)
    engine = get_engine(warehouse_url)
    apply_migrations(engine, old)
    rows = [  # run_id, source_id, rules
        ("manual__2026-11-01", "PM1", ["amount_not_null"]),
        ("scheduled__2026-11-02", "PM1", ["amount_not_null", "status_in_set"]),
        ("scheduled__2026-11-02", "PM2", ["currency_in_set"]),
    ]
    with engine.begin() as conn:
        for run_id, source_id, rules in rows:
            conn.execute(sa.text(
                "INSERT INTO commerce.quarantine VALUES (:run, 'commerce.transactions', 'dc_1', 'user_1', :sid, 1, NULL, "
                "CAST(:rules AS JSON), CAST('{}' AS JSON))"), {"run": run_id, "sid": source_id, "rules": json.dumps(rules)})
    assert "006_quarantine_once" in apply_migrations(engine)
    with engine.begin() as conn:
        got = conn.execute(sa.text(
            "SELECT source_id, first_run_id, last_run_id, CAST(failed_rules AS VARCHAR) FROM commerce.quarantine "
            "ORDER BY source_id")).all()
    assert [(s, f, last, json.loads(r)) for s, f, last, r in got] == [
        ("PM1", "manual__2026-11-01", "scheduled__2026-11-02", ["amount_not_null", "status_in_set"]),
        ("PM2", "scheduled__2026-11-02", "scheduled__2026-11-02", ["currency_in_set"]),
    ]
