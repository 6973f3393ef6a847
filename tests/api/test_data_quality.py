"""The data-quality reads on a real warehouse (DuckDB and PostgreSQL): runs with their rule
counts, quarantined rows filtered by table and rule, a page at a time."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from gocardless_commerce.api import models
from gocardless_commerce.api.data_quality import quarantine_page, runs_page
from gocardless_commerce.model.quality import write_validation_results
from gocardless_commerce.warehouse.engine import transaction


def _rule(name: str, failed: int, column: str | None = None) -> dict:
    return {"rule": name, "column": column, "level": "row", "evaluated": 500, "failed": failed, "chunks": 5,
            "description": f"expectation of {name}"}


def _quarantine(conn, source_id: str, rules: list[str], run: str = "run-2", table: str = "commerce.transactions") -> None:
    conn.execute(sa.text(
        "INSERT INTO commerce.quarantine (data_connection_id, source_table, source_id, occurrence, user_id, row_id, "
        "failed_rules, payload, first_run_id, last_run_id) VALUES ('dc-1', :table, :id, 1, 'user-1', :id, :rules, "
        ":payload, 'run-1', :run)"),
        {"table": table, "id": source_id, "rules": json.dumps(rules), "payload": json.dumps({"row": {"id": source_id}}),
         "run": run})


@pytest.fixture
def validated(warehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path))
    with transaction(warehouse) as conn:
        conn.execute(sa.text("INSERT INTO meta.users (id, name, legal_identifiers, created_at, updated_at) "
                             "VALUES ('user-1', 'Shop', '{}', :t, :t)"), {"t": datetime(2026, 11, 1)})
        for number, at in ((1, datetime(2026, 11, 1, 6)), (2, datetime(2026, 11, 2, 6))):
            write_validation_results(conn, user_id="user-1", data_connection_id="dc-1", run_id=f"run-{number}",
                                     validated_at=at, tables={
                                         "commerce.transactions": [_rule("currency_in_set", number, "currency"),
                                                                   _rule("amount_integer_minor_units", 1)],
                                         "commerce.subscriptions": [_rule("status_in_set", 0, "status")]})
        _quarantine(conn, "PM1", ["currency_in_set"])
        _quarantine(conn, "PM2", ["currency_in_set", "amount_integer_minor_units"])
        _quarantine(conn, "PM3", ["amountXinteger_minor_units"])  # "_" of the filter is no wildcard
        _quarantine(conn, "SB1", ["status_in_set"], table="commerce.subscriptions")
    return warehouse


def test_runs_come_newest_first_with_every_rule_counted(validated):
    runs, total = runs_page("user-1", models.DataQualityRunQuery(per_page=1))
    assert total == 2 and [run["run_id"] for run in runs] == ["run-2"]
    tables = {table["table"]: table for table in runs[0]["tables"]}
    assert [(r["rule"], r["evaluated"], r["failed"]) for r in tables["commerce.transactions"]["rules"]] == [
        ("amount_integer_minor_units", 500, 1), ("currency_in_set", 500, 2)]
    assert tables["commerce.subscriptions"]["failed_rules"] == 0
    older, _ = runs_page("user-1", models.DataQualityRunQuery(page=2, per_page=1))
    assert older[0]["run_id"] == "run-1"
    assert runs_page("user-1", models.DataQualityRunQuery(data_connection_id="dc-other")) == ([], 0)


def test_quarantined_rows_filter_by_rule_and_table_and_carry_reasons(validated):
    rows, total = quarantine_page("user-1", models.QuarantineQuery(rule="amount_integer_minor_units"))
    assert total == 1 and rows[0]["source_id"] == "PM2"
    assert rows[0]["failed_rules"] == [
        {"rule": "currency_in_set", "reason": "expectation of currency_in_set"},
        {"rule": "amount_integer_minor_units", "reason": "expectation of amount_integer_minor_units"}]
    rows, total = quarantine_page("user-1", models.QuarantineQuery(table="commerce.subscriptions"))
    assert [row["source_id"] for row in rows] == ["SB1"] and total == 1
    rows, total = quarantine_page("user-1", models.QuarantineQuery(per_page=2, page=2))
    assert total == 4 and len(rows) == 2
