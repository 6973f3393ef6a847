"""``make bench``: the pipeline's performance figures, measured against the sandbox.

Scenarios (each prints its figures; goals from the issues are printed beside them):

* ``backfill`` — one merchant with ``--payments`` payments (default 100,000) and its other
  resources: API requests used vs the minimum ``ceil(records/500)`` per list (payout items:
  one list per payout, by API design), records/s of extract + land, peak RSS of the sync
  process (measured in a child process so the sandbox and this driver are not counted).
* ``incremental`` — the next day's sync after ~1 % of payments changed status: requests used,
  rows changed, and the ratio to the requests a full-refresh extraction needs.
* ``throttled`` — the sandbox at 1000 requests/min: 429s received and the achieved request
  rate as a fraction of the limit.
* ``model`` — the commerce model of one merchant with ``--model-payments`` payments (default
  1,000,000; its sandbox store is generated once and cached in ``data/bench/``, then landed
  straight into ``raw``): each stage (transform → validate → insights → load) in its own
  process, as Airflow runs tasks, with its time, payments/s and peak RSS.
* ``insights`` — monthly insights for 1,000 merchants × 12 months (synthetic commerce rows).
* ``parse``, ``reconciliation-scale``, ``merchants-e2e`` — many merchants: DAG parse times,
  a daily reconciliation, end-to-end syncs (:mod:`gocardless_commerce.devtools.bench_scale`).
* ``api-reads`` — the REST API's reads of a merchant with ``--reads-transactions`` transactions,
  on DuckDB and PostgreSQL (:mod:`gocardless_commerce.devtools.bench_reads`).
* ``merchants-airflow`` — ``--airflow-merchants`` small merchants (200 by default) synced by a
  real Airflow, on LocalExecutor and on Celery with 2 workers
  (:mod:`gocardless_commerce.devtools.bench_cluster`).

Timing lives here, never in unit tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gocardless_commerce import settings
from gocardless_commerce.devtools import bench_cluster, bench_reads, bench_scale
from gocardless_commerce.devtools.sandbox_process import SandboxProcess, connect

log = logging.getLogger("gocardless_commerce.devtools.bench")

PAGE = 500


def peak_rss_mb() -> float:
    """This process's peak resident set size (MB), from ``VmHWM``.

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the parent's image, so a child
    spawned by a large driver would report the driver's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the sync under test, in a child process -------------------------------------------------------
def _sync_in_child(queue, base_url: str, token: str, warehouse_url: str, run_id: str, now_iso: str, full_refresh: bool) -> None:
    logging.basicConfig(level=logging.WARNING)
    from gocardless_commerce.client import GoCardlessClient
    from gocardless_commerce.extract.sync import SyncRequest, sync_data_connection
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    engine = get_engine(warehouse_url)
    apply_migrations(engine)
    request = SyncRequest(
        user_id="bench_user", data_connection_id="bench-dc", run_id=run_id,
        now=datetime.fromisoformat(now_iso), full_refresh=full_refresh,
    )
    started = time.perf_counter()
    with GoCardlessClient(token, base_url=base_url) as client:
        result = sync_data_connection(client, engine, request)
        waits = client.rate_limit_waits
        retries = client.retry_count
        rate_limited = client.rate_limited_count
    elapsed = time.perf_counter() - started
    queue.put(
        {
            "result": result.as_dict(),
            "elapsed": elapsed,
            "peak_rss_mb": peak_rss_mb(),
            "rate_limit_waits": getattr(waits, "count", None),
            "rate_limit_wait_seconds": round(getattr(waits, "seconds", 0.0), 1),
            "retries": retries,
            "rate_limited": rate_limited,
        }
    )


