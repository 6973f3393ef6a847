"""``make bench`` scenarios with many merchants (registered by ``bench``; see its docstring).

* ``parse`` — registry snapshots of 1,000 and 5,000 merchants (``--parse-merchants``): the full
  parse of ``dags/`` (a ``DagBag``, as the DAG processor loads the files) and the task-start
  parse (what a worker pays to load one merchant's DAG: one file, with Airflow's parsing
  context naming the DAG).
* ``reconciliation-scale`` — a daily reconciliation over ``--recon-merchants`` small merchants
  (1,000 by default): the job functions of the reconciliation DAG, one merchant after another.
* ``merchants-e2e`` — ``--e2e-merchants`` small merchants (200 by default) synced end to end
  (extract → land → transform → validate → insights → load) by a pool of 2 processes, as
  LocalExecutor with ``parallelism = 2``, into PostgreSQL.

Every scenario runs in a temporary folder (and database) that it removes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from gocardless_commerce import settings
from gocardless_commerce.devtools.sandbox_process import SandboxProcess

#: The simulated "now" of the scale sandboxes (fixed, so every run generates the same data).
SCALE_NOW = datetime(2026, 11, 21, tzinfo=UTC)


def load_average() -> str:
    """The machine's 1/5/15-minute load average: the figures mean little without it on a shared host."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_figures(title: str, rows: list[tuple[str, object, str]]) -> None:
    print(f"\n== {title}   (load average {load_average()})")
    for label, value, goal in rows:
        print(f"  {label:<48} {value!s:>16}   {goal}")


# -- parse ----------------------------------------------------------------------------------------
def write_registry_snapshot(path: Path, merchants: int) -> Path:
    """A registry snapshot of ``merchants`` CONNECTED merchants (the DAG factory's only input)."""
    path.write_text(json.dumps({
        "version": 1,
        "merchants": [
            {
                "id": f"00000000-0000-0000-0000-{n:012d}", "user_id": f"merchant_{n:05d}",
                "user_name": f"Merchant {n}", "status": "CONNECTED", "organisation_id": f"OR{n:06d}",
                "airflow_conn_id": f"gocardless_00000000-0000-0000-0000-{n:012d}",
                "requested_data_types": ["COMMERCE_TRANSACTION"], "schedule": None, "status_reason": None,
            }
            for n in range(merchants)
        ],
    }))
    return path


#: Loads a DAG folder or file as Airflow does (``DagBag``), Airflow already imported as in the
#: DAG processor and the task runner, and the objects of those imports frozen out of the cycle
#: collector's reach (``gc.freeze()``), as the DAG processor does before it starts a file's
#: parser (``airflow/dag_processing/manager.py``); prints seconds, DAGs built and import errors.
_DAGBAG_PROBE = """
import gc, json, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
gc.freeze()
started, cpu = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False, load_op_links=False)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                  "dags": len(bag.dags), "errors": len(bag.import_errors)}))
"""


def timed_dagbag(target: Path, snapshot: Path, *, parsing_dag_id: str | None = None, runs: int = 3) -> dict:
    """Best of ``runs`` fresh-process ``DagBag`` loads of ``target`` (the module imports count, as
    in a new task process); with ``parsing_dag_id``, Airflow's parsing context names that DAG."""
    env = {**os.environ, "GC_COMMERCE_REGISTRY_SNAPSHOT": str(snapshot)}
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    if parsing_dag_id:
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = parsing_dag_id
    outcomes = [
        json.loads(subprocess.check_output([sys.executable, "-c", _DAGBAG_PROBE, str(target)], env=env, text=True).split("\n")[-2])
        for _ in range(runs)
    ]
    return min(outcomes, key=lambda outcome: outcome["seconds"])


