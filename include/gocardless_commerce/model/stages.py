"""The commerce stages of a merchant's run: transform → validate → insights → load.

Each stage is a plain function (testable without Airflow) that reads the previous stage's
output from the run's staging area (Parquet in object storage every worker reaches:
:mod:`gocardless_commerce.model.staging`) and writes its own there; only small summaries travel
through XCom. Nothing reaches the ``commerce`` schema before :func:`load`, which writes every
table of the run (and its quarantined rows) in one transaction: readers see the old state or
the new one, never a mix. Insights are computed before the load for that reason.

Memory is bounded by the chunk size, not by the merchant's history: the transform reads raw
records in chunks (:mod:`gocardless_commerce.model.raw_reader`) and stages one file per chunk, and
every later stage works through those files one at a time.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import model, settings
from gocardless_commerce.model.staging import StagingArea, decimals_to_frame, frame_to_decimals
from gocardless_commerce.model import mapping, schema
from gocardless_commerce.model.subscriptions import amount_changes_frame, no_amount_changes, subscriptions_to_frame
from gocardless_commerce.model.transactions import (
    fee_items_to_transactions,
    payments_to_transactions,
    payouts_to_transactions,
    refunded_payment_amounts,
    refunds_to_transactions,
    transactions_frame,
)
from gocardless_commerce.model.raw_reader import DEFAULT_CHUNK_ROWS, RawReader, read_raw
from gocardless_commerce.warehouse.engine import Session, is_duckdb, parse_size, transaction
from gocardless_commerce.warehouse.loader import Column, UpsertTarget, delete_missing, frame_rows, key_set, upsert

log = logging.getLogger(__name__)

TRANSACTION_TYPES = {"COMMERCE_TRANSACTION", "COMMERCE_TRANSACTION_INSIGHT"}
SUBSCRIPTION_TYPES = {"COMMERCE_SUBSCRIPTION", "COMMERCE_SUBSCRIPTION_INSIGHT"}
_SQL_TYPES = {"str": "VARCHAR", "decimal": "DECIMAL(20,4)", "date": "DATE", "timestamp": "TIMESTAMP", "int": "INTEGER"}


@dataclass(frozen=True)
class ModelRun:
    """Who and what one run builds, and where its stages stage their data."""

    user_id: str
    data_connection_id: str
    run_id: str
    now: datetime
    history_months: int
    data_types: tuple[str, ...]
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    #: Root of the staging storage (a URL or ``UPath``); ``None``: ``settings.staging_url()``.
    staging_root: object = None

    @property
    def staging(self) -> StagingArea:
        return StagingArea(self.staging_root, self.data_connection_id, self.run_id)

    @property
    def wants_transactions(self) -> bool:
        return bool(TRANSACTION_TYPES & set(self.data_types))

    @property
    def wants_subscriptions(self) -> bool:
        return bool(SUBSCRIPTION_TYPES & set(self.data_types))


# -- stages ------------------------------------------------------------------------------------------
def _transaction_chunks(reader: RawReader, refunded: dict[str, Decimal]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(source, transactions) per raw chunk; collects the refunded payments' amounts on the way."""
    for chunk in reader.payments():
        yield "payments", transactions_frame(payments_to_transactions(chunk.frame, chunk.lookups))
    for chunk in reader.refunds():
        refunded.update(refunded_payment_amounts(chunk.frame, chunk.lookups))
        yield "refunds", transactions_frame(refunds_to_transactions(chunk.frame, chunk.lookups))
    for chunk in reader.payouts():
        yield "payouts", transactions_frame(payouts_to_transactions(chunk.frame, chunk.lookups))
    for chunk in reader.unlinked_fee_items():
        yield "fee payout items", transactions_frame(fee_items_to_transactions(chunk.frame, chunk.lookups))


#: DuckDB keeps a table's primary-key index in memory: about 100 bytes per commerce row.
_INDEX_BYTES_PER_ROW = 128


def _model_session(engine: Engine, indexed_rows: int = 0) -> Session:
    """The model's warehouse connection, DuckDB's memory capped: the configured limit plus
    room for the key indexes of ``indexed_rows`` rows. It is a starting point that
    :meth:`Session.run` doubles when a stage needs more."""
    limit = parse_size(settings.model_duckdb_memory_limit()) or 128 * 10**6
    limit += indexed_rows * _INDEX_BYTES_PER_ROW
    return Session(engine, duckdb_settings={"memory_limit": f"{limit // 2**20}MiB"})


