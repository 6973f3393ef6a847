"""``make bench`` scenario ``merchants-airflow``: many small merchants synced by a real Airflow.

Where ``merchants-e2e`` calls the task bodies from a process pool, this scenario runs the
real thing: Airflow's scheduler, DAG processor and api-server on a PostgreSQL metadata
database, the sync DAGs of ``--airflow-merchants`` sandbox merchants unpaused at once, every
task a real Airflow task process, the warehouse on PostgreSQL. It runs twice:

* ``LocalExecutor`` with ``parallelism = 4``;
* ``CeleryExecutor`` with 2 workers of concurrency 2 (4 slots too), Redis as the broker, the
  settings of ``docker-compose.yml`` (:data:`~gocardless_commerce.devtools.cluster.CELERY_SETTINGS`).

Figures: merchants per minute (unpause → last run finished), runs failed, the time each run's
tasks ran, and the scheduler's overhead per DAG run: the slot time (wall time × 4 slots) not
spent inside a task, per run (scheduling, task process start-up and DAG parse, idle slots). Databases and the Redis database are dropped afterwards.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from gocardless_commerce.devtools.bench_scale import _sandbox_with_many_merchants, print_figures
from gocardless_commerce.devtools.cluster import celery_environment
from gocardless_commerce.devtools.local_airflow import AirflowCluster, free_port

log = logging.getLogger(__name__)

#: The broker's own Redis database, flushed before and after.
REDIS_DB = 12
SYNC_DAG_PREFIX = "gocardless_sync__"
USER_PREFIX = "airflow_bench"
#: Task slots of both shapes: LocalExecutor's parallelism, 2 Celery workers × concurrency 2.
SLOTS = 4
#: A run that takes longer than this fails the scenario (with the logs' folder named).
TIMEOUT_S = 3600


def register_merchants(tokens_file: str, base_url: str, client_id: str, client_secret: str) -> None:
    """In a process with the cluster's environment: the provider, each merchant (registry row,
    Airflow connection holding its token, pool), as ``provider set`` and ``merchants add`` do,
    without 200 CLI start-ups."""
    from gocardless_commerce import settings
    from gocardless_commerce.orchestration.connections import save_connection
    from gocardless_commerce.orchestration.pools import ensure_pools
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    save_connection(settings.GOCARDLESS_PROVIDER_CONN_ID, login=client_id, password=client_secret,
                    extra={"is_sandbox": True, "base_url": base_url}, description="bench partner app")
    engine = get_engine(settings.warehouse_url())
    apply_migrations(engine)
    registry = Registry(engine)
    user_ids = []
    for n, merchant in enumerate(json.loads(Path(tokens_file).read_text())["merchants"]):
        user_id = f"{USER_PREFIX}_{n:05d}"
        connection = registry.connect(user_id, merchant["name"], organisation_id=merchant["organisation_id"])
        save_connection(connection.airflow_conn_id, password=merchant["access_token"],
                        extra={"organisation_id": merchant["organisation_id"]})
        user_ids.append(user_id)
    ensure_pools(user_ids)


def postgres_databases(admin_url: str, names: list[str], create: bool) -> None:
    """Create (or drop, with its connections) each scratch database of a scenario."""
    server = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def _rows(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def task_seconds(metadata_url: str) -> float:
    """Seconds the sync runs' task instances ran, summed (start → end of each)."""
    rows = _rows(metadata_url, "SELECT SUM(EXTRACT(EPOCH FROM (end_date - start_date))) FROM task_instance "
                               "WHERE dag_id LIKE :prefix", prefix=f"{SYNC_DAG_PREFIX}%")
    return float(rows[0][0] or 0)


