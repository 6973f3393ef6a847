"""The incremental commerce model: what a run must rebuild since the model's watermark.

Every raw upsert stamps the rows it inserts or changes with the next value of the landing
sequence (``landed_seq``, migration 007). ``meta.model_watermarks`` keeps, per data connection,
the largest ``landed_seq`` the last loaded run had read, with what else the loaded rows depend on
(the model version, the newest commerce migration, the data types, the insight window, the
run's ``now``). A run whose watermark still holds rebuilds only the commerce rows that raw rows
above the watermark can affect (:func:`create_affected_tables`); anything else rebuilds in full,
and the full rebuild is the oracle the incremental path is tested against.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gocardless_commerce.model.frames import as_timestamp
from gocardless_commerce.model.insights import month_window
from gocardless_commerce.model.mapping import FEE_ITEM_TYPES
from gocardless_commerce.model.validation import TRANSACTIONS_TABLE
from gocardless_commerce.warehouse.migrations import split_statements, migration_files

#: Bump when a transform, rule or insight changes what the model builds from the same raw data:
#: the next run of every data connection then rebuilds in full.
MODEL_VERSION = "1"

FULL, INCREMENTAL = "full", "incremental"

#: Raw tables the commerce model reads (their ``landed_seq`` makes the watermark).
MODELLED_TABLES = tuple(
    f"raw.gocardless_{name}"
    for name in ("payments", "refunds", "payouts", "payout_items", "mandates", "subscriptions", "events")
)

_FEE_TYPES = ", ".join(f"'{t}'" for t in sorted(FEE_ITEM_TYPES))


@dataclass(frozen=True)
class Plan:
    """How a run builds: in full, or incrementally above ``base_seq``. Staged by the transform
    (JSON), read by the later stages, so every stage of a run follows the same plan."""

    mode: str
    reason: str
    seen_seq: int  # the largest landed_seq the run reads: the next watermark
    base_seq: int | None  # the watermark an incremental run builds on
    commerce_migration: str
    insight_window: str
    data_types: tuple[str, ...]

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL

    def as_dict(self) -> dict:
        return {**asdict(self), "data_types": list(self.data_types)}

    @classmethod
    def from_dict(cls, values: dict) -> Plan:
        return cls(**{**values, "data_types": tuple(values["data_types"])})


def insight_window(now: datetime, history_months: int) -> str:
    months = month_window(now, history_months)
    return f"{months[0].isoformat()}..{months[-1].isoformat()}/{history_months}"


def commerce_migration(conn: Connection) -> str:
    """The newest applied migration whose statements touch the ``commerce`` schema."""
    applied = set(conn.execute(sa.text("SELECT version FROM meta.schema_migrations")).scalars())
    touching = [
        path.stem for path in migration_files()
        if path.stem in applied and any("commerce." in statement for statement in split_statements(path.read_text()))
    ]
    return max(touching, default="")


def seen_seq(conn: Connection, data_connection_id: str) -> int:
    """The largest ``landed_seq`` of the data connection's raw rows (0: none stamped yet)."""
    maxima = " UNION ALL ".join(
        f"SELECT max(landed_seq) AS seq FROM {table} WHERE data_connection_id = :dc" for table in MODELLED_TABLES
    )
    return int(conn.execute(sa.text(f"SELECT COALESCE(max(seq), 0) FROM ({maxima}) maxima"), {"dc": data_connection_id}).scalar_one())