def _rows_after_load(engine: Engine, run: ModelRun) -> int:
    """About how many rows the commerce tables hold once this run is loaded: the other data
    connections' rows plus this run's (their key indexes must fit in DuckDB's memory)."""
    if not is_duckdb(engine):
        return 0
    staged = sum((run.staging.read_json("valid_rows") or {}).values())  # counted by validate: no second read of the chunks
    with transaction(engine) as conn:
        return staged + sum(
            conn.execute(sa.text(f"SELECT count(*) FROM {target.table} WHERE data_connection_id <> :dc"),
                         {"dc": run.data_connection_id}).scalar_one()
            for target, _ in LOAD_TARGETS.values()
        )


def transform(engine: Engine, run: ModelRun) -> dict:
    """Raw → commerce transactions and subscriptions, staged chunk by chunk (not loaded)."""
    with _model_session(engine) as session:
        return session.run(lambda conn: _transform(conn, run))


def _transform(conn: Connection, run: ModelRun) -> dict:
    summary: dict = {}
    staging = run.staging
    for name in ("transactions", "subscriptions", "subscription_amounts"):
        staging.clear_parts(name)
    with read_raw(conn, run.data_connection_id, run.chunk_rows) as reader:
        if run.wants_transactions:
            refunded: dict[str, Decimal] = {}
            total = 0
            for number, (source, frame) in enumerate(_transaction_chunks(reader, refunded)):
                staging.save_part("transactions", number, frame)
                total += len(frame)
                log.info("Transformed %s chunk %d: %d transactions (total %d)", source, number, len(frame), total)
            if not total:
                staging.save_part("transactions", 0, schema.empty(schema.TRANSACTIONS))
            staging.save("refunded_payment_amounts", decimals_to_frame(refunded))
            summary["transactions"] = total
        if run.wants_subscriptions:
            total = 0
            for number, chunk in enumerate(reader.subscriptions()):
                frame = subscriptions_to_frame(chunk.frame, chunk.lookups, run.now)
                staging.save_part("subscriptions", number, frame)
                staging.save_part("subscription_amounts", number, amount_changes_frame(chunk.frame, chunk.lookups))
                total += len(frame)
            if not total:
                staging.save_part("subscriptions", 0, schema.empty(schema.SUBSCRIPTIONS))
                staging.save_part("subscription_amounts", 0, no_amount_changes())
            staging.save("subscription_events", reader.subscription_events())
            summary["subscriptions"] = total
    log.info("Transformed %s: %s", run.data_connection_id, summary)
    return summary


def validate(engine: Engine, run: ModelRun) -> dict:
    """Row-level problems go to quarantine; a batch-level failure fails here, before any load.

    Each staged chunk is validated on its own (rows are independent; a refund is checked
    against its payment wherever that payment is). Data Docs are built for each table's first
    chunk; every failed row of every chunk is in the quarantine.
    """
    summary: dict = {}
    staging = run.staging
    refunded = frame_to_decimals(staging.read("refunded_payment_amounts"))
    checks = (
        ("transactions", lambda frame, **kw: model.validate_transactions(frame, payment_amounts=refunded, **kw)),
        ("subscriptions", model.validate_subscriptions),
    )
    quarantined = []
    for name, check in checks:
        staging.clear_parts(f"{name}_valid")
        if not staging.has_parts(name):
            continue
        counts: dict = {"valid": 0, "quarantined": 0, "quarantined_by_rule": Counter()}
        for number, frame in enumerate(staging.read_parts(name)):
            outcome = check(frame, now=run.now, run_id=run.run_id, build_docs=number == 0)
            model.raise_for_batch_failures(outcome)
            staging.save_part(f"{name}_valid", number, outcome.valid)
            quarantined.append(outcome.quarantine)
            counts["valid"] += len(outcome.valid)
            counts["quarantined"] += len(outcome.quarantine)
            counts["quarantined_by_rule"].update(rule for rules in outcome.quarantine["failed_rules"] for rule in rules)
            if outcome.docs_url:
                summary["data_docs"] = outcome.docs_url
                log.info("Great Expectations Data Docs for %s: %s", name, outcome.docs_url)
            for row in outcome.quarantine.head(20).itertuples():
                log.warning("Quarantined %s %s: %s", row.source_table, row.source_id, ", ".join(row.failed_rules))
        counts["quarantined_by_rule"] = dict(sorted(counts["quarantined_by_rule"].items()))
        if counts["quarantined"]:
            log.warning("Quarantined %d %s row(s), by rule: %s", counts["quarantined"], name, counts["quarantined_by_rule"])
        summary[name] = counts
    staging.save_json("valid_rows", {name: counts["valid"] for name, counts in summary.items() if isinstance(counts, dict)})
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else schema.frame({}, schema.QUARANTINE)
    staging.save("quarantine", _with_source_payloads(engine, quarantine))
    log.info("Validated %s: %s", run.data_connection_id, summary)
    return summary


