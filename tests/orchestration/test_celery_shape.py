"""The production shape for real: Airflow 3.3 with CeleryExecutor, two workers, PostgreSQL, Redis.

One run does what an operator's first day does: migrate, register the partner app and two
sandbox merchants through the CLI (OAuth), let the scheduler run their sync DAGs and trigger
the gateway reconciliation, every task on a Celery worker. Consecutive tasks are routed to
different workers (``celery_policy/airflow_local_settings.py``), each with its own local data
folder, so the stages can only meet through the shared staging storage and the warehouse.
One worker is killed (SIGKILL, with the task inside it) in the middle of a transform; a new
worker serves its queue and the scheduler retries the dead task. The warehouse must then equal the embedded run (``dag.test()`` on DuckDB) of the same
sandbox, and no log, metadata row or warehouse row may hold an access token or the client
secret.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa

from gocardless_commerce.devtools import sandbox_process
from gocardless_commerce.devtools.cluster import celery_environment
from gocardless_commerce.devtools.local_airflow import AirflowCluster, free_port
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from tests.conftest import PROJECT_ROOT
from tests.fixtures.sandbox import PINNED_NOW, small_config
from tests.fixtures.warehouse import PG_ADMIN_DSN, dump_tables

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.airflow]

POLICY_DIR = Path(__file__).parent / "celery_policy"
REDIS_DB = 13  # the broker's own Redis database: flushed before and after
MERCHANTS = ("celery_acme", "celery_globex")
SYNC_TASKS = ("extract_and_land", "transform", "validate", "build_insights", "load")
#: The reconciliation of the sandbox's last day (its clock is pinned at PINNED_NOW).
RECONCILIATION_DATE = PINNED_NOW.replace(hour=6, minute=30)
TIMEOUT_S = 480


@pytest.fixture
def cluster_databases():
    """A metadata database and a warehouse of this test's own, dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"metadata": f"gc_wt_celery_meta_{suffix}", "warehouse": f"gc_wt_celery_wh_{suffix}"}
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    yield {role: f"{base}/{name}" for role, name in names.items()}
    from gocardless_commerce.warehouse.engine import _engine_for

    _engine_for.cache_clear()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker():
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    client.flushdb()