def plan_run(conn: Connection, run, *, incremental: bool) -> Plan:
    """Full or incremental, and why (``run`` is a :class:`~.stages.ModelRun`)."""
    current = {
        "seen_seq": seen_seq(conn, run.data_connection_id),
        "commerce_migration": commerce_migration(conn),
        "insight_window": insight_window(run.now, run.history_months),
        "data_types": tuple(sorted(run.data_types)),
    }
    row = conn.execute(
        sa.text("SELECT landed_seq, model_version, commerce_migration, CAST(data_types AS VARCHAR), insight_window, "
                "model_now FROM meta.model_watermarks WHERE data_connection_id = :dc"),
        {"dc": run.data_connection_id},
    ).first()
    reason = None
    if not incremental:
        reason = "incremental model switched off (GC_MODEL_INCREMENTAL)"
    elif run.full_refresh:
        reason = "full_refresh"
    elif row is None:
        reason = "no watermark: the data connection was never modelled"
    elif row[1] != MODEL_VERSION:
        reason = f"model version {row[1]} → {MODEL_VERSION}"
    elif row[2] != current["commerce_migration"]:
        reason = f"commerce migration {row[2]} → {current['commerce_migration']}"
    elif tuple(json.loads(row[3])) != current["data_types"]:
        reason = "other data types"
    elif row[4] != current["insight_window"]:
        reason = f"insight window {row[4]} → {current['insight_window']}"
    elif as_timestamp(run.now) < as_timestamp(row[5]):
        reason = "the run's now is before the loaded run's (a rerun of an older run)"
    if reason is not None:
        return Plan(mode=FULL, reason=reason, base_seq=None, **current)
    return Plan(mode=INCREMENTAL, reason=f"raw rows landed after {row[0]}", base_seq=int(row[0]), **current)


def check_watermark(conn: Connection, data_connection_id: str, plan: Plan) -> None:
    """An incremental load applies on top of the watermark it was planned on, nothing else."""
    if not plan.incremental:
        return
    current = conn.execute(sa.text("SELECT landed_seq FROM meta.model_watermarks WHERE data_connection_id = :dc"),
                           {"dc": data_connection_id}).scalar_one_or_none()
    if current != plan.base_seq:
        raise RuntimeError(
            f"The watermark of {data_connection_id} moved from {plan.base_seq} to {current} since this run's "
            "transform (another model run loaded in between): rerun the model."
        )


def write_watermark(conn: Connection, run, plan: Plan) -> None:
    """The run's watermark, in the load's transaction (``run`` is a :class:`~.stages.ModelRun`)."""
    params = {
        "dc": run.data_connection_id, "seq": plan.seen_seq, "version": MODEL_VERSION,
        "migration": plan.commerce_migration, "types": json.dumps(list(plan.data_types)),
        "window": plan.insight_window, "now": as_timestamp(run.now), "mode": plan.mode, "run": run.run_id,
    }
    conn.execute(sa.text("DELETE FROM meta.model_watermarks WHERE data_connection_id = :dc"), params)
    conn.execute(sa.text(
        "INSERT INTO meta.model_watermarks (data_connection_id, landed_seq, model_version, commerce_migration, "
        "data_types, insight_window, model_now, mode, run_id, updated_at) VALUES (:dc, :seq, :version, :migration, "
        "CAST(:types AS JSON), :window, :now, :mode, :run, :now)"
    ), params)


# -- the affected set -------------------------------------------------------------------------------
def _changed(table: str, column: str = "id", condition: str = "") -> str:
    return (f"SELECT {column} FROM raw.gocardless_{table} WHERE data_connection_id = :dc AND landed_seq > :base"
            + (f" AND {condition}" if condition else ""))


def _linked_by(table: str, link: str, ids: str) -> str:
    return (f"SELECT id FROM raw.gocardless_{table} WHERE data_connection_id = :dc "
            f"AND (payload -> 'links' ->> '{link}') IN (SELECT id FROM {ids})")


def _event_links(resource_type: str, link: str) -> str:
    return _changed("events", f"payload -> 'links' ->> '{link}'", f"resource_type = '{resource_type}'")