def build_insights(engine: Engine, run: ModelRun) -> dict:
    """Monthly insights from the validated rows, checked (batch level) before they are loaded."""
    summary = {}
    staging = run.staging
    if "COMMERCE_TRANSACTION_INSIGHT" in run.data_types:
        insight = model.transactions_insight(
            staging.read_parts("transactions_valid"), now=run.now, history_months=run.history_months
        )
        model.raise_for_batch_failures(model.validate_transactions_insight(insight))
        staging.save("transactions_insight", insight)
        summary["transactions_insight"] = len(insight)
    if "COMMERCE_SUBSCRIPTION_INSIGHT" in run.data_types:
        subscriptions = list(staging.read_parts("subscriptions_valid"))
        insight = model.subscriptions_insight(
            pd.concat(subscriptions, ignore_index=True) if subscriptions else schema.empty(schema.SUBSCRIPTIONS),
            staging.read("subscription_events"), now=run.now, history_months=run.history_months,
            amount_changes=pd.concat(list(staging.read_parts("subscription_amounts")) or [no_amount_changes()],
                                     ignore_index=True),
        )
        model.raise_for_batch_failures(model.validate_subscriptions_insight(insight))
        staging.save("subscriptions_insight", insight)
        summary["subscriptions_insight"] = len(insight)
    log.info("Insights of %s: %s", run.data_connection_id, summary)
    return summary


# -- load ----------------------------------------------------------------------------------------
def _target(table: str, contract: dict[str, str], key: tuple[str, ...], preserve: tuple[str, ...] = ()) -> UpsertTarget:
    return UpsertTarget(
        table=table,
        key=key,
        columns=tuple(Column(name, _SQL_TYPES[kind]) for name, kind in contract.items()),
        change_check=None,
        preserve_columns=preserve,
    )


#: staged frame → (target, the key that identifies a row within a data connection)
LOAD_TARGETS = {
    # gateway_state and settled_on belong to the reconciliation job: a rebuild never resets them.
    "transactions": (_target("commerce.transactions", schema.TRANSACTIONS, ("id",), ("gateway_state", "settled_on")), "id"),
    "subscriptions": (_target("commerce.subscriptions", schema.SUBSCRIPTIONS, ("id",)), "id"),
    "transactions_insight": (
        _target("commerce.transactions_insight", schema.TRANSACTIONS_INSIGHT, ("data_connection_id", "month", "currency")),
        "month || ':' || currency",
    ),
    "subscriptions_insight": (
        _target("commerce.subscriptions_insight", schema.SUBSCRIPTIONS_INSIGHT, ("data_connection_id", "month", "currency")),
        "month || ':' || currency",
    ),
}
#: One row per quarantined record: a rerun updates it (rules, payload, ``last_run_id``) and keeps
#: the run that first found it (``first_run_id``).
QUARANTINE_TARGET = UpsertTarget(
    table="commerce.quarantine",
    key=schema.QUARANTINE_KEY,
    columns=tuple(
        Column(name, {"failed_rules": "JSON", "payload": "JSON", "occurrence": "INTEGER"}.get(name, "VARCHAR"))
        for name in schema.QUARANTINE
    ),
    change_check=None,
    preserve_columns=("first_run_id",),
)


