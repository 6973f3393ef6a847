"""The commerce DDL and analyst views apply on DuckDB and PostgreSQL, and take the model's rows."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa

from gocardless_commerce import settings
from gocardless_commerce.model import build_subscriptions, build_transactions, subscriptions_insight
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
    transactions = build_transactions(frames)
    insight = subscriptions_insight(build_subscriptions(frames), frames.events,
                                    now=scenario.NOW, history_months=scenario.HISTORY_MONTHS)
    with warehouse.begin() as conn:
        for view in sorted((settings.sql_dir() / "views").glob("*.sql")):
            for statement in split_statements(view.read_text()):
                conn.exec_driver_sql(statement)
        insert(conn, "commerce.transactions", transactions)
        insert(conn, "commerce.subscriptions", build_subscriptions(frames))
        conn.execute(sa.text(
            "INSERT INTO commerce.quarantine VALUES ('r', 'commerce.transactions', 'dc_1', 'user_1', 'PM9', 1, NULL, "
            "CAST(:rules AS JSON), CAST(:payload AS JSON))"), {"rules": json.dumps(["amount_not_null"]), "payload": "{}"})
        insert(conn, "commerce.subscriptions_insight", insight)
        fee = conn.execute(sa.text("SELECT fee_amount FROM commerce.transactions WHERE source_id = 'PM1'")).scalar_one()
        bridge = conn.execute(sa.text(
            "SELECT opening_mrr, net_new_mrr, mrr FROM commerce.mrr_movements "
            "WHERE currency = 'GBP' AND month = DATE '2024-02-01'")).one()
        conn.execute(sa.text("SELECT count(*) FROM commerce.latest_month_per_merchant")).scalar_one()
    assert str(fee) == "0.5550"
    assert [str(v) for v in bridge] == ["30.00", "-9.17", "20.83"]
