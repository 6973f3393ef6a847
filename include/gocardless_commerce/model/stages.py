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

import itertools
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import model, settings
from gocardless_commerce.model.frames import to_date
from gocardless_commerce.model.staging import StagingArea, decimals_to_frame, frame_to_decimals
from gocardless_commerce.model import incremental, mapping, schema
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.model.insights import (
    SUBSCRIPTION_COLUMNS_USED,
    TRANSACTION_COLUMNS_USED,
    add_months,
    month_start,
    month_window,
)
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
from gocardless_commerce.model.validation import (
    SUBSCRIPTIONS_INSIGHT_TABLE,
    SUBSCRIPTIONS_TABLE,
    TRANSACTIONS_INSIGHT_TABLE,
    TRANSACTIONS_TABLE,
    default_docs_dir,
)
from gocardless_commerce.warehouse.engine import Session, is_duckdb, parse_size, transaction
from gocardless_commerce.warehouse.loader import (
    Column,
    UpsertTarget,
    change_missing,
    delete_missing,
    frame_rows,
    key_set,
    upsert,
)

log = logging.getLogger(__name__)

TRANSACTION_TYPES = {"COMMERCE_TRANSACTION", "COMMERCE_TRANSACTION_INSIGHT"}
SUBSCRIPTION_TYPES = {"COMMERCE_SUBSCRIPTION", "COMMERCE_SUBSCRIPTION_INSIGHT"}
_SQL_TYPES = {"str": "VARCHAR", "decimal": "DECIMAL(20,4)", "date": "DATE", "timestamp": "TIMESTAMP", "int": "INTEGER"}


#: Rows per Great Expectations run. A run has a fixed cost (~0.15 s) and GX copies the batch
#: many times over, so this trades time for memory: on 1M payments, 10,000 rows took 70 s at
#: 440 MB peak, 15,000 46 s at 500 MB, 40,000 43 s at 600 MB (the imports alone are 290 MB).
VALIDATION_ROWS_PER_BATCH = 15_000


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
    validation_rows: int = VALIDATION_ROWS_PER_BATCH
    #: Root of the staging storage (a URL or ``UPath``); ``None``: ``settings.staging_url()``.
    staging_root: object = None
    #: Rebuild everything, whatever the watermark says (the DAG's ``full_refresh`` param).
    full_refresh: bool = False
    #: Rebuild only what landed since the watermark, when it holds (:mod:`.incremental`);
    #: off: every run rebuilds in full.
    incremental: bool = False

    @property
    def staging(self) -> StagingArea:
        return StagingArea(self.staging_root, self.data_connection_id, self.run_id)

    @property
    def wants_transactions(self) -> bool:
        return bool(TRANSACTION_TYPES & set(self.data_types))

    @property
    def wants_subscriptions(self) -> bool:
        return bool(SUBSCRIPTION_TYPES & set(self.data_types))

    def plan(self) -> incremental.Plan:
        """How this run builds, as its transform decided (staged)."""
        staged = self.staging.read_json("plan")
        if staged is None:
            raise RuntimeError(f"No staged plan for run {self.run_id} of {self.data_connection_id}: run the transform first.")
        return incremental.Plan.from_dict(staged)


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


def _filled(chunks: Iterator[tuple[str, pd.DataFrame]], rows: int) -> Iterator[tuple[str, pd.DataFrame]]:
    """The chunks joined until each holds about ``rows`` rows: every staged part costs a
    validation suite run (~1 s of Great Expectations), so the short last chunk of each source
    (an incremental run's only one) shares a part with the next source's."""
    sources: list[str] = []
    frames: list[pd.DataFrame] = []
    for source, frame in chunks:
        if len(frame):
            sources.append(source)
            frames.append(frame)
        if sum(map(len, frames)) >= rows:
            yield " + ".join(sources), pd.concat(frames, ignore_index=True)
            sources, frames = [], []
    if frames:
        yield " + ".join(sources), pd.concat(frames, ignore_index=True)


