"""One sync DAG per connected merchant, generated from the registry snapshot.

Parse time stays cheap: the factory reads a JSON snapshot (no database, network or Airflow
Variable access), imports nothing heavy (task bodies import the pipeline lazily), builds once
per parse what the DAGs share instead of letting Airflow redo it per DAG (:class:`SharedDagParts`),
and when a task process parses the file (``get_parsing_context().dag_id`` is set) it builds
only the DAG that task belongs to.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import zlib
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset, BaseOperator, Param, ParamsDict, chain, get_parsing_context

from gocardless_commerce.data_types import DATA_TYPES
from gocardless_commerce.names import DAG_ID_PREFIX, markdown_code, terminal_safe, validate_user_id
from gocardless_commerce.orchestration.defaults import PARAM_SCHEMA, TASK_ARGS
from gocardless_commerce.orchestration.snapshot import read_snapshot

log = logging.getLogger(__name__)

#: Number of DAG files the merchants are spread over (dags/gocardless_sync_shard_<n>.py).
SHARDS = 4
DEFAULT_SCHEDULE = "@daily"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
#: Tables every merchant run updates; downstream DAGs can schedule on them (data-aware).
COMMERCE_ASSETS = [
    Asset(name=f"commerce.{table}", uri=f"warehouse://commerce/{table}", group="warehouse")
    for table in ("transactions", "subscriptions", "transactions_insight", "subscriptions_insight")
]
DOC_MD = """\
### GoCardless sync — {name}

Extracts the GoCardless account of {name} (user {user_id}, data connection
{dc_id}, organisation {org}) and lands every record in the warehouse schema `raw`
(`raw.gocardless_payments`, `…_subscriptions`, `…_mandates`, `…_refunds`, `…_payouts`,
`…_payout_items`, `…_customers`, `…_customer_bank_accounts`, `…_creditors`, `…_events`).

* **First run, or `full_refresh`**: backfills `history_months` of payments, refunds, payouts
  and events, and every customer, bank account, mandate, subscription and creditor.
  A full refresh flags records GoCardless no longer returns (`removed_at`).
* **Later runs** are incremental: they read the events since the last cursor and refresh the
  records those events touched, so status changes on old payments land too.
