"""``make demo`` / ``make airflow``: the pipeline end to end on embedded defaults.

Starts the GoCardless sandbox as its own process, prepares an Airflow home under ``.airflow/``
(SQLite metadata database, a Fernet key kept in a 0600 file so connections are encrypted) and
connects demo merchants through the sandbox's OAuth flow (tokens go straight into Airflow
connections).

* ``make demo`` starts from scratch (warehouse, sandbox data, registry snapshot and Airflow
  metadata are reset), runs every merchant's sync DAG through ``airflow dags test`` — a
  backfill, then, after moving the sandbox clock a day, an incremental run — and the daily
  gateway reconciliation of that day, and prints what landed and the reconciliation summary.
  Runs take the wall clock as logical date, so the UI shows their true durations and the
  schedule's own runs never collide with them.
* ``make airflow`` (``--standalone``) keeps whatever the demo built, registers only the demo
  merchants that are missing, and serves the UI (:class:`LocalAirflow`) until Ctrl-C.
* ``make reset`` deletes all of it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gocardless_commerce import settings
from gocardless_commerce.devtools.local_airflow import LocalAirflow, airflow_environment
from gocardless_commerce.devtools.sandbox_process import REDIRECT_URI, SandboxProcess, connect

log = logging.getLogger("gocardless_commerce.devtools.demo")

def connect_demo_merchants(sandbox: SandboxProcess, client_id: str, client_secret: str) -> list[str]:
    """Register every sandbox organisation as a merchant, exactly as an operator would.

    Idempotent: a demo merchant already ``CONNECTED`` keeps its data connection and token.
    """
    from gocardless_commerce.orchestration.connections import save_connection
    from gocardless_commerce.orchestration.pools import ensure_pools
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    save_connection(
        settings.GOCARDLESS_PROVIDER_CONN_ID, login=client_id, password=client_secret,
        extra={"is_sandbox": True, "base_url": sandbox.base_url},
        description="GoCardless partner app (demo: the local sandbox)",
    )
    engine = get_engine()
    apply_migrations(engine)
    registry = Registry(engine)
    user_ids = []
    for number, organisation in enumerate(sandbox.organisations(), start=1):
        user_id = f"demo_merchant_{number}"
        existing = registry.for_user(user_id)
        if existing is not None and existing.status == "CONNECTED":
            log.info("%s is already connected (%s)", user_id, existing.id)
            user_ids.append(user_id)
            continue
        grant = connect(sandbox.base_url, client_id, client_secret, organisation["email"])
        connection = registry.connect(user_id, organisation["name"], organisation_id=grant["organisation_id"])
        save_connection(
            connection.airflow_conn_id, password=grant["access_token"],
            extra={"organisation_id": grant["organisation_id"]},
            description=f"GoCardless access token of {organisation['name']}",
        )
        log.info("Connected %s (%s) as %s", organisation["name"], grant["organisation_id"], user_id)
        user_ids.append(user_id)
    ensure_pools(user_ids)  # the DuckDB writer pool and one pool per merchant's access token
    return user_ids


def run_dag(dag_id: str, log_dir: Path, env: dict[str, str]) -> None:
    """``airflow dags test`` one run; its full log goes to a file, a failure shows the tail.

    The logical date is now: ``dags test`` also takes it as the run's start, so a date in the
    past or future would show a false duration in the UI (and could take the slot of a
    scheduled run).
    """
    logical_date = datetime.now(UTC).replace(microsecond=0)
    log_file = log_dir / f"{dag_id}-{logical_date:%Y%m%dT%H%M%S}.log"
    command = ["airflow", "dags", "test", dag_id, logical_date.isoformat()]
    started = time.monotonic()
    with log_file.open("w") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = log_file.read_text().splitlines()[-40:]
        raise SystemExit(f"{dag_id} failed (exit {code}); last lines of {log_file}:\n" + "\n".join(tail))
    log.info("%s finished in %.0f s (log: %s)", dag_id, time.monotonic() - started, log_file)


def print_report() -> None:
    """What landed: rows per warehouse table, what each sync run cost, a taste of the insights."""
    import sqlalchemy as sa

    from gocardless_commerce.extract.landing import RESOURCES
    from gocardless_commerce.warehouse.engine import describe, get_engine, transaction

    engine = get_engine()
    tables = [r.table for r in RESOURCES.values()] + [
        "commerce.transactions", "commerce.subscriptions", "commerce.transactions_insight",
        "commerce.subscriptions_insight", "raw.gocardless_quarantine", "commerce.quarantine",
    ]
    with transaction(engine) as conn:
        print("\nRows per table:")
        for table in tables:
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            print(f"  {table:<40} {count:>9,}")
        print("\nSync runs:")
        runs = conn.execute(
            sa.text(
                "SELECT u.name, r.mode, r.api_requests, r.records_landed, r.records_changed "
                "FROM meta.sync_runs r JOIN meta.data_connections dc ON dc.id = r.data_connection_id "
                "JOIN meta.users u ON u.id = dc.user_id ORDER BY u.name, r.started_at"
            )
        ).all()
        for name, mode, requests_used, landed, changed in runs:
            print(f"  {name:<32} {mode:<12} {requests_used:>6} API requests {landed:>9,} records {changed:>9,} changed")
        print("\nLatest month per merchant (commerce.latest_month_per_merchant):")
        latest = conn.execute(
            sa.text(
                "SELECT u.name, l.month, l.currency, l.payments_nb, l.payments_amount, l.mrr, l.subscription_nb, "
                "l.is_partial_month "
                "FROM commerce.latest_month_per_merchant l JOIN meta.users u ON u.id = l.user_id "
                "ORDER BY u.name, l.currency"
            )
        ).all()
        for name, month, currency, payments_nb, payments_amount, mrr, subscription_nb, partial in latest:
            print(
                f"  {name:<24} {month} {currency}  {payments_nb:>4} payments {payments_amount:>12} "
                f" MRR {mrr if mrr is not None else '-':>10} ({subscription_nb if subscription_nb is not None else 0} subscriptions)"
                + ("  [partial: month to date]" if partial else "")
            )
        if any(row[-1] for row in latest):
            print("  A partial month is not over: its totals are month to date, not a fall against the month before.")
        print_quarantine_reasons(conn)
    print(f"\nWarehouse: {describe(engine)}")
    print(f"Great Expectations Data Docs: {settings.data_dir() / 'gx_data_docs'}")


def print_quarantine_reasons(conn) -> None:
    """Why rows are in ``commerce.quarantine``: rows per table and failed rule (one row may fail several)."""
    from collections import Counter

    import sqlalchemy as sa

    reasons: Counter[tuple[str, str]] = Counter()
    for table, failed_rules in conn.execute(sa.text("SELECT source_table, failed_rules FROM commerce.quarantine")):
        rules = json.loads(failed_rules) if isinstance(failed_rules, str) else failed_rules
        for rule in rules:
            reasons[(table, rule)] += 1
    if not reasons:
        return
    print("\nQuarantined rows by table and failed rule (docs/metrics.md explains each rule):")
    for (table, rule), count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {table:<32} {rule:<44} {count:>6,}")


def print_reconciliation(period: str) -> None:
    from gocardless_commerce.reconciliation.job import summary_lines
    from gocardless_commerce.warehouse.engine import get_engine

    print()
    for line in summary_lines(get_engine(), period) or [f"No reconciliation job for {period}"]:
        print(line)
    print("  Unknown: GoCardless events with no gateway meaning (payment created/submitted/paid_out, payout and\n"
          "  subscription events…), kept for the audit trail with no action; see docs/reconciliation.md.")


def reset(env: dict[str, str]) -> None:
    """Delete what the demo built: warehouse, sandbox data, registry snapshot, Airflow metadata."""
    data = settings.data_dir()
    for stale in (data / "warehouse.duckdb", data / "warehouse.duckdb.wal", data / "sandbox.sqlite",
                  settings.registry_snapshot_path()):
        stale.unlink(missing_ok=True)
    shutil.rmtree(data / "gx_data_docs", ignore_errors=True)
    subprocess.run(["airflow", "db", "reset", "--yes"], check=True, env=env, stdout=subprocess.DEVNULL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_ui(sandbox: SandboxProcess, env: dict[str, str], log_dir: Path, host: str, port: int) -> None:
    """Serve the Airflow UI until Ctrl-C (or SIGTERM), then stop everything that was started."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    with LocalAirflow(env, log_dir, host=host, port=port) as airflow:
        airflow.wait_until_ready()
        passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        log.info("Airflow UI on %s (user admin, password in %s); sandbox on %s. Ctrl-C stops everything.",
                 airflow.url, passwords, sandbox.base_url)
        try:
            airflow.wait()
        except KeyboardInterrupt:
            log.info("Stopping Airflow and the sandbox")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--standalone", action="store_true", help="serve the Airflow UI over what the demo built")
    parser.add_argument("--reset", action="store_true", help="only delete what the demo built, then exit")
    parser.add_argument("--merchants", type=int, default=3)
    parser.add_argument("--payments", type=int, default=1500, help="payments per demo merchant")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", 4010)), help="sandbox port")
    parser.add_argument("--airflow-port", type=int, default=int(os.environ.get("AIRFLOW_PORT", 8080)))
    parser.add_argument("--host", default=os.environ.get("AIRFLOW_HOST", "127.0.0.1"), help="API server address")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")

    data = settings.data_dir()
    log_dir = data / "demo-logs"
    log_dir.mkdir(exist_ok=True)
    env = airflow_environment(settings.PROJECT_ROOT / ".airflow")
    os.environ.update(env)
    env = dict(os.environ)
    if shutil.which("airflow") is None:
        raise SystemExit("`airflow` is not on PATH; run this through `make demo` (it puts .venv/bin first).")
    if args.reset or not args.standalone:
        # The demo starts from scratch: the sandbox regenerates its data, so old cursors would not match.
        log.info("Resetting the demo's warehouse, sandbox data and Airflow metadata in %s", settings.PROJECT_ROOT)
        reset(env)
        if args.reset:
            return

    from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

    log.info("Preparing the Airflow metadata database in %s", env["AIRFLOW_HOME"])
    subprocess.run(["airflow", "db", "migrate"], check=True, env=env, stdout=subprocess.DEVNULL)
    # The sandbox's history ends yesterday at 00:00 UTC; the demo then lives through yesterday
    # (the clock advance), so the sandbox is never ahead of the wall clock the runs take as now.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    sandbox_process = SandboxProcess(
        port=args.port, log_file=log_dir / "sandbox.log", seed=args.seed, merchants=args.merchants,
        payments=args.payments, db=data / "sandbox.sqlite", now=yesterday.isoformat(),
        # the demo's own OAuth client, and the Commerce API's callback on the Airflow port
        oauth_redirect_uri=[REDIRECT_URI, f"http://{args.host}:{args.airflow_port}/commerce/api/v6/callback/gocardless"],
    )
    with sandbox_process as sandbox:
        user_ids = connect_demo_merchants(sandbox, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
        if args.standalone:
            serve_ui(sandbox, env, log_dir, args.host, args.airflow_port)
            return
        for user_id in user_ids:
            run_dag(f"gocardless_sync__{user_id}", log_dir, env)
        summary = sandbox.advance(days=1, change_fraction=0.01)
        log.info("Sandbox clock moved one day: %s", summary)
        for user_id in user_ids:
            run_dag(f"gocardless_sync__{user_id}", log_dir, env)
        # The daily gateway reconciliation of the day the sandbox clock just moved through:
        # the day before the run's logical date, as every morning.
        run_dag("gateway_reconciliation", log_dir, env)
    print_report()
    print_reconciliation(yesterday.isoformat())


if __name__ == "__main__":
    main()