def bench_merchants_on_airflow(merchants: int, payments: int, workdir: Path, port: int, postgres_url: str,
                               executor: str) -> None:
    """One executor's run of ``merchants`` sync DAGs; prints its figures."""
    import redis

    from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

    suffix = f"{executor}_{uuid.uuid4().hex[:6]}"
    names = {"metadata": f"gc_bench_meta_{suffix}", "warehouse": f"gc_bench_wh_{suffix}"}
    base = sa.make_url(postgres_url)
    urls = {role: base.set(database=name).render_as_string(hide_password=False) for role, name in names.items()}
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    home = workdir / f"airflow-{executor}"
    api_port = free_port()
    env = celery_environment(home, metadata_url=urls["metadata"], warehouse_url=urls["warehouse"],
                             broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}",
                             staging_url=(workdir / f"staging-{executor}").as_uri(), api_port=api_port)
    env.update({
        "GC_COMMERCE_REGISTRY_SNAPSHOT": str(workdir / f"merchants-{executor}.json"),
        "GC_COMMERCE_DATA_DIR": str(workdir / f"data-{executor}"),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    })
    if executor == "local":
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    postgres_databases(postgres_url, list(names.values()), create=True)
    broker.flushdb()
    try:
        started = time.perf_counter()
        with _sandbox_with_many_merchants(merchants, payments, workdir, port, f"airflow-{executor}-sandbox") as sandbox, \
                AirflowCluster(env, workdir / f"logs-{executor}") as cluster:
            cluster.run("db", "migrate", timeout=600)
            subprocess.run([sys.executable, "-c",
                            "import sys; from gocardless_commerce.devtools.bench_cluster import register_merchants; "
                            "register_merchants(*sys.argv[1:])",
                            str(workdir / f"airflow-{executor}-sandbox-secrets.json"), sandbox.base_url,
                            DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET], env=env, check=True)
            set_up = time.perf_counter() - started
            for process in ("api-server", "scheduler", "dag-processor"):
                cluster.start(process, process)
            if executor == "celery":
                for name in ("worker_a", "worker_b"):
                    cluster.start_worker(name, "default", concurrency=2)
            cluster.wait_for_api()
            deadline = time.monotonic() + TIMEOUT_S
            cluster.wait_until("the sync DAGs to be parsed", lambda: _rows(
                urls["metadata"], "SELECT count(*) FROM dag WHERE dag_id LIKE :p", p=f"{SYNC_DAG_PREFIX}%")[0][0] >= merchants,
                deadline, every=5)
            log.info("%d sync DAGs parsed; unpausing them", merchants)
            unpaused = time.perf_counter()
            cluster.run("dags", "unpause", "--treat-dag-id-as-regex", "-y", f"^{SYNC_DAG_PREFIX}")
            finished = cluster.wait_until(f"{merchants} sync runs", lambda: (lambda rows: rows if len(rows) >= merchants else None)(
                _rows(urls["metadata"], "SELECT state FROM dag_run WHERE dag_id LIKE :p AND state IN ('success', 'failed')",
                      p=f"{SYNC_DAG_PREFIX}%")), deadline, every=5)
            wall = time.perf_counter() - unpaused
            in_tasks = task_seconds(urls["metadata"])
        loaded = _rows(urls["warehouse"], "SELECT count(DISTINCT data_connection_id) FROM commerce.transactions")[0][0]
    finally:
        postgres_databases(postgres_url, list(names.values()), create=False)
        broker.flushdb()
    failed = sum(1 for (state,) in finished if state == "failed")
    shape = "LocalExecutor, parallelism 4" if executor == "local" else "CeleryExecutor, 2 workers × concurrency 2, Redis"
    print_figures(f"real Airflow: {merchants:,} merchants × {payments} payments, {shape}, PostgreSQL", [
        ("set-up (sandbox, migrate, register) s", f"{set_up:.0f}", ""),
        ("unpause → last run finished s", f"{wall:.0f}", ""),
        ("merchants per minute", f"{merchants / wall * 60:.1f}", f"{SLOTS} task slots"),
        ("runs failed", failed, "0"),
        ("merchants with commerce rows", f"{loaded:,}", f"{merchants:,}"),
        ("task time per run s", f"{in_tasks / merchants:.1f}", "5 tasks"),
        ("slot time not in a task, per run s", f"{(wall * SLOTS - in_tasks) / merchants:.1f}",
         "scheduling, queueing, task start-up"),
    ])