def _sqlalchemy(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def _query(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _finished_runs(metadata: str, dag_ids: list[str], count: int):
    rows = _query(metadata, "SELECT dag_id, run_id, state, logical_date FROM dag_run WHERE dag_id = ANY(%s)", dag_ids)
    done = [r for r in rows if r[2] in ("success", "failed")]
    return done if len(done) >= count else None


def _register(cluster: AirflowCluster, base_url: str, organisations) -> None:
    """The partner app and each sandbox organisation, through the operator's CLI and OAuth."""
    cli = [sys.executable, "-m", "gocardless_commerce"]
    env = {**cluster.env, "GC_CLIENT_SECRET": DEFAULT_OAUTH_CLIENT_SECRET}
    subprocess.run([*cli, "provider", "set", "--client-id", DEFAULT_OAUTH_CLIENT_ID,
                    "--client-secret-env", "GC_CLIENT_SECRET", "--base-url", base_url], env=env, check=True,
                   capture_output=True)
    for user_id, organisation in zip(MERCHANTS, organisations, strict=True):
        code = sandbox_process.authorize(base_url, DEFAULT_OAUTH_CLIENT_ID, organisation.email)
        subprocess.run([*cli, "merchants", "add", "--user-id", user_id, "--name", organisation.name,
                        "--oauth-code", code, "--redirect-uri", sandbox_process.REDIRECT_URI], env=env, check=True,
                       capture_output=True)


def _access_tokens(metadata: str, fernet_key: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    fernet = Fernet(fernet_key.encode())
    rows = _query(metadata, "SELECT conn_id, password, is_encrypted FROM connection WHERE conn_id <> 'gocardless_default'")
    assert rows and all(encrypted for _, _, encrypted in rows)
    return {conn_id: fernet.decrypt(password.encode()).decode() for conn_id, password, _ in rows}


def _copy_registry(source, target) -> None:
    """The embedded warehouse gets the same merchants and data connection ids (commerce ids derive from them)."""
    with transaction(source) as conn:
        tables = {t: conn.execute(sa.text(f"SELECT * FROM meta.{t}")).mappings().all() for t in ("users", "data_connections")}
    with transaction(target) as conn:
        for table, rows in tables.items():
            for row in rows:
                values = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
                conn.execute(sa.text(f"INSERT INTO meta.{table} ({', '.join(values)}) VALUES "
                                     f"({', '.join(':' + k for k in values)})"), values)


def _commerce_tables(engine) -> list[str]:
    with transaction(engine) as conn:
        return sorted(f"commerce.{t}" for t in conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'commerce' "
            "AND table_type = 'BASE TABLE'")).scalars())


def _text_files(*folders: Path):
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                yield path, path.read_text(errors="replace")


def _pg_dump(dsn: str) -> str:
    return subprocess.run(["pg_dump", "--data-only", dsn], check=True, capture_output=True, text=True).stdout


def test_celery_workers_build_the_warehouse_the_embedded_run_builds_and_leak_no_secret(
    tmp_path, cluster_databases, broker, airflow_db, monkeypatch, request
):
    started = time.monotonic()
    from gocardless_sandbox import SandboxServer

    metadata = cluster_databases["metadata"]
    home = tmp_path / "airflow"
    env = celery_environment(
        home, metadata_url=_sqlalchemy(metadata), warehouse_url=_sqlalchemy(cluster_databases["warehouse"]),
        broker_url=broker, staging_url=(tmp_path / "shared-staging").as_uri(), api_port=free_port(),
    )
    env.update({
        "PYTHONPATH": os.pathsep.join([str(POLICY_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "GC_COMMERCE_REGISTRY_SNAPSHOT": str(tmp_path / "merchants.json"),
        "GC_COMMERCE_DATA_DIR": str(tmp_path / "operator-data"),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        # a killed worker's task is declared dead after 30 s without heartbeat (default 300 s)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    })
    workers = {name: {"GC_TEST_WORKER_NAME": name, "GC_COMMERCE_DATA_DIR": str(tmp_path / f"{name}-local"),
                      "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_local_settings.worker_hostname"}
               for name in ("worker_a", "worker_b")}
    config = small_config(merchants=2, payments_per_merchant=60, seed=23, rate_limit_per_minute=100_000)
    sandbox = SandboxServer(config).start()  # one account for both runs (syncs only read it)
    request.addfinalizer(sandbox.stop)
    with AirflowCluster(env, tmp_path / "process-logs") as cluster:
        deadline = time.monotonic() + TIMEOUT_S
        cluster.run("db", "migrate")
        _register(cluster, sandbox.base_url, sandbox.merchants)
        cluster.start("api-server", "api-server")
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        for name, worker_env in workers.items():
            cluster.start_worker(name, name, env=worker_env)
        cluster.wait_for_api()
        sync_dags = [f"gocardless_sync__{user_id}" for user_id in MERCHANTS]
        wanted = [*sync_dags, "gateway_reconciliation"]
        cluster.wait_until("the DAGs to be parsed", lambda: len(_query(
            metadata, "SELECT dag_id FROM dag WHERE dag_id = ANY(%s)", wanted)) == len(wanted), deadline)
        cluster.run("dags", "unpause", "--treat-dag-id-as-regex", "-y", "^gocardless_sync__")
        # kill -9 worker_b (the Celery worker and the task process inside it) in the middle of a
        # transform; a new worker takes the queue over and the retried task must recover
        killed = cluster.wait_until("a transform running on worker_b", lambda: _query(
            metadata, "SELECT dag_id, run_id FROM task_instance WHERE task_id = 'transform' AND state = 'running' "
                      "AND hostname = 'worker_b'"), deadline, every=0.2)[0]
        cluster.stop("worker_b", sig=signal.SIGKILL)
        cluster.start_worker("worker_b_restarted", "worker_b", env=workers["worker_b"])
        sync_runs = cluster.wait_until("the sync runs", lambda: _finished_runs(metadata, sync_dags, len(sync_dags)), deadline)
        cluster.run("dags", "trigger", "gateway_reconciliation", "--logical-date", RECONCILIATION_DATE.isoformat())
        cluster.run("dags", "unpause", "gateway_reconciliation")
        reconciliation = cluster.wait_until("the reconciliation", lambda: [
            r for r in (_finished_runs(metadata, ["gateway_reconciliation"], 1) or [])
            if r[3] == RECONCILIATION_DATE], deadline)
        celery_seconds = time.monotonic() - started
        task_hosts = _query(metadata, "SELECT dag_id, run_id, task_id, hostname, state, start_date FROM task_instance "
                                      "ORDER BY dag_id, run_id, start_date")
        tries = _query(metadata, "SELECT dag_id, run_id, task_id, try_number FROM task_instance")
        tokens = _access_tokens(metadata, env["AIRFLOW__CORE__FERNET_KEY"])
    print(f"\nCelery shape: migrate, register, parse and run {len(sync_runs)} sync DAGs and the reconciliation "
          f"in {celery_seconds:.0f} s")

    # every run succeeded, and its consecutive tasks ran on different workers
    assert {(dag_id, state) for dag_id, _, state, _ in [*sync_runs, *reconciliation]} == \
        {(dag_id, "success") for dag_id in wanted}
    for dag_id, run_id, *_ in sync_runs:
        hosts = [(task, host) for d, r, task, host, state, _ in task_hosts if (d, r) == (dag_id, run_id)]
        assert [task for task, _ in hosts] == list(SYNC_TASKS)
        assert [host for _, host in hosts] == ["worker_a", "worker_b", "worker_a", "worker_b", "worker_a"], hosts
    assert [number for d, r, task, number in tries if (d, r, task) == (*killed, "transform")] == [2]
    assert not any((tmp_path / f"{name}-local" / "staging").exists() for name in workers)
    assert not any(p.is_file() for p in (tmp_path / "shared-staging").rglob("*"))  # cleaned up after each load

    # the embedded run: dag.test() of the same DAGs and logical dates, on DuckDB
    celery_warehouse = get_engine(_sqlalchemy(cluster_databases["warehouse"]))
    embedded_url = f"duckdb:///{tmp_path / 'embedded.duckdb'}"
    monkeypatch.setenv("WAREHOUSE_URL", embedded_url)
    monkeypatch.setenv("GC_COMMERCE_REGISTRY_SNAPSHOT", env["GC_COMMERCE_REGISTRY_SNAPSHOT"])
    monkeypatch.setenv("AIRFLOW_CONN_GOCARDLESS_DEFAULT", json.dumps({
        "conn_type": "gocardless", "login": DEFAULT_OAUTH_CLIENT_ID, "password": DEFAULT_OAUTH_CLIENT_SECRET,
        "extra": {"is_sandbox": True, "base_url": sandbox.base_url}}))
    for conn_id, token in tokens.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gocardless", "password": token}))
    embedded = get_engine(embedded_url)
    apply_migrations(embedded)
    _copy_registry(celery_warehouse, embedded)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    for dag_id, _, _, logical_date in sync_runs:
        assert bag.dags[dag_id].test(logical_date=logical_date).state == "success"
    assert bag.dags["gateway_reconciliation"].test(logical_date=RECONCILIATION_DATE).state == "success"
    tables = _commerce_tables(celery_warehouse)
    for engine in (celery_warehouse, embedded):  # what differs between any two runs, by design:
        with transaction(engine) as conn:
            # the quarantine names the runs that found each record (scheduled__… vs manual__…)
            conn.execute(sa.text("UPDATE commerce.quarantine SET first_run_id = 'the run', last_run_id = 'the run'"))
    assert {"commerce.transactions", "commerce.subscriptions", "commerce.payment_methods"} <= set(tables)
    celery_rows, embedded_rows = dump_tables(celery_warehouse, tables), dump_tables(embedded, tables)
    assert celery_rows["commerce.transactions"]
    differences = {table: {"only celery": sorted(set(celery_rows[table]) - set(embedded_rows[table]), key=repr)[:3],
                           "only embedded": sorted(set(embedded_rows[table]) - set(celery_rows[table]), key=repr)[:3]}
                   for table in tables if celery_rows[table] != embedded_rows[table]}
    assert differences == {}, json.dumps(differences, default=str, indent=1)[:6000]

    # no secret anywhere: task logs, process logs (api-server included), metadata DB, warehouse
    secrets = {**tokens, "client secret": DEFAULT_OAUTH_CLIENT_SECRET}
    assert len(tokens) == len(MERCHANTS) and all(len(s) > 8 for s in secrets.values())
    places = {str(path): text for path, text in _text_files(home / "logs", tmp_path / "process-logs")}
    assert any("extract_and_land" in str(path) for path in places), "no task log found"
    places["metadata database"] = _pg_dump(metadata)
    places["warehouse"] = _pg_dump(cluster_databases["warehouse"])
    assert "gocardless_sync__celery_acme" in places["metadata database"]
    leaks = [(place, name) for place, text in places.items() for name, secret in secrets.items() if secret in text]
    assert leaks == []