def bench_parse(merchant_counts: list[int], workdir: Path) -> None:
    from gocardless_commerce.orchestration.dag_factory import SHARDS, shard_of, sync_dag_id

    dags_folder = settings.CODE_ROOT / "dags"
    for merchants in merchant_counts:
        snapshot = write_registry_snapshot(workdir / f"merchants-{merchants}.json", merchants)
        full = timed_dagbag(dags_folder, snapshot)
        target = f"merchant_{merchants // 2:05d}"
        task_start = timed_dagbag(dags_folder / f"gocardless_sync_shard_{shard_of(target)}.py", snapshot,
                                  parsing_dag_id=sync_dag_id(target))
        per_thousand = full["seconds"] * 1000 / merchants
        print_figures(f"DAG parse, {merchants:,} registered merchants in {SHARDS} shard files (best of 3)", [
            ("full parse of dags/ (DagBag, one process) s", f"{full['seconds']:.2f}", ""),
            ("  of which CPU s (less sensitive to a busy machine)", f"{full['cpu_seconds']:.2f}", ""),
            ("  per 1,000 merchants s", f"{per_thousand:.2f}", _goal(per_thousand <= 1, "≤ 1 s")),
            ("  per 1,000 merchants, CPU s", f"{full['cpu_seconds'] * 1000 / merchants:.2f}", ""),
            ("  per shard file (average) s", f"{full['seconds'] / SHARDS:.2f}", "< dagbag_import_timeout (30 s)"),
            ("  DAGs built / import errors", f"{full['dags']:,} / {full['errors']}", ""),
            ("task-start parse (one shard file, parsing context) ms", f"{task_start['seconds'] * 1000:.0f}",
             _goal(task_start["seconds"] <= 0.05, "≤ 50 ms")),
            ("  of which CPU ms", f"{task_start['cpu_seconds'] * 1000:.0f}", ""),
            ("  DAGs built", task_start["dags"], "1"),
        ])


def _goal(met: bool, goal: str) -> str:
    return f"goal {goal}: {'met' if met else 'MISSED'}"


# -- reconciliation-scale ---------------------------------------------------------------------------
def _sandbox_with_many_merchants(merchants: int, payments: int, workdir: Path, port: int, name: str) -> SandboxProcess:
    """A sandbox process of many small merchants that writes their tokens to ``<name>-secrets.json``."""
    return SandboxProcess(
        port=port, log_file=workdir / f"{name}.log", seed=21, merchants=merchants, payments=payments, history_months=1,
        db=workdir / f"{name}.sqlite", rate_limit=10**9, now=SCALE_NOW.isoformat(),
        secrets_file=workdir / f"{name}-secrets.json",
    )


def _register(engine, workdir: Path, tokens: list[dict], prefix: str) -> dict[str, str]:
    """Register the sandbox's merchants (user ``<prefix>_<n>``); returns user id → access token."""
    from gocardless_commerce.registry import Registry

    registry = Registry(engine, snapshot_path=workdir / f"{prefix}-snapshot.json")
    token_of = {}
    for n, merchant in enumerate(tokens):
        user_id = f"{prefix}_{n:05d}"
        registry.connect(user_id, merchant["name"], organisation_id=merchant["organisation_id"])
        token_of[user_id] = merchant["access_token"]
    return token_of


def bench_reconciliation_scale(merchants: int, payments: int, workdir: Path, port: int) -> None:
    """The reconciliation job over many merchants, as its three tasks call it (one process)."""
    from gocardless_commerce.client import GoCardlessClient
    from gocardless_commerce.reconciliation import job
    from gocardless_commerce.reconciliation.period import Period
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    logging.getLogger("gocardless_commerce").setLevel(logging.WARNING)  # not a line per merchant and event
    started = time.perf_counter()
    with _sandbox_with_many_merchants(merchants, payments, workdir, port, "recon-sandbox") as sandbox:
        generated = time.perf_counter() - started
        # The period: a day in which every merchant's payments move on (what the job reconciles).
        # The changes are stamped at the new day's midnight; the next day's run reconciles that day.
        sandbox.advance(days=1, change_fraction=0.5)
        clock = sandbox.advance(days=1, change_fraction=0.0)
        period = Period.before(datetime.fromisoformat(clock["now"].replace("Z", "+00:00")))
        tokens = json.loads((workdir / "recon-sandbox-secrets.json").read_text())["merchants"]
        engine = get_engine(f"duckdb:///{workdir / 'recon.duckdb'}")
        apply_migrations(engine)
        registered = time.perf_counter()
        token_of = _register(engine, workdir, tokens, "recon")
        registered = time.perf_counter() - registered

        started = time.perf_counter()
        connections = Registry(engine, snapshot_path=workdir / "recon-snapshot.json").data_connections(statuses=("CONNECTED",))
        targets = job.start_job(engine, period, connections, run_id="bench-reconciliation")
        api_requests = 0
        for target in targets:
            with GoCardlessClient(token_of[target.user_id], base_url=sandbox.base_url) as client:
                job.reconcile_merchant(engine, client, target)
                api_requests += client.request_count
        report = job.finish_job(engine, period)
        wall = time.perf_counter() - started
    print_figures(f"daily reconciliation: {merchants:,} merchants × {payments} payments, period {period}", [
        ("sandbox generated in s", f"{generated:.0f}", ""),
        ("merchants registered in s", f"{registered:.0f}", ""),
        ("job status / merchants completed", f"{report.status} / {len(report.merchants):,}", ""),
        ("gateway events reconciled (unmatched)", f"{report.events_total:,} ({report.events_unmatched:,})", ""),
        ("API requests", f"{api_requests:,}", ""),
        ("wall time (start_job → finish_job) s", f"{wall:.1f}", ""),
        ("merchants/s", f"{merchants / wall:.1f}", ""),
    ])


