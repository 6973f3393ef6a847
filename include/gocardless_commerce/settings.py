"""Where things are: every path and URL the pipeline reads from the environment, in one place.

Defaults suit a checkout of the project (the embedded DuckDB warehouse under ``data/``);
deployments override them with environment variables, never with code changes.
"""

from __future__ import annotations

import os
from pathlib import Path

#: What ships with the code: ``dags/``, ``plugins/`` and ``sql/`` of the checkout
#: (``include/gocardless_commerce/settings.py`` → two levels up). Never moved by the environment.
CODE_ROOT = Path(__file__).resolve().parents[2]

#: Where runs write (``data/``, ``.airflow/``, the registry snapshot): ``GC_COMMERCE_HOME``, else
#: the checkout. Nothing a run writes goes anywhere else unless an override below says so.
PROJECT_ROOT = Path(os.environ.get("GC_COMMERCE_HOME", CODE_ROOT))

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


def model_incremental() -> bool:
    """Whether a merchant's model run rebuilds only what landed since its watermark
    (``GC_MODEL_INCREMENTAL``, default on; ``0``/``false``/``off``: every run rebuilds in full).
    See ``model/incremental.py`` for what still triggers a full rebuild."""
    return os.environ.get("GC_MODEL_INCREMENTAL", "1").strip().lower() not in ("0", "false", "off", "no")


def staging_url() -> str:
    """Where the commerce stages of a run hand data to each other (``GC_COMMERCE_STAGING_URL``).

    Every worker must reach it: ``file://`` under the data folder by default (one machine),
    ``s3://<conn_id>@bucket/prefix`` or ``gs://…`` when tasks run on several machines.
    """
    return os.environ.get("GC_COMMERCE_STAGING_URL") or (data_dir() / "staging").as_uri()


def sql_dir() -> Path:
    """The ``sql/`` folder that ships with the code (DDL migrations and analyst views).

    It follows the code, not ``GC_COMMERCE_HOME``: a home elsewhere holds data, not schema.
    """
    return Path(os.environ.get("GC_COMMERCE_SQL_DIR", CODE_ROOT / "sql"))


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


class ConfigurationError(ValueError):
    """A setting or connection is missing or invalid: an operator must fix it (tasks do not retry it)."""


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number of seconds") from None


def warehouse_connect_timeout() -> float:
    """Seconds to wait for a PostgreSQL warehouse to accept a connection (``GC_WAREHOUSE_CONNECT_TIMEOUT``, 10)."""
    return _seconds("GC_WAREHOUSE_CONNECT_TIMEOUT", 10)


def warehouse_statement_timeout() -> float:
    """Seconds one PostgreSQL statement may run, lock waits included (``GC_WAREHOUSE_STATEMENT_TIMEOUT``,
    900). Long enough for the biggest load statement measured (a million payments); short enough
    that a lock held by a stuck session fails the task with a clear error instead of hanging it."""
    return _seconds("GC_WAREHOUSE_STATEMENT_TIMEOUT", 900)


def warehouse_keepalive_idle() -> float:
    """Seconds of silence before TCP keepalive probes a PostgreSQL warehouse (``GC_WAREHOUSE_KEEPALIVE_IDLE``, 30);
    with 3 probes 10 s apart and the same bound on unacknowledged sends, a frozen server or a
    dead network is noticed within about a minute."""
    return _seconds("GC_WAREHOUSE_KEEPALIVE_IDLE", 30)


def duckdb_lock_wait() -> float:
    """Seconds a task waits for a DuckDB warehouse file another process holds (``GC_DUCKDB_LOCK_WAIT``, 300)."""
    return _seconds("GC_DUCKDB_LOCK_WAIT", 300)


def duckdb_pool() -> str:
    """Airflow pool (1 slot) every task that writes a DuckDB warehouse runs in (``GC_DUCKDB_POOL``)."""
    return os.environ.get("GC_DUCKDB_POOL", "gocardless_duckdb_writer")


def task_timeout() -> float:
    """Seconds any task may run before Airflow stops it (``GC_COMMERCE_TASK_TIMEOUT``, 4 h): far
    above the longest measured stage (a million-payment backfill), so only a hung task hits it."""
    return _seconds("GC_COMMERCE_TASK_TIMEOUT", 4 * 3600)