def _row_keys(frame: pd.DataFrame, key_expression: str) -> list[str]:
    if key_expression == "id":
        return list(frame["id"])
    return [f"{m.isoformat()}:{c}" for m, c in zip(frame["month"], frame["currency"], strict=True)]


def _staged_frames(staging: StagingArea, name: str) -> Iterator[pd.DataFrame] | None:
    """The run's rows for one target (chunk by chunk), or None when the run did not build it."""
    if name in ("transactions", "subscriptions"):
        return staging.read_parts(f"{name}_valid") if staging.has_parts(f"{name}_valid") else None
    frame = staging.read(name)
    return None if frame is None else iter([frame])


def load(engine: Engine, run: ModelRun) -> dict:
    """Write every staged table of the run, and its quarantine, in one transaction.

    Rows are upserted on their deterministic ids (a rerun changes nothing); rows of this data
    connection that the rebuild no longer produces are deleted (their source vanished). A
    quarantined record keeps its previously loaded version: nothing valid is lost to bad input.
    Chunks are upserted one by one inside the transaction; the ids to keep are collected in a
    temporary table, so memory does not grow with the history.
    """
    quarantine = run.staging.read("quarantine")
    with _model_session(engine, indexed_rows=_rows_after_load(engine, run)) as session:
        summary = session.run(lambda conn: _load(conn, run, quarantine))
    log.info("Loaded %s in one transaction: %s", run.data_connection_id, summary)
    run.staging.remove()  # only after the commit: a retried load finds everything it needs
    return summary


def _load(conn: Connection, run: ModelRun, quarantine: pd.DataFrame | None) -> dict:
    summary = {}
    for name, (target, key_expression) in LOAD_TARGETS.items():
        frames = _staged_frames(run.staging, name)
        if frames is None:
            continue
        rows = changed = 0
        with key_set(conn) as keep:
            for frame in frames:
                keep.add(_row_keys(frame, key_expression))
                changed += upsert(conn, target, frame_rows(frame, target.column_names))
                rows += len(frame)
            if quarantine is not None and name in ("transactions", "subscriptions"):
                keep.add(i for i, t in zip(quarantine["row_id"], quarantine["source_table"], strict=True)
                         if t == target.table and i)
            removed = delete_missing(
                conn, target.table, {"data_connection_id": run.data_connection_id},
                "id" if key_expression == "id" else "CAST(month AS VARCHAR) || ':' || currency", keep,
            )
        summary[name] = {"rows": rows, "changed": changed, "removed": removed}
    if quarantine is not None and len(quarantine):
        upsert(conn, QUARANTINE_TARGET, frame_rows(quarantine, QUARANTINE_TARGET.column_names))
        summary["quarantine"] = len(quarantine)
    return summary


def _with_source_payloads(engine: Engine, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Attach each quarantined row's GoCardless record (from ``raw``) to its payload."""
    if quarantine.empty:
        return quarantine
    wanted: dict[str, set[str]] = {}
    for payload in quarantine["payload"]:
        source_type = ((payload or {}).get("row") or {}).get("source_type") or ""
        table = mapping.SOURCE_TABLE_OF.get(source_type.split(":", 1)[0])
        if table:
            wanted.setdefault(table, set()).add(payload["row"].get("source_id"))
    found: dict[tuple[str, str], dict] = {}
    with transaction(engine) as conn:
        for table, ids in wanted.items():
            for dc, record_id, payload in _raw_payloads(conn, table, quarantine["data_connection_id"].iloc[0], ids):
                found[(table, record_id)] = json.loads(payload)
    enriched = []
    for payload in quarantine["payload"]:
        row = (payload or {}).get("row") or {}
        table = mapping.SOURCE_TABLE_OF.get((row.get("source_type") or "").split(":", 1)[0])
        source = (payload or {}).get("source") or found.get((table, row.get("source_id")))
        enriched.append({**(payload or {}), "source": source})
    return quarantine.assign(payload=enriched)


def _raw_payloads(conn: Connection, table: str, data_connection_id: str, ids: set[str]):
    return conn.execute(
        sa.text(
            f"SELECT data_connection_id, id, CAST(payload AS VARCHAR) FROM raw.gocardless_{table} "
            "WHERE data_connection_id = :dc AND id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"dc": data_connection_id, "ids": sorted(i for i in ids if i)},
    ).all()