def _validation_batches(parts: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The staged parts joined into batches of about ``rows`` rows; at least one batch (empty
    when every part is: an empty rebuild is still validated and loaded, removing what vanished)."""
    first = next(parts, None)
    if first is None:
        return
    batches = (frame for _, frame in _filled((("part", part) for part in itertools.chain([first], parts)), rows))
    yield next(batches, first)
    yield from batches


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
    staging = run.staging
    for name in ("transactions", "subscriptions", "subscription_amounts"):
        staging.clear_parts(name)
    plan = incremental.plan_run(conn, run, incremental=run.incremental)
    summary: dict = {"plan": {"mode": plan.mode, "reason": plan.reason}}
    log.info("Model run of %s: %s (%s)", run.data_connection_id, plan.mode, plan.reason)
    affected_only = plan.incremental and run.wants_transactions
    if affected_only:
        summary["affected"] = incremental.create_affected_tables(conn, run.data_connection_id, plan.base_seq)
        sources = incremental.affected_sources(conn)
        staging.save("affected_sources", pd.DataFrame(
            {"object_type": [t for t, _ in sources], "source_id": [i for _, i in sources]}, dtype=object))
    with read_raw(conn, run.data_connection_id, run.chunk_rows, affected_only) as reader:
        if run.wants_transactions:
            refunded: dict[str, Decimal] = {}
            total = 0
            for number, (source, frame) in enumerate(_filled(_transaction_chunks(reader, refunded), run.chunk_rows)):
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
    if affected_only:
        incremental.drop_affected_tables(conn)
    staging.save_json("plan", plan.as_dict())  # last: a stage finding it finds everything it needs
    log.info("Transformed %s: %s", run.data_connection_id, summary)
    return summary


def validate(engine: Engine, run: ModelRun) -> dict:
    """Row-level problems go to quarantine; a batch-level failure fails here, before any load.

    The staged chunks are validated in batches of about ``run.validation_rows`` rows
    (rows are independent; a refund is checked against its payment wherever that payment is). Every rule's evaluated and failed counts are
    summed over all chunks (staged for the load: ``meta.validation_results``) and shown on the
    run's Data Docs page, with GX's page of the first chunk and of every chunk that broke a rule
    (:mod:`.data_docs`); every failed row of every chunk is in the quarantine.
    """
    from gocardless_commerce.model import data_docs
    from gocardless_commerce.model.quality import RuleTotals

    summary: dict = {}
    staging = run.staging
    refunded = frame_to_decimals(staging.read("refunded_payment_amounts"))
    checks = (
        (TRANSACTIONS_TABLE, "transactions",
         lambda frame, **kw: model.validate_transactions(frame, payment_amounts=refunded, **kw)),
        (SUBSCRIPTIONS_TABLE, "subscriptions", model.validate_subscriptions),
    )
    docs = _run_docs(run)
    totals, pages, chunks, quarantined = RuleTotals(), defaultdict(list), Counter(), []
    validated_at = datetime.now(UTC).replace(tzinfo=None)
    for table, name, check in checks:
        staging.clear_parts(f"{name}_valid")
        if not staging.has_parts(name):
            continue
        docs.clear(table)
        counts: dict = {"valid": 0, "quarantined": 0, "quarantined_by_rule": Counter()}
        for number, frame in enumerate(_validation_batches(staging.read_parts(name), run.validation_rows)):
            outcome = check(frame, now=run.now, run_id=run.run_id, build_docs=False)
            model.raise_for_batch_failures(outcome)
            staging.save_part(f"{name}_valid", number, outcome.valid)
            quarantined.append(outcome.quarantine)
            totals.add(table, outcome.rule_results)
            chunks[table] += 1
            counts["valid"] += len(outcome.valid)
            counts["quarantined"] += len(outcome.quarantine)
            counts["quarantined_by_rule"].update(rule for rules in outcome.quarantine["failed_rules"] for rule in rules)
            if (number == 0 or len(outcome.quarantine)) and len(pages[table]) < data_docs.MAX_PAGES:
                data_docs.write_page(outcome.gx_result, docs.chunk_page(table, number))
                pages[table].append(number)
            for row in outcome.quarantine.head(20).itertuples():
                log.warning("Quarantined %s %s: %s", row.source_table, row.source_id, ", ".join(row.failed_rules))
        counts["quarantined_by_rule"] = dict(sorted(counts["quarantined_by_rule"].items()))
        if counts["quarantined"]:
            log.warning("Quarantined %d %s row(s), by rule: %s", counts["quarantined"], name, counts["quarantined_by_rule"])
        summary[name] = counts
    staging.save_json("valid_rows", {name: counts["valid"] for name, counts in summary.items() if isinstance(counts, dict)})
    staging.save_json("validation_results", {"validated_at": validated_at.isoformat(), "tables": totals.as_dict()})
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else schema.frame({}, schema.QUARANTINE)
    staging.save("quarantine", _with_source_payloads(engine, quarantine))
    if chunks:
        by_table = Counter({table: 0 for table in chunks})
        by_table.update(quarantine["source_table"])
        summary["data_docs"] = docs.record(validated_at.isoformat(), totals.as_dict(), pages=pages, chunks=chunks,
                                           quarantined=by_table)
        log.info("Great Expectations Data Docs of this run: %s", summary["data_docs"])
    log.info("Validated %s: %s", run.data_connection_id, summary)
    return summary


def _run_docs(run: ModelRun):
    from gocardless_commerce.model.data_docs import RunDocs

    return RunDocs(default_docs_dir(), run.data_connection_id, run.user_id, run.run_id)


def _joined_parts(staging: StagingArea, name: str, empty: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A table staged in parts as one frame (``empty`` when it has no part); the parts are
    freed on return, so the stage never holds the table twice."""
    parts = list(staging.read_parts(name, columns=columns))
    return pd.concat(parts, ignore_index=True) if parts else empty


def _check_insight(run: ModelRun, table: str, validate, insight: pd.DataFrame) -> None:
    """Validate an insight (a failure stops the run); its rule results join the run's."""
    from gocardless_commerce.model import data_docs
    from gocardless_commerce.model.quality import RuleTotals

    outcome = validate(insight, build_docs=False)
    docs = _run_docs(run)
    docs.clear(table)
    data_docs.write_page(outcome.gx_result, docs.chunk_page(table, 0))
    model.raise_for_batch_failures(outcome)
    staged = run.staging.read_json("validation_results") or {"validated_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
                                                             "tables": {}}
    totals = RuleTotals()
    totals.add(table, outcome.rule_results)
    staged["tables"].update(totals.as_dict())
    run.staging.save_json("validation_results", staged)
    docs.record(staged["validated_at"], totals.as_dict(), pages={table: [0]}, chunks={table: 1}, quarantined={table: 0})


def build_insights(engine: Engine, run: ModelRun) -> dict:
    """Monthly insights from the validated rows, checked (batch level) before they are loaded."""
    summary = {}
    staging = run.staging
    if "COMMERCE_TRANSACTION_INSIGHT" in run.data_types and run.plan().incremental:
        # the months the changed rows touch are recomputed from the warehouse, inside the load
        summary["transactions_insight"] = "recomputed by the load (incremental)"
    elif "COMMERCE_TRANSACTION_INSIGHT" in run.data_types:
        insight = model.transactions_insight(
            staging.read_parts("transactions_valid", columns=list(TRANSACTION_COLUMNS_USED)), now=run.now,
            history_months=run.history_months,
        )
        _check_insight(run, TRANSACTIONS_INSIGHT_TABLE, model.validate_transactions_insight, insight)
        staging.save("transactions_insight", insight)
        summary["transactions_insight"] = len(insight)
    if "COMMERCE_SUBSCRIPTION_INSIGHT" in run.data_types:
        used = list(SUBSCRIPTION_COLUMNS_USED)
        insight = model.subscriptions_insight(
            _joined_parts(staging, "subscriptions_valid", schema.empty(schema.SUBSCRIPTIONS)[used], columns=used),
            staging.read("subscription_events"), now=run.now, history_months=run.history_months,
            amount_changes=_joined_parts(staging, "subscription_amounts", no_amount_changes()),
        )
        _check_insight(run, SUBSCRIPTIONS_INSIGHT_TABLE, model.validate_subscriptions_insight, insight)
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
TRANSACTIONS_TARGET_TABLE = LOAD_TARGETS["transactions"][0].table

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
    plan = run.plan()
    with _model_session(engine, indexed_rows=_rows_after_load(engine, run)) as session:
        summary = session.run(lambda conn: _load(conn, run, plan, quarantine))
    log.info("Loaded %s in one transaction (%s): %s", run.data_connection_id, plan.mode, summary)
    run.staging.remove()  # only after the commit: a retried load finds everything it needs
    return summary


def _load(conn: Connection, run: ModelRun, plan: incremental.Plan, quarantine: pd.DataFrame | None) -> dict:
    incremental.check_watermark(conn, run.data_connection_id, plan)
    summary: dict = {}
    built, touched_months = [], set()
    for name, (target, key_expression) in LOAD_TARGETS.items():
        if plan.incremental and name == "transactions_insight":
            continue  # after the quarantine: it leaves out the quarantined rows
        frames = _staged_frames(run.staging, name)
        if frames is None:
            continue
        if name in ("transactions", "subscriptions"):
            built.append(target.table)
        if plan.incremental and name == "transactions":
            summary[name], touched_months = _load_affected_transactions(conn, run, frames, quarantine)
            continue
        rows = changed = 0
        with key_set(conn, "UUID" if key_expression == "id" else "VARCHAR") as keep:
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
    affected_transactions = run.staging.read("affected_sources") if plan.incremental else None
    quarantined = _update_quarantine(conn, run, quarantine, built, affected_transactions)
    if quarantined["rows"] or quarantined["removed"]:
        summary["quarantine"] = quarantined
    if plan.incremental and "COMMERCE_TRANSACTION_INSIGHT" in run.data_types:
        summary["transactions_insight"] = _reload_insight_months(conn, run, touched_months)
    _write_validation_results(conn, run)
    incremental.write_watermark(conn, run, plan)
    return summary


def _write_validation_results(conn: Connection, run: ModelRun) -> None:
    """The run's rule totals (validate and insights stages) to ``meta.validation_results``."""
    from gocardless_commerce.model.quality import write_validation_results

    staged = run.staging.read_json("validation_results")
    if staged:
        write_validation_results(conn, user_id=run.user_id, data_connection_id=run.data_connection_id,
                                 run_id=run.run_id, validated_at=datetime.fromisoformat(staged["validated_at"]),
                                 tables=staged["tables"])


def _update_quarantine(conn: Connection, run: ModelRun, quarantine: pd.DataFrame | None, tables: list[str],
                       affected_transactions: pd.DataFrame | None) -> dict:
    """This run's quarantine replaces the previous one for what the run rebuilt: a record fixed
    at the source leaves it. An incremental run rebuilt only its affected transactions."""
    quarantine = quarantine if quarantine is not None else schema.frame({}, schema.QUARANTINE)
    found = [f"{t}:{s}:{o}" for t, s, o in zip(quarantine["source_table"], quarantine["source_id"],
                                                 quarantine["occurrence"], strict=True)]
    released = 0
    with key_set(conn) as affected:
        for table in tables:
            where = "data_connection_id = :dc AND source_table = :table"
            if table == TRANSACTIONS_TARGET_TABLE and affected_transactions is not None:
                affected.add(affected_transactions["source_id"])
                where += f" AND source_id IN (SELECT k FROM {affected.name})"
            released += change_missing(
                conn, "commerce.quarantine", where=where, params={"dc": run.data_connection_id, "table": table},
                key="source_table || ':' || source_id || ':' || CAST(occurrence AS VARCHAR)", keep=found,
            )
    changed = upsert(conn, QUARANTINE_TARGET, frame_rows(quarantine, QUARANTINE_TARGET.column_names))
    return {"rows": len(quarantine), "changed": changed, "removed": released}


def _load_affected_transactions(conn: Connection, run: ModelRun, frames: Iterator[pd.DataFrame],
                                quarantine: pd.DataFrame | None) -> tuple[dict, set]:
    """Upsert the rebuilt transactions; delete the affected ones the rebuild no longer produces
    (unless quarantined: they keep their loaded version). Returns the summary and the months
    whose insights change (the old rows' and the new rows')."""
    target, _ = LOAD_TARGETS["transactions"]
    dc = run.data_connection_id
    affected = run.staging.read("affected_sources")
    months: set = set()
    with key_set(conn) as affected_ids, key_set(conn, "UUID") as keep:
        affected_ids.add(commerce_id(dc, t, s) for t, s in zip(affected["object_type"], affected["source_id"], strict=True))
        months.update(_months_of(conn.execute(sa.text(
            f"SELECT DISTINCT value_date FROM {target.table} WHERE data_connection_id = :dc "
            f"AND id IN (SELECT k FROM {affected_ids.name})"), {"dc": dc}).scalars()))
        rows = changed = 0
        for frame in frames:
            keep.add(frame["id"])
            changed += upsert(conn, target, frame_rows(frame, target.column_names))
            rows += len(frame)
            months.update(_months_of(frame["value_date"]))
        if quarantine is not None:
            keep.add(i for i, t in zip(quarantine["row_id"], quarantine["source_table"], strict=True)
                     if t == target.table and i)
        removed = change_missing(conn, target.table, where=f"data_connection_id = :dc AND id IN (SELECT k FROM {affected_ids.name})",
                                 params={"dc": dc}, key="id", keep=keep)
    return {"rows": rows, "changed": changed, "removed": removed, "affected": len(affected)}, months


def _months_of(days) -> set:
    return {month_start(day) for day in map(to_date, days) if day is not None}


#: Rows of ``commerce.transactions`` the insights count: the loaded ones not in quarantine (a
#: quarantined record keeps its previous row, which the full rebuild's insights leave out).
_COUNTED_TRANSACTIONS = (
    "FROM commerce.transactions WHERE data_connection_id = :dc AND id NOT IN ("
    "SELECT row_id FROM commerce.quarantine WHERE data_connection_id = :dc "
    "AND source_table = 'commerce.transactions' AND row_id IS NOT NULL)"
)


def _reload_insight_months(conn: Connection, run: ModelRun, touched: set) -> dict:
    """Recompute the transactions insight of the touched months (and of the months after them:
    MoM growth) from the loaded transactions; every month when the currencies changed."""
    dc = run.data_connection_id
    target, _ = LOAD_TARGETS["transactions_insight"]
    currencies: dict[tuple[str, str], set[str]] = defaultdict(set)
    for user, currency in conn.execute(sa.text(
            f"SELECT DISTINCT user_id, currency {_COUNTED_TRANSACTIONS} AND currency IS NOT NULL AND currency <> ''"),
            {"dc": dc}).all():
        currencies[(user, dc)].add(currency)
    loaded = {(user, currency) for user, currency in conn.execute(sa.text(
        f"SELECT DISTINCT user_id, currency FROM {target.table} WHERE data_connection_id = :dc"), {"dc": dc}).all()}
    window = month_window(run.now, run.history_months)
    if loaded != {(user, c) for (user, _), values in currencies.items() for c in values}:
        touched = set(window)
    months = sorted((touched | {add_months(m, 1) for m in touched}) & set(window))
    if not months:
        return {"months": 0, "rows": 0, "changed": 0, "removed": 0}
    first, last = add_months(months[0], -1), add_months(months[-1], 1)
    result = conn.execute(sa.text(
        f"SELECT user_id, data_connection_id, currency, type, status, source_type, amount, fee_amount, value_date "
        f"{_COUNTED_TRANSACTIONS} AND value_date >= :first AND value_date < :last"),
        {"dc": dc, "first": first, "last": last})
    columns = list(result.keys())
    chunks = (pd.DataFrame(rows, columns=columns, dtype=object) for rows in iter(lambda: result.fetchmany(run.chunk_rows), []))
    insight = model.transactions_insight(chunks, now=run.now, history_months=run.history_months,
                                         only_months=months, currencies=currencies)
    model.raise_for_batch_failures(model.validate_transactions_insight(insight))
    changed = upsert(conn, target, frame_rows(insight, target.column_names))
    removed = change_missing(conn, target.table, where="data_connection_id = :dc", params={"dc": dc},
                             key="currency", keep=set().union(*currencies.values()))
    return {"months": len(months), "rows": len(insight), "changed": changed, "removed": removed}


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
