"""Where things are: every path and URL the pipeline reads from the environment, in one place.

Defaults suit a checkout of the project (the embedded DuckDB warehouse under ``data/``);
deployments override them with environment variables, never with code changes.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project checkout (``include/gocardless_commerce/settings.py`` → two levels up).
PROJECT_ROOT = Path(os.environ.get("GC_COMMERCE_HOME", Path(__file__).resolve().parents[2]))

#: Default Airflow connection holding the GoCardless partner app (client id/secret, sandbox flag).
GOCARDLESS_PROVIDER_CONN_ID = "gocardless_default"


def data_dir() -> Path:
    """Folder for local state: the DuckDB warehouse, the sandbox database, GX data docs."""
    path = Path(os.environ.get("GC_COMMERCE_DATA_DIR", PROJECT_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: ``WAREHOUSE_URL``, else a DuckDB file in the data folder."""
    url = os.environ.get("WAREHOUSE_URL")
    if url:
        return url
    return f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


def sync_duckdb_memory_limit() -> str:
    """DuckDB's starting memory limit for a sync (``GC_SYNC_DUCKDB_MEMORY_LIMIT``, default 96MB)."""
    return os.environ.get("GC_SYNC_DUCKDB_MEMORY_LIMIT", "96MB")


def model_duckdb_memory_limit() -> str:
    """DuckDB's starting memory limit for the commerce model's stages (``GC_MODEL_DUCKDB_MEMORY_LIMIT``,
    default 128MB).

    DuckDB's own default is 80 % of the machine's RAM, which it fills with cached blocks and
    temporary tables; a limit makes it evict and spill to disk instead, so a task's memory
    stays flat. Both limits are starting points: DuckDB keeps primary-key indexes in memory,
    and work that outgrows the limit is retried with it doubled
    (:meth:`warehouse.engine.Session.run`).
    """
    return os.environ.get("GC_MODEL_DUCKDB_MEMORY_LIMIT", "128MB")


def staging_url() -> str:
    """Where the commerce stages of a run hand data to each other (``GC_COMMERCE_STAGING_URL``).

    Every worker must reach it: ``file://`` under the data folder by default (one machine),
    ``s3://<conn_id>@bucket/prefix`` or ``gs://…`` when tasks run on several machines.
    """
    return os.environ.get("GC_COMMERCE_STAGING_URL") or (data_dir() / "staging").as_uri()


def sql_dir() -> Path:
    """The project's ``sql/`` folder (DDL migrations and analyst views)."""
    return Path(os.environ.get("GC_COMMERCE_SQL_DIR", PROJECT_ROOT / "sql"))


def registry_snapshot_path() -> Path:
    """The registry snapshot the DAG factory reads at parse time (no database access there).

    It lives with the DAGs (``<home>/dags/merchants.json``) so that it ships wherever the DAG
    folder or bundle goes; ``GC_COMMERCE_REGISTRY_SNAPSHOT`` points elsewhere (tests use a
    temp file). Light on purpose: the DAG processor reads it at every parse.
    """
    default = PROJECT_ROOT / "dags" / "merchants.json"
    return Path(os.environ.get("GC_COMMERCE_REGISTRY_SNAPSHOT", default))


def merchant_conn_id(data_connection_id: str) -> str:
    """Name of the Airflow connection that holds one data connection's access token."""
    return f"gocardless_{data_connection_id}"
