"""A merchant's sync DAG in Airflow's metadata database at once, and its runs read back.

The DAG processor re-parses each shard file every ``min_file_process_interval``; a merchant who
just connected through the REST API should not wait for it to see its DAG or its first sync. So
:func:`publish_merchant_dag` parses the merchant's shard file here, as the DAG processor would
(the same file, the same bundle), writes the result to the metadata database and unpauses the
DAG; :func:`retire_merchant_dag` does the reverse when a connection stops syncing. Both run in
the API server, which may touch the metadata database (tasks may not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gocardless_commerce.orchestration.dag_factory import shard_of, sync_dag_id

log = logging.getLogger(__name__)

#: The bundle of the DAGs folder (Airflow's default bundle configuration).
BUNDLE_NAME = "dags-folder"


class DagNotPublishedError(RuntimeError):
    """The merchant's shard file did not yield its DAG (an import error, a bad snapshot entry)."""


class SyncAlreadyActiveError(RuntimeError):
    """A sync of this merchant is queued or running."""


@dataclass(frozen=True)
class SyncRun:
    """A sync DAG run as the API reports it: Airflow's state and the task that failed, if any."""

    run_id: str
    state: str
    conf: dict
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    failed_tasks: tuple[str, ...]


def _parse_shard(user_id: str) -> dict:
    """Parse the merchant's shard file and write every DAG in it to the metadata database."""
    from airflow import settings as airflow_settings
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    dags_folder = Path(airflow_settings.DAGS_FOLDER)
    shard_file = dags_folder / f"gocardless_sync_shard_{shard_of(user_id)}.py"
    bag = BundleDagBag(dag_folder=str(shard_file), bundle_path=dags_folder, bundle_name=BUNDLE_NAME)
    sync_bag_to_db(bag, BUNDLE_NAME, None)
    if bag.import_errors:
        log.error("Parsing %s failed: %s", shard_file.name, bag.import_errors)
    return bag.dags


def _set_dag_flags(dag_id: str, **flags: bool) -> None:
    from airflow.models import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(**flags))


def _first_scheduled_logical_date(dag_id: str) -> datetime | None:
    """The logical date of the run the scheduler will create once the DAG is unpaused."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(DagModel.next_dagrun).where(DagModel.dag_id == dag_id))


def publish_merchant_dag(user_id: str, *, first_sync: list[str] | None = None,
                         triggered_by_user: str | None = None) -> str:
    """Make the merchant's sync DAG (per the registry snapshot) exist and run now; its id.

    ``first_sync`` (data types) starts the first sync at once. Unpausing a DAG whose schedule
    is due makes the scheduler start the run of the latest interval too, so the first sync is
    triggered before the unpause *at that run's logical date*: the scheduler finds the run
    there and moves on to the next interval instead of starting a second sync.
    """
    dag_id = sync_dag_id(user_id)
    if dag_id not in _parse_shard(user_id):
        raise DagNotPublishedError(f"the DAG files did not build {dag_id}: see the import errors in Airflow")
    if first_sync is not None:
        trigger_sync(user_id, first_sync, triggered_by_user=triggered_by_user,
                     logical_date=_first_scheduled_logical_date(dag_id))
    _set_dag_flags(dag_id, is_paused=False, is_stale=False)
    log.info("Published %s (unpaused)", dag_id)
    return dag_id


def retire_merchant_dag(user_id: str) -> None:
    """The merchant no longer syncs (disconnected, reconnecting, deleted): its DAG leaves the UI
    and the scheduler now; its past runs stay in Airflow's history."""
    dag_id = sync_dag_id(user_id)
    if dag_id in _parse_shard(user_id):
        raise DagNotPublishedError(f"{dag_id} is still built from the registry snapshot")
    _set_dag_flags(dag_id, is_paused=True, is_stale=True)
    log.info("Retired %s", dag_id)


def sync_runs(user_id: str, *, limit: int = 100) -> list[SyncRun]:
    """The merchant's sync DAG runs, newest first, with the tasks that failed in each."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_id = sync_dag_id(user_id)
    with create_session() as session:
        runs = session.execute(
            select(DagRun.run_id, DagRun.state, DagRun.conf, DagRun.queued_at, DagRun.start_date, DagRun.end_date)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc(), DagRun.id.desc())
            .limit(limit)
        ).all()
        failed: dict[str, list[str]] = {}
        if runs:
            for run_id, task_id in session.execute(
                select(TaskInstance.run_id, TaskInstance.task_id).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id.in_([r.run_id for r in runs]),
                    TaskInstance.state.in_(["failed", "upstream_failed"]),
                )
            ):
                failed.setdefault(run_id, []).append(task_id)
    return [
        SyncRun(r.run_id, str(r.state), dict(r.conf or {}), r.queued_at, r.start_date, r.end_date,
                tuple(sorted(failed.get(r.run_id, ()))))
        for r in runs
    ]


def trigger_sync(user_id: str, data_types: list[str], *, triggered_by_user: str | None = None,
                 logical_date: datetime | None = None) -> SyncRun:
    """Start a sync of the merchant with these data types; refused while one is queued or running.
    ``logical_date``: the run's (a manual run has none unless given)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    if any(run.state in ("queued", "running") for run in sync_runs(user_id, limit=5)):
        raise SyncAlreadyActiveError(f"a sync of user {user_id!r} is already queued or running")
    run = trigger_dag(
        sync_dag_id(user_id), triggered_by=DagRunTriggeredByType.REST_API, conf={"data_types": list(data_types)},
        triggering_user_name=triggered_by_user, logical_date=logical_date,
    )
    log.info("Triggered %s run %s (%s)", run.dag_id, run.run_id, data_types)
    return next(r for r in sync_runs(user_id, limit=5) if r.run_id == run.run_id)
