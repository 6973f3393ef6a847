"""Airflow cluster policy: put each task of the project in its pool (see :mod:`.pools`).

Registered through the ``airflow.policy`` entry point of the package, so every Airflow
component where the package is installed (scheduler included) applies it; nothing to copy
into ``airflow_local_settings.py``. It runs when the scheduler creates a task instance, which
is the only moment a mapped task instance (the reconciliation's part for one merchant) can get
a pool of its own: Airflow's ``pool`` argument is one per task, not per map index.

A pool that does not exist would leave the task queued forever, so a missing pool is logged
and the task stays in the pool it had.
"""

from __future__ import annotations

import json
import logging

from airflow.policies import hookimpl

from gocardless_commerce import settings
from gocardless_commerce.orchestration import pools

log = logging.getLogger(__name__)


def _reconciled_user_id(task_instance, dag_run) -> str | None:
    """The merchant of one mapped ``reconcile_merchant``: item ``map_index`` of ``start_job``'s list."""
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from airflow.models.xcom import XComModel

    session = object_session(dag_run) if dag_run is not None else None
    if session is None or task_instance.map_index < 0:
        return None
    value = session.scalar(
        select(XComModel.value).where(
            XComModel.dag_id == task_instance.dag_id, XComModel.run_id == task_instance.run_id,
            XComModel.task_id == "start_job", XComModel.key == "return_value", XComModel.map_index == -1,
        )
    )
    targets = json.loads(value) if isinstance(value, str) else value  # JSON text, or decoded by the driver
    if isinstance(targets, list) and task_instance.map_index < len(targets):
        return (targets[task_instance.map_index] or {}).get("user_id")
    return None


def pool_for(task_instance, dag_run) -> str | None:
    """The pool a task instance of the project belongs in, or None to leave it as it is."""
    dag_id, task_id = task_instance.dag_id, task_instance.task_id
    if not pools.is_project_dag(dag_id):
        return None
    if pools.uses_duckdb():
        return settings.duckdb_pool()
    if dag_id.startswith(pools.DAG_ID_PREFIX) and task_id == pools.SYNC_API_TASK:
        return pools.merchant_pool(dag_id.removeprefix(pools.DAG_ID_PREFIX))
    if dag_id == pools.RECONCILIATION_DAG and task_id == pools.RECONCILIATION_API_TASK:
        user_id = _reconciled_user_id(task_instance, dag_run)
        return pools.merchant_pool(user_id) if user_id else None
    return None


@hookimpl
def task_instance_mutation_hook(task_instance, dag_run) -> None:
    try:
        pool = pool_for(task_instance, dag_run)
        if pool is None or pool == task_instance.pool:
            return
        from sqlalchemy.orm import object_session

        from airflow.models.pool import Pool

        # Only the scheduler's own session may be used here (a new one would end its transaction);
        # a task instance not attached to one yet is placed by a later call that is.
        session = (object_session(dag_run) if dag_run is not None else None) or object_session(task_instance)
        if session is None:
            return
        if Pool.get_pool(pool, session=session) is None:
            log.error("Pool %s does not exist (run `gocardless-commerce pools sync`); %s.%s stays in pool %s",
                      pool, task_instance.dag_id, task_instance.task_id, task_instance.pool)
            return
        task_instance.pool = pool
    except Exception:  # a policy must never stop the scheduler
        log.exception("Could not choose the pool of %s.%s", task_instance.dag_id, task_instance.task_id)


def _announce_to_the_scheduler() -> None:
    """Airflow creates a new run's task instances in bulk, skipping the mutation hook, unless it
    knows the hook is implemented; it only learns that from ``airflow_local_settings.py``, not
    from ``airflow.policy`` entry points like this one. Tell it (the flag it checks)."""
    import airflow.settings

    airflow.settings.task_instance_mutation_hook.is_noop = False


_announce_to_the_scheduler()