def _model_stage_in_child(queue, warehouse_url: str, now_iso: str, stage_name: str, data_connection_id: str,
                          user_id: str, run_id: str, full_refresh: bool) -> None:
    """One commerce stage in its own process, as Airflow runs each task: its time and peak RSS."""
    logging.basicConfig(level=logging.WARNING)
    from gocardless_commerce.model import stages
    from gocardless_commerce.data_types import DATA_TYPES
    from gocardless_commerce.warehouse.engine import get_engine

    run = stages.ModelRun(
        user_id=user_id, data_connection_id=data_connection_id, run_id=run_id,
        now=datetime.fromisoformat(now_iso), history_months=12, data_types=tuple(DATA_TYPES),
        full_refresh=full_refresh, incremental=True,
    )
    stage = getattr(stages, stage_name)
    started = time.perf_counter()
    summary = stage(get_engine(warehouse_url), run)
    queue.put({
        "summary": summary, "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    })


MODEL_STAGES = ("transform", "validate", "build_insights", "load")


def run_model(warehouse_url: str, now: datetime, data_connection_id: str, user_id: str, run_id: str = "bench-model",
              full_refresh: bool = False) -> dict[str, dict]:
    """Every stage, each in its own process; incremental unless ``full_refresh`` (the first run
    of a data connection is a full rebuild: it has no watermark)."""
    return {
        name: _in_child(_model_stage_in_child, warehouse_url, now.isoformat(), name, data_connection_id, user_id, run_id,
                        full_refresh)
        for name in MODEL_STAGES
    }


def _in_child(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(queue, *args))
    child.start()
    outcome = queue.get()
    child.join()
    if child.exitcode:
        raise SystemExit(f"benchmark child exited with {child.exitcode}")
    return outcome


def run_sync(base_url: str, token: str, warehouse_url: str, run_id: str, now: datetime, full_refresh: bool = False) -> dict:
    return _in_child(_sync_in_child, base_url, token, warehouse_url, run_id, now.isoformat(), full_refresh)


def minimum_requests(streams: dict) -> int:
    """Fewest list requests that can return these records at 500 per page."""
    total = 0
    for name, stats in streams.items():
        if name == "payout_items":
            total += stats["pages"]  # one list per payout is the API's shape; pages ≥ payouts
        else:
            total += max(1, math.ceil(stats["records"] / PAGE))
    return total


def _print(title: str, rows: list[tuple[str, object, str]]) -> None:
    print(f"\n== {title}")
    for label, value, goal in rows:
        print(f"  {label:<44} {value!s:>16}   {goal}")


# -- scenarios ----------------------------------------------------------------------------------------
def bench_extraction(payments: int, workdir: Path, port: int) -> None:
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    warehouse_url = f"duckdb:///{workdir / 'bench.duckdb'}"
    from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

    generated = time.perf_counter()
    with SandboxProcess(
        port=port, log_file=workdir / "sandbox.log", seed=11, merchants=1, payments=payments,
        db=workdir / "sandbox.sqlite", rate_limit=10**9, now=now.isoformat(),
    ) as sandbox:
        print(f"\nsandbox ready with {payments:,} payments in {time.perf_counter() - generated:.0f} s")
        organisation = sandbox.organisations()[0]
        grant = connect(sandbox.base_url, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, organisation["email"])
        token = grant["access_token"]

        backfill = run_sync(sandbox.base_url, token, warehouse_url, "bench-backfill", now)
        result = backfill["result"]
        minimum = minimum_requests(result["streams"])
        rate = result["records_landed"] / backfill["elapsed"]
        _print(
            f"backfill: one merchant, {payments:,} payments",
            [
                ("records landed", f"{result['records_landed']:,}", ""),
                ("API requests used", result["api_requests"], ""),
                ("minimum requests (ceil(records/500))", minimum, ""),
                ("requests / minimum", f"{result['api_requests'] / minimum:.3f}", "goal ≤ 1.05"),
                ("extract + land records/s", f"{rate:,.0f}", "goal ≥ 25,000"),
                ("elapsed s", f"{backfill['elapsed']:.1f}", ""),
                ("peak RSS of the sync process (MB)", f"{backfill['peak_rss_mb']:.0f}", "goal ≤ 300"),
            ],
        )
        for name, stats in result["streams"].items():
            print(f"    {name:<24} {stats['records']:>9,} records {stats['requests']:>6} requests")

        summary = sandbox.advance(days=1, change_fraction=0.01)
        incremental = run_sync(sandbox.base_url, token, warehouse_url, "bench-incremental", now + timedelta(days=1))
        inc = incremental["result"]
        _print(
            "incremental: next day, ~1 % of payments changed",
            [
                ("sandbox changes", json.dumps(summary)[:60], ""),
                ("API requests used", inc["api_requests"], ""),
                ("rows changed", f"{inc['records_changed']:,}", ""),
                ("full-refresh requests (the backfill's)", result["api_requests"], ""),
                ("full refresh / incremental", f"{result['api_requests'] / max(1, inc['api_requests']):.0f}×", "goal ≥ 50×"),
            ],
        )
        for name, stats in inc["streams"].items():
            if stats["requests"]:
                print(f"    {name:<24} {stats['records']:>9,} records {stats['requests']:>6} requests")


def land_from_store(store_path: Path, warehouse_url: str, data_connection_id: str, user_id: str,
                    changed_since: Path | None = None) -> dict[str, int]:
    """Land a generated sandbox store's first merchant straight into ``raw`` (no HTTP).

    The model scenario needs a million-payment history; fetching it through the API would
    benchmark the extraction again (that is the ``extraction`` scenario's job) and take minutes.
    ``changed_since``: a copy of the store before some sandbox days; only records new or
    changed since it land (what a day's sync lands, without the API).
    """
    import itertools

    import msgspec

    from gocardless_commerce.extract import landing
    from gocardless_sandbox.store import RESOURCES as STORE_TABLES
    from gocardless_sandbox.store import SandboxStore
    from gocardless_commerce.warehouse.engine import get_engine, transaction
    from gocardless_commerce.warehouse.migrations import apply_migrations

    store = SandboxStore(store_path)
    organisation = store.organisations()[0].id
    changed, new_items = "", ""
    if changed_since is not None:
        store.conn.execute("ATTACH DATABASE ? AS before", (str(changed_since),))
        new_items = " AND seq > (SELECT COALESCE(max(seq), 0) FROM before.payout_items)"
    engine = get_engine(warehouse_url)
    apply_migrations(engine)
    ctx = landing.LandingContext(user_id, data_connection_id, "bench-land", datetime.now(UTC).isoformat())
    batch, counts = 25_000, {}
    for name, raw_resource in landing.RESOURCES.items():
        if name == "payout_items":
            continue
        table = STORE_TABLES[name].name
        if changed_since is not None:
            changed = (f" AND body IS NOT (SELECT b.body FROM before.{table} b WHERE b.id = {table}.id)")
        cursor = store.conn.execute(f"SELECT body FROM {table} WHERE org = ? AND removed = 0{changed}", (organisation,))
        counts[name] = 0
        while rows := cursor.fetchmany(batch):
            with transaction(engine) as conn:
                landing.land(conn, raw_resource, [msgspec.json.decode(body) for (body,) in rows], ctx)
            counts[name] += len(rows)
    cursor = store.conn.execute(f"SELECT payout, body FROM payout_items WHERE org = ?{new_items} ORDER BY payout, seq",
                                (organisation,))
    pending: list[tuple[str, list[dict]]] = []
    counts["payout_items"] = 0
    for payout, items in itertools.groupby(cursor, key=lambda row: row[0]):
        pending.append((payout, [msgspec.json.decode(body) for _, body in items]))
        if sum(len(i) for _, i in pending) >= batch:  # a payout's items stay together: their ids count occurrences
            with transaction(engine) as conn:
                counts["payout_items"] += landing.land_payout_items(conn, pending, ctx)
            pending = []
    if pending:
        with transaction(engine) as conn:
            counts["payout_items"] += landing.land_payout_items(conn, pending, ctx)
    store.close()
    return counts


def sandbox_fingerprint() -> str:
    """A short hash of the sandbox's generating code: the cached stores are kept per version."""
    import gocardless_sandbox

    digest = hashlib.sha256()
    for path in sorted(Path(gocardless_sandbox.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def bench_model(payments: int, workdir: Path) -> None:
    """transform → validate → insights → load of one merchant with ``payments`` payments."""
    from gocardless_sandbox.config import SandboxConfig
    from gocardless_sandbox.server import open_store

    cache = settings.data_dir() / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    name = f"{payments}-seed11-{sandbox_fingerprint()}"  # a changed generator makes new data
    for stale in [*cache.glob(f"sandbox-{payments}-seed11[.-]*"), *cache.glob(f"raw-{payments}-seed11[.-]*")]:
        if name not in stale.name:
            stale.unlink()
    store_path = cache / f"sandbox-{name}.sqlite"
    started = time.perf_counter()
    now = datetime(2026, 11, 21, tzinfo=UTC)
    store, _ = open_store(SandboxConfig(seed=11, merchants=1, payments_per_merchant=payments, db_path=store_path, now=now))
    store.close()
    print(f"\nsandbox store with {payments:,} payments ready in {time.perf_counter() - started:.0f} s ({store_path})")
    landed = cache / f"raw-{name}.duckdb"  # the landed raw schema, kept for the next run
    counts_file = landed.with_suffix(".json")
    if not counts_file.exists():
        started = time.perf_counter()
        landed.unlink(missing_ok=True)
        counts = land_from_store(store_path, f"duckdb:///{landed}", "bench-model-dc", "bench_model_user")
        counts_file.write_text(json.dumps(counts))
        print(f"raw landed in {time.perf_counter() - started:.0f} s (cached in {landed})")
    counts = json.loads(counts_file.read_text())
    print("raw records: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    warehouse = workdir / "bench-model.duckdb"
    shutil.copyfile(landed, warehouse)  # the stages write to a copy: every run starts from raw only
    warehouse_url = f"duckdb:///{warehouse}"
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    engine = get_engine(warehouse_url)
    apply_migrations(engine)  # the cache may predate a migration, which a sync would apply
    engine.dispose()
    stages = run_model(warehouse_url, now.replace(tzinfo=None), "bench-model-dc", "bench_model_user")
    rows = [
        (f"{name}: s (payments/s)", f"{stages[name]['seconds']:.1f} ({counts['payments'] / stages[name]['seconds']:,.0f})", "")
        for name in MODEL_STAGES
    ]
    rows += [(f"{name}: peak RSS of its process (MB)", f"{stages[name]['peak_rss_mb']:.0f}", "goal < 500") for name in MODEL_STAGES]
    rows.append(("rows loaded", json.dumps({k: v.get("rows") for k, v in stages["load"]["summary"].items()
                                            if isinstance(v, dict)})[:60], ""))
    _print(f"commerce model: one merchant, {counts['payments']:,} payments", rows)

    rerun = run_model(warehouse_url, now.replace(tzinfo=None), "bench-model-dc", "bench_model_user")
    changed = sum(v.get("changed", 0) for v in rerun["load"]["summary"].values() if isinstance(v, dict))
    _print("the same run again (incremental, nothing new landed)", [
        ("all stages s", f"{sum(rerun[name]['seconds'] for name in MODEL_STAGES):.1f}", ""),
        ("load s", f"{rerun['load']['seconds']:.1f}", ""),
        ("rows changed by the load", f"{changed:,}", "goal 0"),
        ("peak RSS, largest stage (MB)", f"{max(rerun[name]['peak_rss_mb'] for name in MODEL_STAGES):.0f}", "goal < 500"),
    ])
    bench_model_day(store_path, workdir, warehouse, stages)


def bench_model_day(store_path: Path, workdir: Path, warehouse: Path, full: dict[str, dict]) -> None:
    """One sandbox day with ~1 % of records changed, landed, then the incremental model run,
    against a full rebuild of the same raw data (on a copy of the warehouse)."""
    from gocardless_sandbox.config import SandboxConfig
    from gocardless_sandbox.simulation import Simulation
    from gocardless_sandbox.store import SandboxStore

    day_store = workdir / "sandbox-day.sqlite"
    shutil.copyfile(store_path, day_store)  # the cached store stays as generated
    store = SandboxStore(day_store)
    simulation = Simulation(store, SandboxConfig(seed=11, merchants=1, db_path=day_store))
    changes = simulation.advance(days=1, change_fraction=0.01)
    now = datetime.fromtimestamp(simulation.now / 1000, UTC).replace(tzinfo=None)
    store.close()
    started = time.perf_counter()
    relanded = land_from_store(day_store, f"duckdb:///{warehouse}", "bench-model-dc", "bench_model_user",
                               changed_since=store_path)
    print(f"\nsandbox day: {json.dumps(changes)[:100]}; records new or changed landed in "
          f"{time.perf_counter() - started:.0f} s: {relanded}")
    oracle = workdir / "bench-model-oracle.duckdb"
    shutil.copyfile(warehouse, oracle)
    day = run_model(f"duckdb:///{warehouse}", now, "bench-model-dc", "bench_model_user", run_id="bench-day")
    rebuild = run_model(f"duckdb:///{oracle}", now, "bench-model-dc", "bench_model_user", run_id="bench-day-full",
                        full_refresh=True)
    differences = commerce_differences(warehouse, oracle)
    seconds = {name: sum(run[stage]["seconds"] for stage in MODEL_STAGES) for name, run in (("day", day), ("full", rebuild))}
    rows = [(f"{stage}: s, incremental / full rebuild", f"{day[stage]['seconds']:.1f} / {rebuild[stage]['seconds']:.1f}", "")
            for stage in MODEL_STAGES]
    rows += [
        ("all stages s, incremental / full rebuild", f"{seconds['day']:.1f} / {seconds['full']:.1f}",
         f"goal ≤ 1/20 ({seconds['full'] / max(seconds['day'], 1e-9):.0f}×)"),
        ("first full rebuild, all stages s", f"{sum(full[stage]['seconds'] for stage in MODEL_STAGES):.1f}", "goal ≤ 90"),
        ("incremental: peak RSS, largest stage (MB)", f"{max(day[s]['peak_rss_mb'] for s in MODEL_STAGES):.0f}", "goal ≤ 300"),
        ("full rebuild: peak RSS, largest stage (MB)", f"{max(rebuild[s]['peak_rss_mb'] for s in MODEL_STAGES):.0f}", ""),
        ("plan", json.dumps(day["transform"]["summary"].get("plan"))[:60], ""),
        ("records rebuilt", json.dumps(day["transform"]["summary"].get("affected"))[:60], ""),
        ("commerce.* equal to the full rebuild", "yes" if not differences else f"NO: {differences}", "goal yes"),
    ]
    _print("commerce model: one sandbox day (~1 % changed), incremental vs full rebuild", rows)


def commerce_differences(warehouse: Path, oracle: Path) -> dict[str, int]:
    """Rows of each ``commerce.*`` table in one warehouse and not the other. The quarantine's
    run ids aside: the two runs have different ids (their staging must not collide), so a
    record first quarantined by them differs in ``first_run_id``; and an incremental run
    re-stamps ``last_run_id`` only of what it re-checked."""
    import duckdb

    from gocardless_commerce.model import schema

    quarantine = ", ".join(c for c in schema.QUARANTINE if c not in ("first_run_id", "last_run_id"))
    tables = {"transactions": "*", "subscriptions": "*", "transactions_insight": "*", "subscriptions_insight": "*",
              "quarantine": quarantine}
    differences = {}
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{warehouse}' AS a (READ_ONLY)")
        conn.execute(f"ATTACH '{oracle}' AS b (READ_ONLY)")
        for table, columns in tables.items():
            one_way = f"SELECT {columns} FROM a.commerce.{table} EXCEPT ALL SELECT {columns} FROM b.commerce.{table}"
            other = f"SELECT {columns} FROM b.commerce.{table} EXCEPT ALL SELECT {columns} FROM a.commerce.{table}"
            count = conn.execute(f"SELECT (SELECT count(*) FROM ({one_way})) + (SELECT count(*) FROM ({other}))").fetchone()[0]
            if count:
                differences[table] = count
    return differences


def bench_throttled(payments: int, workdir: Path, port: int, limit: int) -> None:
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

    with SandboxProcess(
        port=port, log_file=workdir / "sandbox-throttled.log", seed=12, merchants=1, payments=payments,
        db=workdir / "sandbox-throttled.sqlite", rate_limit=limit, now=now.isoformat(),
    ) as sandbox:
        organisation = sandbox.organisations()[0]
        grant = connect(sandbox.base_url, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, organisation["email"])
        outcome = run_sync(sandbox.base_url, grant["access_token"], f"duckdb:///{workdir / 'throttled.duckdb'}", "bench-throttled", now)
    requests_made = outcome["result"]["api_requests"]
    achieved = requests_made / (outcome["elapsed"] / 60)
    _print(
        f"throttled: sandbox at {limit} requests/min",
        [
            ("API requests", requests_made, ""),
            ("429 responses received", outcome["rate_limited"], "goal 0"),
            ("client retries", outcome["retries"], ""),
            ("pre-emptive waits (count / seconds)", f"{outcome['rate_limit_waits']} / {outcome['rate_limit_wait_seconds']}", ""),
            ("achieved requests/min", f"{achieved:.0f}", ""),
            ("fraction of the limit", f"{achieved / limit:.1%}", "goal ≥ 90 %"),
        ],
    )


def bench_insights(merchants: int) -> None:
    """Monthly insights for many merchants at once, from synthetic commerce rows."""
    import random
    from decimal import Decimal

    import pandas as pd

    from gocardless_commerce.model import schema, subscriptions_insight, transactions_insight

    rng = random.Random(5)
    now = datetime(2026, 11, 15, tzinfo=UTC)
    tx_rows, sub_rows = [], []
    for m in range(merchants):
        for n in range(120):
            day = datetime(2025, 12, 1) + timedelta(days=rng.randrange(350))
            tx_rows.append({
                "id": f"t{m}-{n}", "user_id": f"u{m}", "data_connection_id": f"dc{m}", "provider_name": "gocardless",
                "type": rng.choice(["PAYMENT", "PAYMENT", "PAYMENT", "PAYOUT", "PAYMENT_REFUND"]),
                "status": rng.choice(["SUCCESS", "SUCCESS", "DENIED", "PENDING"]), "description": None,
                "amount": Decimal(rng.randrange(100, 50_000)) / 100, "currency": rng.choice(["GBP", "EUR"]),
                "fee_amount": None, "source_id": f"PM{m}-{n}", "source_type": "payment:paid_out",
                "source_created_at": day, "value_date": day.date(), "initial_transaction_id": None, "scheme": None,
                "mandate_id": None, "subscription_id": None, "customer_id": None, "payout_id": None,
                "gateway_state": None, "settled_on": None, "updated_at": day,
            })
        for n in range(10):
            start = datetime(2025, 6, 1) + timedelta(days=rng.randrange(500))
            unit = rng.choice(["week", "month", "year"])
            sub_rows.append({
                "id": f"s{m}-{n}", "user_id": f"u{m}", "data_connection_id": f"dc{m}", "provider_name": "gocardless",
                "source_id": f"SB{m}-{n}", "source_created_at": start, "amount": Decimal(rng.randrange(500, 9_000)) / 100,
                "currency": "GBP", "status": "ACTIVE", "plan_name": "plan", "frequency_unit": unit,
                "frequency_interval": 1, "source_status": "active", "start_date": start.date(), "ended_at": pd.NaT,
                "mandate_id": None, "customer_id": f"CU{m}-{n % 7}", "mrr": Decimal("10.00"), "updated_at": start,
            })
    transactions = schema.frame(pd.DataFrame(tx_rows).to_dict("list"), schema.TRANSACTIONS)
    subscriptions = schema.frame(pd.DataFrame(sub_rows).to_dict("list"), schema.SUBSCRIPTIONS)
    events = pd.DataFrame({c: pd.Series(dtype=object) for c in ("user_id", "data_connection_id", "id", "created_at", "payload", "resource_type", "action")})
    started = time.perf_counter()
    tx_insight = transactions_insight(transactions, now=now, history_months=12)
    tx_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sub_insight = subscriptions_insight(subscriptions, events, now=now, history_months=12)
    sub_seconds = time.perf_counter() - started
    _print(
        f"insights: {merchants:,} merchants × 12 months",
        [
            ("transactions_insight rows / s", f"{len(tx_insight):,} / {tx_seconds:.1f}", ""),
            ("subscriptions_insight rows / s", f"{len(sub_insight):,} / {sub_seconds:.1f}", ""),
        ],
    )


SCENARIOS = ("parse", "extraction", "throttled", "model", "insights", "reconciliation-scale", "merchants-e2e",
             "merchants-airflow", "api-reads")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--model-payments", type=int, default=1_000_000)
    parser.add_argument("--throttled-payments", type=int, default=80_000)
    parser.add_argument("--rate-limit", type=int, default=1000)
    parser.add_argument("--parse-merchants", default="1000,5000", help="comma-separated registry sizes to parse")
    parser.add_argument("--insights-merchants", type=int, default=1000)
    parser.add_argument("--recon-merchants", type=int, default=1000)
    parser.add_argument("--e2e-merchants", type=int, default=200)
    parser.add_argument("--airflow-merchants", type=int, default=200)
    parser.add_argument("--reads-transactions", type=int, default=1_000_000)
    parser.add_argument("--airflow-executors", default="local,celery", help="comma-separated: local, celery")
    parser.add_argument("--small-payments", type=int, default=5, help="payments of each merchant in the scale scenarios")
    parser.add_argument("--postgres-url", default=os.environ.get("GC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="server where merchants-e2e creates (and drops) its warehouse database")
    parser.add_argument("--port", type=int, default=4020)
    parser.add_argument(
        "--scenarios", default="parse,extraction,throttled,model,insights",
        help="comma-separated: " + ", ".join(SCENARIOS),
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("AIRFLOW_HOME", str(settings.PROJECT_ROOT / ".airflow"))  # not ~/airflow
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    scenarios = set(args.scenarios.split(","))
    unknown = scenarios - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="gc-bench-") as tmp:
        workdir = Path(tmp)
        if "parse" in scenarios:
            bench_scale.bench_parse([int(n) for n in args.parse_merchants.split(",")], workdir)
        if "extraction" in scenarios:
            bench_extraction(args.payments, workdir, args.port)
        if "model" in scenarios:
            bench_model(args.model_payments, workdir)
        if "insights" in scenarios:
            bench_insights(args.insights_merchants)
        if "throttled" in scenarios:
            bench_throttled(args.throttled_payments, workdir, args.port + 1, args.rate_limit)
        if "reconciliation-scale" in scenarios:
            bench_scale.bench_reconciliation_scale(args.recon_merchants, args.small_payments, workdir, args.port + 2)
        if "merchants-e2e" in scenarios:
            bench_scale.bench_merchants_e2e(args.e2e_merchants, args.small_payments, workdir, args.port + 3, args.postgres_url)
        if "api-reads" in scenarios:
            bench_reads.bench_api_reads(args.reads_transactions, workdir, args.postgres_url)
        if "merchants-airflow" in scenarios:
            for offset, executor in enumerate(args.airflow_executors.split(",")):
                bench_cluster.bench_merchants_on_airflow(args.airflow_merchants, args.small_payments, workdir,
                                                         args.port + 4 + offset, args.postgres_url, executor)


if __name__ == "__main__":
    main()
