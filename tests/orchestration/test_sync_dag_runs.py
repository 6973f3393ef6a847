"""Real Airflow runs (``dag.test()``) of a merchant's sync DAG against the sandbox."""

from __future__ import annotations

import json

import pytest
import requests
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag

from gocardless_commerce.devtools import sandbox_process
from gocardless_commerce.registry import Registry
from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from gocardless_commerce.warehouse.engine import transaction
from tests.conftest import PROJECT_ROOT
from tests.fixtures.sandbox import PINNED_NOW

pytestmark = pytest.mark.airflow


@pytest.fixture
def connected_merchant(sandbox_factory, warehouse, registry_snapshot, monkeypatch):
    """A sandbox merchant registered as user ``acme``, its token in an Airflow connection (env)."""
    server = sandbox_factory(merchants=1, payments_per_merchant=120, seed=5)
    merchant = server.merchants[0]
    # the token comes from the partner-app OAuth flow, as in production
    grant = sandbox_process.connect(server.base_url, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, merchant.email)
    assert grant["organisation_id"] == merchant.organisation_id
    connection = Registry(warehouse).connect("acme", merchant.name, organisation_id=merchant.organisation_id)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOCARDLESS_DEFAULT",
        json.dumps(
            {
                "conn_type": "gocardless", "login": DEFAULT_OAUTH_CLIENT_ID, "password": DEFAULT_OAUTH_CLIENT_SECRET,
                "extra": {"is_sandbox": True, "base_url": server.base_url},
            }
        ),
    )
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{connection.airflow_conn_id.upper()}",
        json.dumps({"conn_type": "gocardless", "password": grant["access_token"]}),
    )
    return server, connection, grant["access_token"]


def _dag(dag_id: str):
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def test_a_dag_run_backfills_the_merchant(airflow_db, connected_merchant, warehouse):
    server, connection, _ = connected_merchant
    run = _dag("gocardless_sync__acme").test(logical_date=PINNED_NOW, run_conf={"history_months": 18})
    assert run.state == "success"
    org = server.merchants[0].organisation_id
    with transaction(warehouse) as conn:
        landed = conn.execute(
            sa.text("SELECT count(*) FROM raw.gocardless_payments WHERE user_id = 'acme' AND data_connection_id = :dc"),
            {"dc": connection.id},
        ).scalar_one()
        mode, run_id = conn.execute(sa.text("SELECT mode, run_id FROM meta.sync_runs")).one()
    assert landed == server.store.count(org, "payments")
    assert mode == "backfill"
    assert run_id == run.run_id


def test_a_revoked_token_fails_once_as_auth_error(airflow_db, connected_merchant, warehouse):
    server, connection, token = connected_merchant
    revoke = requests.post(
        f"{server.base_url}/oauth/revoke",
        data={
            "client_id": DEFAULT_OAUTH_CLIENT_ID, "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
            "token": token,
        },
        timeout=10,
    )
    assert revoke.status_code == 200, revoke.text
    run = _dag("gocardless_sync__acme").test(logical_date=PINNED_NOW)
    assert run.state == "failed"
    ti = run.get_task_instance("extract_and_land")
    assert ti.state == "failed"
    assert ti.try_number == 1  # AirflowFailException: no retry storm
    refreshed = Registry(warehouse).get(connection.id)
    assert refreshed.status == "AUTH_ERROR"
    assert "401" in refreshed.status_reason
    assert token not in (refreshed.status_reason or "")


def _point_merchant_at(monkeypatch, connection, base_url: str, token: str) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{connection.airflow_conn_id.upper()}",
        json.dumps({"conn_type": "gocardless", "password": token, "extra": {"base_url": base_url, "max_retries": 0}}),
    )


def test_a_permanent_api_error_fails_the_task_at_once(airflow_db, connected_merchant, monkeypatch, caplog):
    """A 404 (an API path that does not exist: a wrong base URL) will answer 404 again."""
    server, connection, token = connected_merchant
    _point_merchant_at(monkeypatch, connection, f"{server.base_url}/no-such-api", token)
    run = _dag("gocardless_sync__acme").test(logical_date=PINNED_NOW)
    assert run.state == "failed"
    ti = run.get_task_instance("extract_and_land")
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert "Permanent error, not retried" in caplog.text and "404" in caplog.text


def test_a_transient_api_error_is_retried(airflow_db, connected_merchant, monkeypatch, caplog):
    """Connection refused (the API is down): Airflow retries the task, with backoff."""
    import socket

    _, connection, token = connected_merchant
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    _point_merchant_at(monkeypatch, connection, f"http://127.0.0.1:{closed_port}", token)
    run = _dag("gocardless_sync__acme").test(logical_date=PINNED_NOW)
    assert run.state == "failed"
    ti = run.get_task_instance("extract_and_land")
    assert (ti.state, ti.try_number) == ("failed", ti.max_tries + 1)  # every retry spent
    assert ti.max_tries == 3
    assert "Transient error (Airflow retries it while tries remain)" in caplog.text
