"""The commerce stages of a merchant's run: transform → validate → insights → load.

Each stage is a plain function (testable without Airflow) that reads the previous stage's
output from the run's staging folder and writes its own there; only small summaries travel
through XCom. Nothing reaches the ``commerce`` schema before :func:`load`, which writes every
table of the run (and its quarantined rows) in one transaction: readers see the old state or
the new one, never a mix. Insights are computed before the load for that reason.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import commerce, settings
from gocardless_commerce.commerce import schema
from gocardless_commerce.raw import RESOURCES
from gocardless_commerce.warehouse.engine import transaction
from gocardless_commerce.warehouse.loader import Column, UpsertTarget, delete_missing, frame_rows, upsert

log = logging.getLogger(__name__)

TRANSACTION_TYPES = {"COMMERCE_TRANSACTION", "COMMERCE_TRANSACTION_INSIGHT"}
SUBSCRIPTION_TYPES = {"COMMERCE_SUBSCRIPTION", "COMMERCE_SUBSCRIPTION_INSIGHT"}
RAW_FOR_MODEL = ("payments", "refunds", "payouts", "payout_items", "subscriptions", "mandates", "customers", "events")
#: Quarantined rows point back to their GoCardless record in these raw tables.
SOURCE_TABLE_OF = {
    "payment": "payments", "refund": "refunds", "payout": "payouts",
    "payout_item": "payout_items", "subscription": "subscriptions",
}
_SQL_TYPES = {"str": "VARCHAR", "decimal": "DECIMAL(20,4)", "date": "DATE", "timestamp": "TIMESTAMP", "int": "INTEGER"}


@dataclass(frozen=True)
class ModelRun:
    """Who and what one run builds."""

    user_id: str
    data_connection_id: str
    run_id: str
    now: datetime
    history_months: int
    data_types: tuple[str, ...]

    @property
    def staging(self) -> Path:
        safe_run = re.sub(r"[^A-Za-z0-9_.-]", "_", self.run_id)
        path = settings.data_dir() / "staging" / self.data_connection_id / safe_run
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def wants_transactions(self) -> bool:
        return bool(TRANSACTION_TYPES & set(self.data_types))

    @property
    def wants_subscriptions(self) -> bool:
        return bool(SUBSCRIPTION_TYPES & set(self.data_types))

    def save(self, name: str, frame: pd.DataFrame) -> None:
        frame.to_pickle(self.staging / f"{name}.pkl")

    def read(self, name: str) -> pd.DataFrame | None:
        path = self.staging / f"{name}.pkl"
        return pd.read_pickle(path) if path.exists() else None  # noqa: S301 - our own files


# -- reading raw -------------------------------------------------------------------------------------
def read_raw_frames(engine: Engine, data_connection_id: str) -> commerce.RawFrames:
    """The data connection's live raw records (removed ones excluded), payloads as JSON text.

    Events are by far the largest stream and the model only needs what they link to, when
    and which action: their payload is read as ``{resource_type, action, links}`` (a few
    hundred bytes instead of a kilobyte), which keeps the transform's memory proportionate.
    """
    frames = {}
    with transaction(engine) as conn:
        for name in RAW_FOR_MODEL:
            resource = RESOURCES[name]
            extra = "".join(f", {c}" for c in resource.extra_columns)
            payload = "CAST(payload -> 'links' AS VARCHAR) AS links" if name == "events" else "CAST(payload AS VARCHAR) AS payload"
            frame = pd.read_sql_query(
                sa.text(
                    f"SELECT user_id, data_connection_id, id, created_at, {payload}{extra} "
                    f"FROM {resource.table} WHERE data_connection_id = :dc AND removed_at IS NULL ORDER BY id"
                ),
                conn,
                params={"dc": data_connection_id},
            )
            if name == "events":
                frame["payload"] = [
                    f'{{"resource_type":{json.dumps(rt)},"action":{json.dumps(action)},"links":{links or "{}"}}}'
                    for rt, action, links in zip(frame["resource_type"], frame["action"], frame.pop("links"), strict=True)
                ]
            frames[name] = frame
    return commerce.RawFrames(**frames)


# -- stages ------------------------------------------------------------------------------------------
def transform(engine: Engine, run: ModelRun) -> dict:
    """Raw → commerce transactions and subscriptions (staged, not loaded)."""
    frames = read_raw_frames(engine, run.data_connection_id)
    summary = {}
    if run.wants_transactions:
        transactions = commerce.build_transactions(frames)
        run.save("transactions", transactions)
        summary["transactions"] = len(transactions)
    if run.wants_subscriptions:
        subscriptions = commerce.build_subscriptions(frames)
        run.save("subscriptions", subscriptions)
        events = frames.events
        run.save("subscription_events", events[events["resource_type"] == "subscriptions"])
        summary["subscriptions"] = len(subscriptions)
    log.info("Transformed %s: %s", run.data_connection_id, summary)
    return summary


def validate(engine: Engine, run: ModelRun) -> dict:
    """Row-level problems go to quarantine; a batch-level failure fails here, before any load."""
    summary: dict = {}
    checks = (
        ("transactions", commerce.validate_transactions),
        ("subscriptions", commerce.validate_subscriptions),
    )
    quarantined = []
    for name, check in checks:
        frame = run.read(name)
        if frame is None:
            continue
        outcome = check(frame, now=run.now, run_id=run.run_id)
        commerce.raise_for_batch_failures(outcome)
        run.save(f"{name}_valid", outcome.valid)
        quarantined.append(outcome.quarantine)
        summary[name] = {"valid": len(outcome.valid), "quarantined": len(outcome.quarantine)}
        if outcome.docs_url:
            summary["data_docs"] = outcome.docs_url
            log.info("Great Expectations Data Docs for %s: %s", name, outcome.docs_url)
        for row in outcome.quarantine.head(20).itertuples():
            log.warning("Quarantined %s %s: %s", row.source_table, row.source_id, ", ".join(row.failed_rules))
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else schema.frame({}, schema.QUARANTINE)
    run.save("quarantine", _with_source_payloads(engine, quarantine))
    log.info("Validated %s: %s", run.data_connection_id, summary)
    return summary


def build_insights(engine: Engine, run: ModelRun) -> dict:
    """Monthly insights from the validated rows, checked (batch level) before they are loaded."""
    summary = {}
    if "COMMERCE_TRANSACTION_INSIGHT" in run.data_types:
        insight = commerce.transactions_insight(
            run.read("transactions_valid"), now=run.now, history_months=run.history_months
        )
        commerce.raise_for_batch_failures(commerce.validate_transactions_insight(insight))
        run.save("transactions_insight", insight)
        summary["transactions_insight"] = len(insight)
    if "COMMERCE_SUBSCRIPTION_INSIGHT" in run.data_types:
        insight = commerce.subscriptions_insight(
            run.read("subscriptions_valid"), run.read("subscription_events"),
            now=run.now, history_months=run.history_months,
        )
        commerce.raise_for_batch_failures(commerce.validate_subscriptions_insight(insight))
        run.save("subscriptions_insight", insight)
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
QUARANTINE_TARGET = UpsertTarget(
    table="commerce.quarantine",
    key=("data_connection_id", "run_id", "source_table", "source_id", "occurrence"),
    columns=tuple(
        Column(name, {"failed_rules": "JSON", "payload": "JSON", "occurrence": "INTEGER"}.get(name, "VARCHAR"))
        for name in schema.QUARANTINE
    ),
    change_check=None,
)


def _row_keys(frame: pd.DataFrame, key_expression: str) -> list[str]:
    if key_expression == "id":
        return list(frame["id"])
    return [f"{m.isoformat()}:{c}" for m, c in zip(frame["month"], frame["currency"], strict=True)]


def load(engine: Engine, run: ModelRun) -> dict:
    """Write every staged table of the run, and its quarantine, in one transaction.

    Rows are upserted on their deterministic ids (a rerun changes nothing); rows of this data
    connection that the rebuild no longer produces are deleted (their source vanished). A
    quarantined record keeps its previously loaded version: nothing valid is lost to bad input.
    """
    summary = {}
    quarantine = run.read("quarantine")
    with transaction(engine) as conn:
        for name, (target, key_expression) in LOAD_TARGETS.items():
            frame = run.read(f"{name}_valid") if name in ("transactions", "subscriptions") else run.read(name)
            if frame is None:
                continue
            keep = _row_keys(frame, key_expression)
            if quarantine is not None and name in ("transactions", "subscriptions"):
                keep += [i for i, t in zip(quarantine["row_id"], quarantine["source_table"], strict=True) if t == target.table and i]
            changed = upsert(conn, target, frame_rows(frame, target.column_names))
            removed = delete_missing(
                conn, target.table, {"data_connection_id": run.data_connection_id},
                "id" if key_expression == "id" else "CAST(month AS VARCHAR) || ':' || currency", keep,
            )
            summary[name] = {"rows": len(frame), "changed": changed, "removed": removed}
        if quarantine is not None and len(quarantine):
            upsert(conn, QUARANTINE_TARGET, frame_rows(quarantine, QUARANTINE_TARGET.column_names))
            summary["quarantine"] = len(quarantine)
    log.info("Loaded %s in one transaction: %s", run.data_connection_id, summary)
    shutil.rmtree(run.staging, ignore_errors=True)
    return summary


def _with_source_payloads(engine: Engine, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Attach each quarantined row's GoCardless record (from ``raw``) to its payload."""
    if quarantine.empty:
        return quarantine
    wanted: dict[str, set[str]] = {}
    for payload in quarantine["payload"]:
        source_type = ((payload or {}).get("row") or {}).get("source_type") or ""
        table = SOURCE_TABLE_OF.get(source_type.split(":", 1)[0])
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
        table = SOURCE_TABLE_OF.get((row.get("source_type") or "").split(":", 1)[0])
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
