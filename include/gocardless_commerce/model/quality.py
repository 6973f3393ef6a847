"""What every validation rule saw in a model run, summed over all the run's chunks.

A large merchant is validated chunk by chunk (:func:`.stages.validate`); a rule's result in one
chunk says little ("14/14 passed" in the first chunk while a later one quarantined 30 payouts).
:class:`RuleTotals` adds the chunks up per table and rule; the validate and insights stages
stage the totals, and the load writes them to ``meta.validation_results`` in its transaction
(a rerun of the same run replaces its rows: no duplicates, and a run that loads nothing records
nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gocardless_commerce.model.validation import RuleResult

_SUMMED = ("evaluated", "failed", "chunks")


class RuleTotals:
    """Rule results per table, summed over chunks; JSON-able (:meth:`as_dict`) for staging."""

    def __init__(self, tables: Mapping[str, list[dict]] | None = None) -> None:
        self._tables: dict[str, dict[str, dict]] = {
            table: {rule["rule"]: dict(rule) for rule in rules} for table, rules in (tables or {}).items()
        }

    def add(self, table: str, results: Iterable[RuleResult]) -> None:
        rules = self._tables.setdefault(table, {})
        for result in results:
            total = rules.setdefault(result.rule, {
                "rule": result.rule, "column": result.column, "level": result.level, "description": result.description,
                "evaluated": 0, "failed": 0, "chunks": 0,
            })
            total["evaluated"] += result.evaluated
            total["failed"] += result.failed
            total["chunks"] += 1

    def as_dict(self) -> dict[str, list[dict]]:
        """{table: [rule totals, in rule order]}."""
        return {table: list(rules.values()) for table, rules in self._tables.items()}

    def failed(self, table: str, rule: str) -> int:
        return self._tables.get(table, {}).get(rule, {}).get("failed", 0)


def write_validation_results(conn: Connection, *, user_id: str, data_connection_id: str, run_id: str,
                             validated_at: datetime, tables: Mapping[str, list[dict]]) -> int:
    """Replace the run's rows of ``meta.validation_results`` for these tables; rows written."""
    rows = [
        {"dc": data_connection_id, "user": user_id, "run": run_id, "at": validated_at, "table": table,
         "rule": rule["rule"], "column": rule["column"], "level": rule["level"], "evaluated": rule["evaluated"],
         "failed": rule["failed"], "chunks": rule["chunks"], "description": rule["description"]}
        for table, rules in tables.items() for rule in rules
    ]
    if tables:
        conn.execute(sa.text(
            "DELETE FROM meta.validation_results WHERE data_connection_id = :dc AND run_id = :run "
            "AND source_table IN :tables").bindparams(sa.bindparam("tables", expanding=True)),
            {"dc": data_connection_id, "run": run_id, "tables": sorted(tables)})
    if rows:
        conn.execute(sa.text(
            "INSERT INTO meta.validation_results (data_connection_id, user_id, run_id, validated_at, source_table, "
            "rule, column_name, level, evaluated, failed, chunks, description) VALUES (:dc, :user, :run, :at, :table, "
            ":rule, :column, :level, :evaluated, :failed, :chunks, :description)"), rows)
    return len(rows)