#: Row rules whose outcome depends on the run's ``now`` (validation.py), not only on raw data.
NOW_DEPENDENT_RULES = ("source_created_at_not_in_future",)
#: Rows quarantined by such a rule are checked again by every run: time alone may fix them.
_QUARANTINED = (f"SELECT source_id FROM commerce.quarantine WHERE data_connection_id = :dc "
                f"AND source_table = '{TRANSACTIONS_TABLE}' AND ("
                + " OR ".join(f"CAST(failed_rules AS VARCHAR) LIKE '%{rule}%'" for rule in NOW_DEPENDENT_RULES) + ")")

#: object type → the temporary table of affected GoCardless ids (raw ids of that resource)
AFFECTED_TABLES = {
    "payment": "model_affected_payments",
    "refund": "model_affected_refunds",
    "payout": "model_affected_payouts",
    "payout_item": "model_affected_payout_items",
}


def _affected_queries(mandates_changed: bool) -> dict[str, list[str]]:
    """Temporary table → the queries whose union fills it, in creation order.

    A payment's row reads the payment, its events, its fee payout items and its mandate's
    customer; a refund's reads the refund, its payment (and that payment's mandate), its events,
    its payout item and its mandate; a payout's reads the payout and its events; a fee payout
    item's reads the item, its payout (and the payout's events) and its mandate.
    """
    by_mandate = (lambda table: [_linked_by(table, "mandate", "model_changed_mandates")]) if mandates_changed else (lambda table: [])
    return {
        "model_changed_mandates": [_changed("mandates")],
        "model_affected_payments": [
            _changed("payments"), _event_links("payments", "payment"),
            _changed("payout_items", "payload -> 'links' ->> 'payment'", f"payload ->> 'type' IN ({_FEE_TYPES})"),
            *by_mandate("payments"), _QUARANTINED,
        ],
        "model_affected_refunds": [
            _changed("refunds"), _event_links("refunds", "refund"),
            _changed("payout_items", "payload -> 'links' ->> 'refund'", "payload ->> 'type' = 'refund'"),
            _linked_by("refunds", "payment", "model_affected_payments"), *by_mandate("refunds"), _QUARANTINED,
        ],
        "model_affected_payouts": [_changed("payouts"), _event_links("payouts", "payout"), _QUARANTINED],
        "model_affected_payout_items": [
            _changed("payout_items"),
            "SELECT id FROM raw.gocardless_payout_items WHERE data_connection_id = :dc "
            "AND payout_id IN (SELECT id FROM model_affected_payouts)",
            *by_mandate("payout_items"), _QUARANTINED,
        ],
        # whose newest event the run reads: the affected records' and the payouts of affected fee items
        "model_affected_ids": [
            *(f"SELECT id FROM {table}" for table in AFFECTED_TABLES.values()),
            "SELECT payout_id FROM raw.gocardless_payout_items WHERE data_connection_id = :dc "
            "AND id IN (SELECT id FROM model_affected_payout_items)",
        ],
    }


def create_affected_tables(conn: Connection, data_connection_id: str, base_seq: int) -> dict[str, int]:
    """Temporary tables of the GoCardless ids whose commerce rows the run rebuilds; their counts."""
    params = {"dc": data_connection_id, "base": base_seq}
    mandates_changed = conn.execute(sa.text(f"SELECT count(*) FROM ({_changed('mandates')}) changed"), params).scalar_one() > 0
    counts = {}
    for name, queries in _affected_queries(mandates_changed).items():
        union = " UNION ".join(f"SELECT id FROM ({query}) part (id)" for query in queries)
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS SELECT id FROM ({union}) ids WHERE id IS NOT NULL AND id <> ''"),
                     params)
        counts[name] = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
    return counts


def drop_affected_tables(conn: Connection) -> None:
    for name in _affected_queries(False):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def affected_sources(conn: Connection) -> list[tuple[str, str]]:
    """(object type, GoCardless id) of every affected record (read while the tables exist)."""
    return [
        (object_type, source_id)
        for object_type, table in AFFECTED_TABLES.items()
        for (source_id,) in conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).all()
    ]