# -- merchants-e2e ---------------------------------------------------------------------------------
def _sync_merchant_end_to_end(warehouse_url: str, base_url: str, token: str, user_id: str, data_connection_id: str,
                              staging_url: str) -> int:
    """One merchant's sync DAG, its five task bodies in order; returns the API requests used."""
    from gocardless_commerce.client import GoCardlessClient
    from gocardless_commerce.data_types import DATA_TYPES
    from gocardless_commerce.extract.sync import SyncRequest, sync_data_connection
    from gocardless_commerce.model import stages
    from gocardless_commerce.warehouse.engine import get_engine

    engine = get_engine(warehouse_url)
    now = SCALE_NOW
    request = SyncRequest(user_id=user_id, data_connection_id=data_connection_id, run_id="bench-e2e", now=now,
                          history_months=1)
    with GoCardlessClient(token, base_url=base_url) as client:
        result = sync_data_connection(client, engine, request)
    run = stages.ModelRun(user_id=user_id, data_connection_id=data_connection_id, run_id="bench-e2e", now=now,
                          history_months=1, data_types=tuple(DATA_TYPES), staging_root=staging_url)
    for stage in (stages.transform, stages.validate, stages.build_insights, stages.load):
        stage(engine, run)
    return result.api_requests


def bench_merchants_e2e(merchants: int, payments: int, workdir: Path, port: int, postgres_url: str) -> None:
    """Many small merchants synced end to end by 2 worker processes into a fresh PostgreSQL database."""
    import sqlalchemy as sa

    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    logging.getLogger("gocardless_commerce").setLevel(logging.WARNING)  # the pool's processes inherit it
    database = f"gc_bench_wt_scale_e2e_{os.getpid()}"
    server = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    warehouse_url = sa.make_url(postgres_url).set(database=database).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        with _sandbox_with_many_merchants(merchants, payments, workdir, port, "e2e-sandbox") as sandbox:
            generated = time.perf_counter() - started
            tokens = json.loads((workdir / "e2e-sandbox-secrets.json").read_text())["merchants"]
            engine = get_engine(warehouse_url)
            apply_migrations(engine)
            token_of = _register(engine, workdir, tokens, "e2e")
            connections = Registry(engine, snapshot_path=workdir / "e2e-snapshot.json").data_connections()
            engine.dispose()
            staging_url = (workdir / "staging").as_uri()
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=2) as pool:  # LocalExecutor, parallelism = 2
                api_requests = sum(pool.map(
                    _sync_merchant_end_to_end, *zip(*[
                        (warehouse_url, sandbox.base_url, token_of[c.user_id], c.user_id, c.id, staging_url) for c in connections
                    ]),
                ))
            wall = time.perf_counter() - started
        engine = get_engine(warehouse_url)
        with engine.connect() as conn:
            loaded = conn.execute(sa.text("SELECT count(*), count(DISTINCT data_connection_id) FROM commerce.transactions")).one()
        engine.dispose()
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        server.dispose()
    print_figures(f"end to end: {merchants:,} merchants × {payments} payments, 2 processes (LocalExecutor-like), PostgreSQL", [
        ("sandbox generated in s", f"{generated:.0f}", ""),
        ("API requests", f"{api_requests:,}", ""),
        ("commerce.transactions rows / merchants", f"{loaded[0]:,} / {loaded[1]:,}", f"{merchants:,} merchants"),
        ("wall time s", f"{wall:.1f}", ""),
        ("merchants per minute", f"{merchants / wall * 60:.0f}", ""),
    ])
