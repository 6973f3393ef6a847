"""The reconciliation's reads and writes in the warehouse (same SQL on DuckDB and PostgreSQL).

A merchant's period is written in one transaction that first deletes what an earlier run of
the period wrote, so a rerun replaces it and a failure leaves the previous result whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gocardless_commerce.reconciliation.apply import (
    GATEWAY_STATE,
    SETTLED_ON,
    LogEntry,
    Merchant,
    Outcome,
    PaymentMethod,
    Transaction,
    WarehouseState,
)
from gocardless_commerce.model.mapping import PROVIDER_NAME
from gocardless_commerce.warehouse.loader import Column, UpsertTarget, as_text, staged, upsert

PERIOD_TABLES = ("reconciliation.gateway_events", "reconciliation.log", "reconciliation.external_refunds")


def _target(table: str, key: tuple[str, ...], columns: dict[str, str]) -> UpsertTarget:
    return UpsertTarget(table, key, tuple(Column(n, t) for n, t in columns.items()), change_check=None)


GATEWAY_EVENTS = _target("reconciliation.gateway_events", ("data_connection_id", "event_id"), {
    "data_connection_id": "VARCHAR", "event_id": "VARCHAR", "user_id": "VARCHAR", "job_number": "INTEGER",
    "object": "VARCHAR", "gocardless_action": "VARCHAR", "gateway_event": "VARCHAR", "action": "VARCHAR",
    "event_time": "TIMESTAMP", "amount": "NUMERIC(20,4)", "currency": "VARCHAR", "related_gocardless_id": "VARCHAR",
    "matched": "BOOLEAN", "matched_transaction_id": "VARCHAR", "matched_payment_method_id": "VARCHAR",
    "unmatched_reason": "VARCHAR", "outcome": "VARCHAR", "reason_code": "VARCHAR", "cause": "VARCHAR",
    "raw_event": "JSON",
})
LOG = _target("reconciliation.log", ("data_connection_id", "event_id", "related_object_id", "change"), {
    "data_connection_id": "VARCHAR", "event_id": "VARCHAR", "related_object_id": "VARCHAR", "change": "VARCHAR",
    "user_id": "VARCHAR", "job_number": "INTEGER", "gateway_event": "VARCHAR", "related_object_type": "VARCHAR",
    "related_gocardless_id": "VARCHAR", "before_value": "VARCHAR", "after_value": "VARCHAR",
    "created_object_id": "VARCHAR", "event_time": "TIMESTAMP", "superseded_by": "VARCHAR",
})
EXTERNAL_REFUNDS = _target("reconciliation.external_refunds", ("id",), {
    "id": "VARCHAR", "data_connection_id": "VARCHAR", "user_id": "VARCHAR", "job_number": "INTEGER",
    "event_id": "VARCHAR", "payment_transaction_id": "VARCHAR", "payment_gocardless_id": "VARCHAR",
    "amount": "NUMERIC(20,4)", "currency": "VARCHAR", "reason_code": "VARCHAR", "created_at": "TIMESTAMP",
})
PAYMENT_METHODS = _target("commerce.payment_methods", ("id",), {
    "id": "VARCHAR", "user_id": "VARCHAR", "data_connection_id": "VARCHAR", "provider_name": "VARCHAR",
    "source_id": "VARCHAR", "scheme": "VARCHAR", "status": "VARCHAR", "reason": "VARCHAR", "source_status": "VARCHAR",
    "customer_id": "VARCHAR", "source_created_at": "TIMESTAMP", "updated_at": "TIMESTAMP",
})
MERCHANT_SUMMARIES = _target("reconciliation.merchant_summaries", ("job_number", "data_connection_id"), {
    "job_number": "INTEGER", "data_connection_id": "VARCHAR", "user_id": "VARCHAR", "user_name": "VARCHAR",
    "period_start": "TIMESTAMP", "status": "VARCHAR", "error": "VARCHAR", "attempts": "INTEGER",
    "started_at": "TIMESTAMP", "completed_at": "TIMESTAMP", "events_total": "INTEGER", "events_matched": "INTEGER",
    "events_unmatched": "INTEGER", "events_by_gateway_event": "JSON", "settled_amounts": "JSON",
    "refunds_settled_amounts": "JSON", "rejected_amounts": "JSON", "reversed_amounts": "JSON",
    "external_refunds": "INTEGER", "payment_methods_changed": "INTEGER", "api_requests": "INTEGER",
})
JOBS = _target("reconciliation.jobs", ("job_number",), {
    "job_number": "INTEGER", "period_start": "TIMESTAMP", "period_end": "TIMESTAMP", "status": "VARCHAR",
    "error": "VARCHAR", "run_id": "VARCHAR", "attempts": "INTEGER", "started_at": "TIMESTAMP",
    "completed_at": "TIMESTAMP", "merchants_total": "INTEGER", "merchants_completed": "INTEGER",
    "merchants_error": "INTEGER", "events_total": "INTEGER", "events_unmatched": "INTEGER",
    "reversal_refunds": "BOOLEAN",
})
LOG_COLUMNS = {"before_value": "before", "after_value": "after"}  # table column → LogEntry field


def write_rows(conn: Connection, target: UpsertTarget, rows: Iterable[dict[str, Any]]) -> int:
    return upsert(conn, target, [tuple(as_text(row.get(c)) for c in target.column_names) for row in rows])


def _select_by_ids(conn: Connection, sql: str, ids: Sequence[str], params: dict[str, Any]) -> list[sa.Row]:
    """Run ``sql`` (which joins ``{stage}`` on its column ``k``) for many ids at once."""
    if not ids:
        return []
    with staged(conn, ["k"], [(i,) for i in dict.fromkeys(ids)]) as stage:
        return conn.execute(sa.text(sql.format(stage=stage)), params).all()


# -- payment methods seeded from the landed mandates --------------------------------------------------
def seed_payment_methods(conn: Connection, user_id: str, data_connection_id: str) -> int:
    """Give every landed mandate without a payment method one, from its current status.

    Insert-only: a payment method the reconciliation maintains is never reset from ``raw``.
    ``updated_at`` is the mandate's last change as the data says it (its newest event, else its
    ``created_at``), not when it was landed: every warehouse seeds the same rows.
    """
    rows = conn.execute(
        sa.text(
            "SELECT CAST(m.payload AS VARCHAR), m.created_at, le.last_event_at FROM raw.gocardless_mandates m "
            "LEFT JOIN (SELECT e.payload -> 'links' ->> 'mandate' AS mandate_id, max(e.created_at) AS last_event_at "
            "FROM raw.gocardless_events e WHERE e.data_connection_id = :dc AND e.removed_at IS NULL "
            "AND e.resource_type = 'mandates' GROUP BY e.payload -> 'links' ->> 'mandate') le ON le.mandate_id = m.id "
            "WHERE m.data_connection_id = :dc AND m.removed_at IS NULL AND NOT EXISTS ("
            "SELECT 1 FROM commerce.payment_methods p WHERE p.data_connection_id = m.data_connection_id "
            "AND p.source_id = m.id)"
        ),
        {"dc": data_connection_id},
    ).all()
    methods = [
        PaymentMethod.from_mandate(data_connection_id, json.loads(payload), _last_change(created_at, last_event_at))
        for payload, created_at, last_event_at in rows
    ]
    return write_payment_methods(conn, user_id, data_connection_id, methods)


def _last_change(created_at: datetime | None, last_event_at: datetime | None) -> datetime:
    """The newer of a mandate's creation and its newest event (``updated_at`` is NOT NULL: a
    mandate with neither is dated at the epoch rather than at the wall clock)."""
    moments = [t for t in (created_at, last_event_at) if t is not None]
    return max(moments) if moments else datetime(1970, 1, 1)


def write_payment_methods(conn: Connection, user_id: str, data_connection_id: str, methods: Iterable[PaymentMethod]) -> int:
    context = {"user_id": user_id, "data_connection_id": data_connection_id, "provider_name": PROVIDER_NAME}
    return write_rows(conn, PAYMENT_METHODS, ({**context, **vars(m)} for m in methods))


# -- the state the period's events touch -------------------------------------------------------------
def read_state(conn: Connection, merchant: Merchant, transaction_ids: Sequence[str], mandate_ids: Sequence[str]) -> WarehouseState:
    dc = {"dc": merchant.data_connection_id}
    transactions = {
        row[0]: Transaction(row[0], row[1], Decimal(row[2]), row[3], row[4], row[5])
        for row in _select_by_ids(
            conn,
            "SELECT t.id, t.source_id, t.amount, t.currency, t.gateway_state, t.settled_on "
            "FROM commerce.transactions t JOIN {stage} s ON t.id = s.k WHERE t.data_connection_id = :dc",
            transaction_ids, dc,
        )
    }
    method_fields = [f.name for f in fields(PaymentMethod)]
    payment_methods = {
        row.source_id: PaymentMethod(**row._mapping)
        for row in _select_by_ids(
            conn,
            f"SELECT {', '.join('p.' + f for f in method_fields)} FROM commerce.payment_methods p "
            "JOIN {stage} s ON p.source_id = s.k WHERE p.data_connection_id = :dc",
            mandate_ids, dc,
        )
    }
    log_columns = [LOG_COLUMNS.get(c, c) for c in LOG.column_names]
    entry_fields = {f.name for f in fields(LogEntry)}

    def entry(row: sa.Row) -> LogEntry:
        return LogEntry(**{k: v for k, v in zip(log_columns, row, strict=True) if k in entry_fields})

    previous_log = {
        e.key: e
        for e in map(entry, conn.execute(
            sa.text(f"SELECT {', '.join(LOG.column_names)} FROM reconciliation.log WHERE data_connection_id = :dc AND job_number = :job"),
            {**dc, "job": merchant.job_number},
        ).all())
    }
    later_changes: dict[tuple[str, str], tuple[datetime, str]] = {}
    for object_id, change, event_time, event_id in _select_by_ids(
        conn,
        "SELECT l.related_object_id, l.change, l.event_time, l.event_id FROM reconciliation.log l "
        "JOIN {stage} s ON l.related_object_id = s.k WHERE l.data_connection_id = :dc AND l.job_number > :job "
        "AND l.related_object_type = 'PaymentMethod'",  # every later change, also one that found the value set
        [m.id for m in payment_methods.values()], {**dc, "job": merchant.job_number},
    ):
        key = (object_id, change)
        later_changes[key] = max(later_changes.get(key, (event_time, event_id)), (event_time, event_id))
    other_periods: dict[str, list[LogEntry]] = {}
    for row in _select_by_ids(
        conn,
        f"SELECT {', '.join('l.' + c for c in LOG.column_names)} FROM reconciliation.log l "
        "JOIN {stage} s ON l.related_object_id = s.k WHERE l.data_connection_id = :dc AND l.job_number <> :job "
        f"AND l.related_object_type = 'Transaction' AND l.change IN ('{GATEWAY_STATE}', '{SETTLED_ON}')",
        list(transactions), {**dc, "job": merchant.job_number},
    ):
        logged = entry(row)
        other_periods.setdefault(logged.related_object_id, []).append(logged)
    return WarehouseState(transactions, payment_methods, previous_log, later_changes, other_periods)


# -- writing one merchant's period ------------------------------------------------------------------
def replace_period(conn: Connection, merchant: Merchant, outcome: Outcome) -> None:
    """Delete what an earlier run wrote for this merchant and period; write this run's result."""
    scope = {"dc": merchant.data_connection_id, "job": merchant.job_number}
    for table in PERIOD_TABLES:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE data_connection_id = :dc AND job_number = :job"), scope)
    context = {"data_connection_id": merchant.data_connection_id, "user_id": merchant.user_id, "job_number": merchant.job_number}
    write_rows(conn, GATEWAY_EVENTS, outcome.gateway_events)
    write_rows(conn, LOG, (
        {**context, **vars(e), **{column: getattr(e, name) for column, name in LOG_COLUMNS.items()}} for e in outcome.log
    ))
    write_rows(conn, EXTERNAL_REFUNDS, outcome.external_refunds)
    write_payment_methods(conn, merchant.user_id, merchant.data_connection_id, outcome.payment_methods)
    _update_gateway_states(conn, outcome.transactions)


def _update_gateway_states(conn: Connection, transactions: Sequence[Transaction]) -> None:
    """Set ``gateway_state``/``settled_on``: the two columns of ``commerce.transactions`` we own."""
    if not transactions:
        return
    rows = [(t.id, t.gateway_state, as_text(t.settled_on)) for t in transactions]
    with staged(conn, ["id", "gateway_state", "settled_on"], rows) as stage:
        conn.exec_driver_sql(
            f"UPDATE commerce.transactions SET gateway_state = s.gateway_state, settled_on = CAST(s.settled_on AS DATE) "
            f"FROM {stage} s WHERE commerce.transactions.id = s.id"
        )
