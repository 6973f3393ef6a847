"""The production shape on one machine: Airflow with Celery workers, PostgreSQL and Redis.

``docker-compose.yml`` runs the same processes in containers with the same settings
(:data:`CELERY_SETTINGS`; ``tests/test_docker_compose.py`` checks they match). Here they are
child processes (no Docker engine needed): the api-server, scheduler, dag-processor and any
number of Celery workers, each with its own log file, stopped by process id
(:class:`~gocardless_commerce.devtools.local_airflow.AirflowCluster`).

Used by the Celery test (``tests/orchestration/test_celery_shape.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from gocardless_commerce.devtools.local_airflow import airflow_environment

log = logging.getLogger(__name__)

#: Settings of the distributed shape, shared with docker-compose.yml (values as strings).
CELERY_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    # Several tasks per worker, bounded: the commerce stages each cap their own memory.
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    # Re-parse a DAG file at most every 60 s; list the DAG folder every 5 minutes.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}


def celery_environment(home: Path, *, metadata_url: str, warehouse_url: str, broker_url: str, staging_url: str,
                       api_port: int) -> dict[str, str]:
    """Environment of every process of the shape: the demo's Airflow settings plus Celery's.

    ``metadata_url`` and ``warehouse_url`` are SQLAlchemy URLs (``postgresql+psycopg://…``).
    """
    env = {**os.environ, **airflow_environment(home), **CELERY_SETTINGS}
    env.update({
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow's async engine would pick asyncpg for postgresql://; psycopg 3 does both.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg://", "+psycopg_async://", 1),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "WAREHOUSE_URL": warehouse_url,
        "GC_COMMERCE_STAGING_URL": staging_url,
    })
    return env
