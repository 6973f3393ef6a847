"""Real Airflow runs (``dag.test()``) of ``gateway_reconciliation`` against a two-merchant sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.reconciliation import job
from gocardless_commerce.registry import Registry
from gocardless_commerce.warehouse.engine import transaction
from tests.conftest import PROJECT_ROOT
from tests.reconciliation import scenario
from tests.reconciliation.scenario import D1

pytestmark = pytest.mark.airflow

#: 06:30 UTC the day after D1: the scheduled run that reconciles D1
RUN_AFTER_D1 = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
NOTIFIED: list[tuple[str, dict]] = []


def capture(message: str, report: dict) -> None:
    """A notifier as a deployment would plug one in (``GC_RECONCILIATION_NOTIFIER``)."""
    NOTIFIED.append((message, report))


@pytest.fixture
def merchants(sandbox_factory, warehouse, registry_snapshot, monkeypatch):
    """Two connected merchants; acme had a payment confirmed on D1, and its account is landed."""
    server = sandbox_factory(merchants=2, payments_per_merchant=30)
    registry = Registry(warehouse)
    acme = registry.connect("acme", "Acme Ltd", organisation_id=server.merchants[0].organisation_id)
    globex = registry.connect("globex", "Globex SA", organisation_id=server.merchants[1].organisation_id)
    with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url) as client:
        merchant = scenario.Merchant(client)
        merchant.payment("confirmed", merchant.mandate("paying"))
        scenario.land(server, warehouse, {}, user_id="acme", dc=acme.id)
        merchant.simulate("payment_confirmed", "confirmed")
    server.advance(days=1)
    monkeypatch.setenv("AIRFLOW_CONN_GOCARDLESS_DEFAULT", json.dumps(
        {"conn_type": "gocardless", "extra": {"is_sandbox": True, "base_url": server.base_url}}))
    for connection, index in ((acme, 0), (globex, 1)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{connection.airflow_conn_id.upper()}",
                           json.dumps({"conn_type": "gocardless", "password": server.merchants[index].access_token}))
    monkeypatch.setenv("GC_RECONCILIATION_NOTIFIER", f"{__name__}:capture")
    NOTIFIED.clear()
    return server, acme, globex, merchant.ids


def _dag():
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "gateway_reconciliation.py"))
    assert bag.import_errors == {}
    return bag.dags["gateway_reconciliation"]


def _gateway_state(engine, dc: str, payment_id: str) -> tuple:
    with transaction(engine) as conn:
        return tuple(conn.execute(
            sa.text("SELECT gateway_state, settled_on FROM commerce.transactions WHERE id = :id"),
            {"id": commerce_id(dc, "payment", payment_id)},
        ).one())


def _job(engine) -> dict:
    with transaction(engine) as conn:
        return dict(conn.execute(sa.text("SELECT * FROM reconciliation.jobs WHERE job_number = :j"),
                                 {"j": D1.job_number}).mappings().one())


def test_the_daily_run_reconciles_the_previous_day_and_a_manual_rerun_changes_nothing(airflow_db, merchants, warehouse):
    server, acme, globex, ids = merchants
    dag = _dag()
    assert (dag.timetable.expression, dag.params["reversal_refunds"], dag.params["period_date"]) == ("30 6 * * *", True, None)

    run = dag.test(logical_date=RUN_AFTER_D1)
    assert run.state == "success"
    mapped = sorted((ti.map_index, ti.state, ti.rendered_map_index) for ti in run.get_task_instances()
                    if ti.task_id == "reconcile_merchant")
    assert mapped == [(0, "success", "Acme Ltd (acme)"), (1, "success", "Globex SA (globex)")]
    assert _gateway_state(warehouse, acme.id, ids["confirmed"]) == ("Settled", D1.day)
    first = {m["user_id"]: (m["status"], m["events_total"], m["settled_amounts"]) for m in job.merchant_summaries(warehouse, D1)}
    assert first["acme"] == ("Completed", first["acme"][1], {"GBP": "20.00"}) and first["globex"][0] == "Completed"
    assert _job(warehouse)["status"] == "Completed"
    (message, report), = NOTIFIED
    assert message.splitlines()[0].startswith("Gateway reconciliation 2026-11-01 (job 20261101): Completed - 2 merchant(s)")
    assert report["status"] == "Completed" and not report["needs_attention"]

    # a manual run for that past period (another day's logical date, period_date chosen)
    rerun = dag.test(logical_date=datetime(2026, 11, 5, 6, 30, tzinfo=UTC), run_conf={"period_date": "2026-11-01"})
    assert rerun.state == "success"
    again = {m["user_id"]: (m["status"], m["events_total"], m["settled_amounts"]) for m in job.merchant_summaries(warehouse, D1)}
    assert again == first
    assert _job(warehouse)["attempts"] == 2


def test_an_unreachable_merchant_is_marked_error_and_the_others_complete(airflow_db, merchants, warehouse, monkeypatch):
    server, acme, globex, ids = merchants
    monkeypatch.setenv(f"AIRFLOW_CONN_{globex.airflow_conn_id.upper()}",
                       json.dumps({"conn_type": "gocardless", "password": "sandbox_revoked_token"}))
    run = _dag().test(logical_date=RUN_AFTER_D1)
    assert run.state == "failed"
    tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}
    assert tis[("reconcile_merchant", 0)].state == "success"
    assert tis[("reconcile_merchant", 1)].state == "failed"
    assert tis[("reconcile_merchant", 1)].try_number == 1  # a rejected token is not retried
    assert tis[("finish_job", -1)].state == "failed"  # ran anyway (all_done), and failed the run
    assert _gateway_state(warehouse, acme.id, ids["confirmed"]) == ("Settled", D1.day)

    parts = {m["user_id"]: m for m in job.merchant_summaries(warehouse, D1)}
    assert parts["acme"]["status"] == "Completed" and parts["acme"]["error"] is None
    assert parts["globex"]["status"] == "Error" and parts["globex"]["error"].startswith("AuthenticationError")
    assert "401" in parts["globex"]["error"] or "Authentication failed" in parts["globex"]["error"]
    jobs = _job(warehouse)
    assert (jobs["status"], jobs["merchants_completed"], jobs["merchants_error"]) == ("Error", 1, 1)
    assert jobs["error"].startswith(f"Globex SA ({globex.id}): AuthenticationError")
    (message, report), = NOTIFIED
    assert report["needs_attention"] and "Globex SA (globex): Error - AuthenticationError" in message
