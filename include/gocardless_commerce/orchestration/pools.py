"""Airflow pools that bound what one machine or one access token can take.

* **DuckDB writer pool** (``GC_DUCKDB_POOL``, 1 slot): DuckDB lets one process use the file at a
  time, so with a DuckDB warehouse every task of the project runs in this pool; Airflow queues
  them instead of letting them wait on the file lock inside a worker slot.
* **One pool per merchant** (``gocardless_api__<user id>``, 1 slot): GoCardless rate-limits
  each access token, so the tasks that call the API for a merchant (its sync's
  ``extract_and_land``, its part of the gateway reconciliation, a manual rerun of either) run one
  at a time, whatever the number of workers.

Tasks get their pool from the cluster policy :mod:`gocardless_commerce.orchestration.policy`
when the scheduler creates them; pools are created by ``merchants add`` and the demo, and
:func:`ensure_pools` creates any that are missing (``gocardless-commerce pools sync``).
"""

from __future__ import annotations

import logging

from gocardless_commerce import settings
from gocardless_commerce.names import DAG_ID_PREFIX

log = logging.getLogger(__name__)

MERCHANT_POOL_PREFIX = "gocardless_api__"
#: Tasks that call GoCardless for one merchant: (dag id or prefix, task id).
SYNC_API_TASK = "extract_and_land"
RECONCILIATION_DAG = "gateway_reconciliation"
RECONCILIATION_API_TASK = "reconcile_merchant"


def merchant_pool(user_id: str) -> str:
    """The pool of the tasks calling GoCardless with this merchant's access token."""
    return f"{MERCHANT_POOL_PREFIX}{user_id}"


def uses_duckdb() -> bool:
    return settings.warehouse_url().startswith("duckdb")


#: Executors that run tasks on several machines, where one DuckDB file cannot serve them all.
MULTI_WORKER_EXECUTORS = ("CeleryExecutor", "KubernetesExecutor", "EdgeExecutor")


def refuse_duckdb_with_several_workers() -> None:
    """Raise a clear error when the warehouse is a DuckDB file and tasks run on several workers:
    each worker would write its own file (or fight over a shared one). Use PostgreSQL there."""
    if not uses_duckdb():
        return
    from airflow.configuration import conf

    executor = conf.get("core", "executor", fallback="") or ""
    distributed = [name for name in MULTI_WORKER_EXECUTORS if name in executor]
    if distributed:
        raise settings.ConfigurationError(
            f"The warehouse is a DuckDB file ({settings.warehouse_url()}) but Airflow runs tasks with "
            f"{distributed[0]}: several workers cannot share one DuckDB file. DuckDB is the one-machine "
            f"warehouse (LocalExecutor); set WAREHOUSE_URL to a PostgreSQL database for several workers."
        )


def is_project_dag(dag_id: str) -> bool:
    return dag_id.startswith(DAG_ID_PREFIX) or dag_id == RECONCILIATION_DAG


def ensure_pools(user_ids: list[str]) -> list[str]:
    """Create the pools the project's tasks use that do not exist yet (an operator's slot count
    on an existing pool is kept); returns the names created."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    wanted = {merchant_pool(u): f"GoCardless API calls of merchant {u} (its access token's rate limit)" for u in user_ids}
    if uses_duckdb():
        wanted[settings.duckdb_pool()] = "Tasks writing the DuckDB warehouse (one process at a time)"
    created = []
    with create_session() as session:
        for name, description in wanted.items():
            if Pool.get_pool(name, session=session) is None:
                Pool.create_or_update_pool(name, 1, description, include_deferred=False, session=session)
                created.append(name)
    if created:
        log.info("Created Airflow pools %s", created)
    return created


def delete_merchant_pool(user_id: str) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        if Pool.get_pool(merchant_pool(user_id), session=session) is not None:
            Pool.delete_pool(merchant_pool(user_id), session=session)