* Then **transform → validate → build insights → load**: commerce transactions and
  subscriptions (Qard's `COMMERCE_TRANSACTION` / `COMMERCE_SUBSCRIPTION`), validated with
  Great Expectations (bad rows go to `commerce.quarantine` with every failed rule; a batch-level
  failure fails before anything loads), monthly insights, all loaded in **one transaction**
  into `commerce.transactions`, `commerce.subscriptions`, `commerce.transactions_insight`,
  `commerce.subscriptions_insight` (emitted as Assets). `data_types` picks which.
* Cursors live in `meta.sync_state` and advance when every record is landed in `raw`
  (the model rebuilds `commerce` from all of `raw`, so a failed load loses nothing); each
  run is recorded in `meta.sync_runs` (requests used, records landed and changed).

The access token is the Airflow connection {conn_id}. A revoked token fails the run once
with `AUTH_ERROR` and marks the data connection `AUTH_ERROR` until it is reconnected.
"""


#: How the trigger form shows each data type (the value sent stays Qard's name).
DATA_TYPE_LABELS = {
    "COMMERCE_TRANSACTION": "Transactions",
    "COMMERCE_SUBSCRIPTION": "Subscriptions",
    "COMMERCE_TRANSACTION_INSIGHT": "Transaction insights (monthly)",
    "COMMERCE_SUBSCRIPTION_INSIGHT": "Subscription insights (monthly)",
}


def sync_dag_id(user_id: str) -> str:
    return f"{DAG_ID_PREFIX}{user_id}"


def log_failure_summary(context) -> None:
    """Failure callback: one clear line naming the merchant, task, run and error."""
    ti = context.get("task_instance") or context.get("ti")
    exception = context.get("exception")
    dag = context.get("dag")
    log.error(
        "GoCardless sync FAILED: dag=%s task=%s run=%s try=%s error=%s: %s",
        getattr(dag, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        getattr(ti, "try_number", "?"),
        type(exception).__name__ if exception else "unknown",
        exception,
    )


def sync_doc_md(merchant: dict) -> str:
    """The DAG's Docs panel. Every value from the registry is a code span: a merchant name is
    data, and Markdown, HTML or a URL in it must show as the characters typed, not as headings,
    images or links. (Backslash escapes are not enough: the UI's Markdown renderer turns any URL
    in plain text into a live link after escapes are resolved; it leaves code spans alone.)"""
    return DOC_MD.format(
        **{
            key: markdown_code(str(merchant.get(field) or "?"))
            for key, field in (("name", "user_name"), ("user_id", "user_id"), ("dc_id", "id"), ("org", "organisation_id"),
                               ("conn_id", "airflow_conn_id"))
        },
    )


def requested_data_types(merchant: dict) -> list[str]:
    """The data types a sync of the merchant produces unless its trigger asks otherwise."""
    requested = merchant.get("requested_data_types", DATA_TYPES)
    return [t for t in DATA_TYPES if t in requested]


def trigger_params(data_types: list[str]) -> dict[str, Param]:
    """The sync DAG's params (its trigger form), ``data_types`` defaulting to ``data_types``."""
    return {
        "data_types": Param(
            data_types,
            type="array",
            items={"type": "string", "enum": list(DATA_TYPES)},
            # ``examples`` on an array makes the trigger form a multi-select of these values
            examples=list(DATA_TYPES),
            values_display=DATA_TYPE_LABELS,
            title="Data types",
            description="Qard data types to produce (as Qard's sync request).",
            **PARAM_SCHEMA,
        ),
        "full_refresh": Param(
            False,
            type="boolean",
            title="Full refresh",
            description="Re-read the whole history window and flag records that vanished.",
            **PARAM_SCHEMA,
        ),
        "history_months": Param(
            12,
            type="integer",
            minimum=1,
            maximum=18,
            title="History (months)",
            description="How far back a backfill or full refresh reads (GoCardless keeps 18 months of events).",
            **PARAM_SCHEMA,
        ),
    }


def checked_timetable(schedule: str):
    """The timetable Airflow makes of ``schedule`` (cron or preset), validated: raises
    Airflow's ``AirflowTimetableInvalid`` for one Airflow would refuse."""
    timetable = DAG("timetable_probe", schedule=schedule, start_date=START_DATE).timetable
    timetable.validate()
    return timetable


class SharedDagParts:
    """What the sync DAGs of one parse share, built once instead of once per DAG.

    Airflow's constructors redo work per DAG that is the same for every merchant, and at a
    thousand merchants that work was most of a full parse:

    * ``DAG(params=...)`` validates every Param's default against its JSON schema, and every
      task deep-copies the DAG's params, schemas included (about a fifth of the time each).
      The params differ between merchants only in the ``data_types`` default, so each variant
      is validated once (:meth:`ParamsDict.validate`, as Airflow does), and every DAG and task
      gets fresh ``Param`` objects with their own value and the shared schema dicts (Airflow
      never changes a schema). The tasks get them marked ``source="dag"``, as Airflow marks
      the params it copies from the DAG.
    * ``schedule="@daily"`` reads the configuration and builds a timetable for every DAG; one
      timetable per schedule is built (by Airflow, from the same arguments) and shared.
    * The DAG settings that default to configuration (``max_active_tasks`` and the like) are
      read once per parse.

    The DAGs come out the same as Airflow's own way builds them: the serialized forms are
    compared in ``tests/orchestration/test_dag_factory.py``.
    """

    def __init__(self) -> None:
        from airflow.sdk import conf

        self.config_defaults = {
            "max_active_tasks": conf.getint("core", "max_active_tasks_per_dag"),
            "max_consecutive_failed_dag_runs": conf.getint("core", "max_consecutive_failed_dag_runs_per_dag"),
            "disable_bundle_versioning": conf.getboolean("dag_processor", "disable_bundle_versioning"),
        }
        self._params: dict[tuple[str, ...], ParamsDict] = {}
        self._timetables: dict[str, object] = {}

    def timetable(self, schedule: str):
        """The timetable Airflow makes of ``schedule`` for a sync DAG, checked (a bad cron
        expression fails its merchant's DAG, not the DagBag's load of the whole shard)."""
        if schedule not in self._timetables:
            self._timetables[schedule] = checked_timetable(schedule)
        return self._timetables[schedule]

    def params(self, merchant: dict, source: str | None = None) -> ParamsDict:
        """Fresh params of the merchant's DAG (``source=None``) or of one of its tasks (``"dag"``)."""
        data_types = tuple(requested_data_types(merchant))
        if data_types not in self._params:
            validated = ParamsDict(trigger_params(list(data_types)))
            validated.validate()  # a bad default fails the DAG, as in DAG(...)
            self._params[data_types] = validated
        return ParamsDict({
            key: Param(copy.deepcopy(param.value), param.description, source=source, schema=param.schema)
            for key, param in self._params[data_types].items()
        })


def sync_dag_arguments(merchant: dict) -> dict:
    """The merchant's sync DAG as ``DAG(...)`` arguments, all but its params (:func:`trigger_params`)."""
    user_id = validate_user_id(merchant["user_id"])
    name = terminal_safe(merchant["user_name"])  # the UI shows these as text; keep them one line
    return {
        "dag_id": sync_dag_id(user_id),
        "dag_display_name": f"GoCardless sync — {name}",
        "description": f"GoCardless → warehouse sync for {name}",
        "doc_md": sync_doc_md(merchant),
        "schedule": merchant.get("schedule") or DEFAULT_SCHEDULE,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "on_failure_callback": log_failure_summary,
        "tags": ["gocardless", "sync", f"user:{user_id}"] + (["auth_error"] if merchant.get("status") == "AUTH_ERROR" else []),
    }


def _merchant_dag(merchant: dict, shared: SharedDagParts) -> DAG:
    arguments = sync_dag_arguments(merchant)
    dag = DAG(
        **{**arguments, "schedule": shared.timetable(arguments["schedule"])},
        **shared.config_defaults,
        # Filled after the tasks are built: given here, Airflow would validate them again and
        # deep-copy them into every task (see SharedDagParts).
        params=None,
    )
    with dag:
        chain(*(pipeline_task(step, merchant, params=shared.params(merchant, source="dag")) for step in PIPELINE_STEPS))
    dag.params.update(shared.params(merchant))
    return dag


class PipelineStepOperator(BaseOperator):
    """Runs one step of a merchant's pipeline: ``gocardless_commerce.orchestration.sync_tasks.run_<step>``.

    A deliberately small operator: building it at parse time costs less than a
    ``PythonOperator`` (whose module alone takes about 35 ms to import, paid again by every
    task process at start), which matters with a thousand merchant DAGs. The step's code is
    imported only when the task runs. The step is the task id.

    It defines no ``__init__``: Airflow wraps every ``__init__`` of an operator's class
    hierarchy, and each wrapper deep-copies the DAG's params, which made a second ``__init__``
    a fifth of the full parse time. The merchant is set right after construction instead.
    """

    ui_color = "#cde8f6"
    merchant: dict

    @property
    def step(self) -> str:
        return self.task_id

    def execute(self, context):
        from gocardless_commerce.orchestration import sync_tasks

        return getattr(sync_tasks, f"run_{self.step}")(self.merchant, context)


#: The sync DAG's tasks, in order: step (the task id), display name, further operator arguments.
PIPELINE_STEPS = (
    ("extract_and_land", "Extract and land raw records", {}),
    ("transform", "Transform to commerce model", {}),
    ("validate", "Validate (Great Expectations)", {}),
    ("build_insights", "Build monthly insights", {}),
    ("load", "Load commerce tables (one transaction)", {"outlets": COMMERCE_ASSETS}),
)


def pipeline_task(step: tuple[str, str, dict], merchant: dict, params: ParamsDict | None = None) -> PipelineStepOperator:
    """One step's task in the DAG being built; without ``params`` it gets a copy of the DAG's."""
    task_id, display_name, arguments = step
    task = PipelineStepOperator(
        task_id=task_id,
        task_display_name=display_name,
        on_failure_callback=log_failure_summary,
        params=params,
        **TASK_ARGS,
        **arguments,
    )
    task.merchant = merchant
    return task


def shard_of(user_id: str) -> int:
    """Which DAG file builds this merchant's DAG (stable: crc32 of the user id)."""
    return zlib.crc32(user_id.encode()) % SHARDS


def build_merchant_dags(dag_file: str | None = None, snapshot_path: Path | None = None) -> dict[str, DAG]:
    """Build the sync DAGs of the snapshot's merchants that belong to ``dag_file``'s shard.

    The merchants are spread over :data:`SHARDS` files (``gocardless_sync_shard_<n>.py``), as
    Airflow advises for many generated DAGs: the DAG processor parses the files in parallel
    and each stays well within its timeout. A task process builds only its own DAG.
    """
    shard = int(Path(dag_file).stem.rsplit("_", 1)[-1]) if dag_file else None
    wanted = get_parsing_context().dag_id
    dags = {}
    shared = SharedDagParts()
    with _cyclic_gc_paused():
        for merchant in read_snapshot(snapshot_path):
            user_id = str(merchant.get("user_id"))
            dag_id = sync_dag_id(user_id)
            if (wanted and wanted != dag_id) or (shard is not None and shard_of(user_id) != shard):
                continue
            try:
                dags[dag_id] = _merchant_dag(merchant, shared)
            except Exception as error:  # one bad entry must not take the shard's other DAGs down
                log.error(
                    "Skipping registry entry %s (data connection %s): no sync DAG can be built for it: %s: %s",
                    terminal_safe(repr(user_id)), terminal_safe(str(merchant.get("id"))), type(error).__name__,
                    terminal_safe(str(error)),
                )
    return dags


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Python's cycle collector paused while the DAGs are built, as it was before otherwise.

    Every object a build makes is kept (the DAGs and their tasks refer to each other), so the
    collector's passes find nothing to free, yet they walk every live object again and again
    as the heap grows: a fifth of a full parse of 1,000 merchants in a process that has not
    frozen its imports (``gc.freeze()``), still ~7 % in the DAG processor, which has. Garbage
    made meanwhile is collected by the first pass after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
