"""The Commerce API in a real Airflow API server, against the real sandbox: authentication and
roles, then a merchant's whole life (credentials → user → data connection → GoCardless OAuth →
CONNECTED → its DAG runs → its transactions read back → disconnected → deleted), and OAuth
states that must not work (forged, replayed, denied).

Heavy (four Airflow processes and real DAG runs: a few minutes), so marked ``airflow``. The
tests of this module run in order and share one Airflow.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gocardless_commerce.api.oauth_state import new_nonce, sign_state
from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from tests.fixtures.commerce_api import (
    CommerceAirflow, call, connect_merchant, credentials_body, wait_for_sync,
)

pytestmark = pytest.mark.airflow

CREDENTIALS_PATH = "/providers/gocardless/credentials"


@pytest.fixture(scope="module")
def server(commerce_airflow) -> CommerceAirflow:
    return commerce_airflow


def _assert_error(response: requests.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    if code:
        assert error["code"] == code
    return error


def test_every_route_needs_an_airflow_token(server):
    _assert_error(call(server, "GET", "/providers", user=None), 401)
    _assert_error(call(server, "PUT", CREDENTIALS_PATH, user=None, json=credentials_body(server)), 401)
    _assert_error(call(server, "GET", "/users/acme/commerce-transactions", user=None), 401)
    bad = requests.get(f"{server.api}/providers", headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert bad.status_code in (401, 403) and "error" in bad.json()
    assert call(server, "GET", "/providers", user="viewer").status_code == 200


@pytest.mark.parametrize("role_user", ["viewer", "runner"])
def test_a_role_that_may_not_change_connections_cannot_write(server, role_user):
    _assert_error(call(server, "PUT", CREDENTIALS_PATH, user=role_user, json=credentials_body(server)), 403)
    _assert_error(call(server, "POST", "/users/legal", user=role_user, json={"name": "Nope"}), 403)
    assert "gocardless_default" not in requests.get(
        f"{server.url}/api/v2/connections", headers=server.headers(), timeout=30).text


def test_credentials_are_stored_as_the_provider_connection_and_never_echoed(server):
    saved = call(server, "PUT", CREDENTIALS_PATH, user="operator", json=credentials_body(server))
    assert saved.status_code == 200, saved.text
    assert DEFAULT_OAUTH_CLIENT_SECRET not in saved.text
    provider = saved.json()
    assert provider["available"] and provider["enabled"] and provider["credentials_config"]["is_sandbox"] is True
    connection = requests.get(f"{server.url}/api/v2/connections/gocardless_default", headers=server.headers(),
                              timeout=30).json()
    assert (connection["conn_type"], connection["login"]) == ("gocardless", DEFAULT_OAUTH_CLIENT_ID)
    # an invalid body is refused in the one error format, without the secret it carried
    bad = call(server, "PUT", CREDENTIALS_PATH, json={"credentials": {"client_secret": "cs_do_not_echo", "x": 1}})
    error = _assert_error(bad, 422, "VALIDATION_ERROR")
    assert "cs_do_not_echo" not in bad.text
    assert any(detail["location"][-1] == "is_sandbox" for detail in error["details"])
    listed = call(server, "GET", "/providers", user="viewer").json()
    assert listed[0]["name"] == "gocardless" and DEFAULT_OAUTH_CLIENT_SECRET not in str(listed)


def test_settings_and_enable(server):
    assert call(server, "PUT", "/providers/gocardless/settings", json={"auto_connect": True}).json()["auto_connect"]
    assert call(server, "PUT", "/providers/gocardless", json={"enable": False}).json()["enabled"] is False
    call(server, "POST", "/users/legal", json={"id": "early", "name": "Early Ltd"})
    _assert_error(call(server, "POST", "/users/early/data-connections", json={"provider_name": "gocardless"}), 409)
    assert call(server, "PUT", "/providers/gocardless", json={"enable": True}).json()["enabled"] is True
    assert call(server, "DELETE", "/users/early").status_code == 204


def test_users_are_created_listed_and_validated(server):
    created = call(server, "POST", "/users/legal", json={"id": "acme", "name": "Acme Ltd", "siren": "123456789",
                                                          "country": "FR"})
    assert created.status_code == 201, created.text
    assert created.json()["siren"] == "123456789" and created.json()["data_connections"] == []
    _assert_error(call(server, "POST", "/users/legal", json={"id": "acme", "name": "Again"}), 409)
    _assert_error(call(server, "POST", "/users/legal", json={"name": "Bad", "siren": "12"}), 422, "VALIDATION_ERROR")
    _assert_error(call(server, "POST", "/users/legal", json={"id": "no spaces", "name": "Bad"}), 422)
    generated = call(server, "POST", "/users/legal", json={"name": "Globex"}).json()
    assert re.fullmatch(r"[0-9a-f-]{36}", generated["id"])
    listed = call(server, "GET", "/users", user="viewer", params={"per_page": 1}).json()
    assert listed["total"] == 2 and len(listed["result"]) == 1
    _assert_error(call(server, "GET", "/users/nobody", user="viewer"), 404)


def test_a_merchant_connects_through_oauth_and_its_dag_appears_and_syncs(server):
    body, callback = connect_merchant(server, "acme")
    assert callback.startswith(server.callback_url)
    connected = requests.get(callback, headers=server.headers("operator"), timeout=300)
    assert connected.status_code == 200, connected.text
    connection = connected.json()
    assert connection["status"] == "CONNECTED" and connection["organisation_id"]
    assert connection["dag_id"] == "gocardless_sync__acme"
    dag = requests.get(f"{server.url}/api/v2/dags/gocardless_sync__acme", headers=server.headers(), timeout=30)
    assert dag.status_code == 200 and dag.json()["is_paused"] is False
    # auto_connect started the first sync; a second one is refused while it is active
    first = call(server, "GET", "/users/acme/sync/latest", user="viewer").json()
    assert first["status"] in ("QUEUED", "FETCHING") and first["data_types"] == body["requested_data_types"]
    _assert_error(call(server, "POST", "/users/acme/sync", user="runner", json={}), 409, "SYNC_IN_PROGRESS")
    done = wait_for_sync(server, "acme")
    assert done["status"] == "SUCCESS", (done, server.log_tail())
    assert done["counts"]["records_landed"] > 0 and done["finished_at"]
    # ...and it is the run of the schedule's latest interval: once the scheduler has moved on to
    # the next interval, the DAG still has that one run (no second, scheduled first sync)
    runs_url = f"{server.url}/api/v2/dags/gocardless_sync__acme/dagRuns"
    first_run = requests.get(runs_url, headers=server.headers(), timeout=30).json()["dag_runs"][0]
    assert first_run["logical_date"] is not None
    deadline = time.monotonic() + 120
    while requests.get(f"{server.url}/api/v2/dags/gocardless_sync__acme", headers=server.headers(),
                       timeout=30).json()["next_dagrun_logical_date"] <= first_run["logical_date"]:
        assert time.monotonic() < deadline, "the scheduler did not move on to the next interval"
        time.sleep(2)
    runs = requests.get(runs_url, headers=server.headers(), timeout=30).json()
    assert runs["total_entries"] == 1, runs


def test_the_callback_refuses_a_forged_state_and_changes_nothing(server):
    before = call(server, "GET", "/users/acme", user="viewer").json()["data_connections"]
    forged = [
        "forged.state",
        sign_state(b"not the server's secret", before[0]["id"], new_nonce()),  # right shape, wrong key
    ]
    for state in forged:
        _assert_error(call(server, "GET", "/callback/gocardless", params={"code": "x", "state": state}), 400,
                      "INVALID_STATE")
    _assert_error(call(server, "GET", "/callback/gocardless", params={"code": "x"}), 422)
    for state in forged:  # the redirect_url refuses them too
        _assert_error(call(server, "GET", "/connect/gocardless", params={"state": state}), 400, "INVALID_STATE")
    assert call(server, "GET", "/users/acme", user="viewer").json()["data_connections"] == before


def test_a_sync_is_triggered_on_demand_and_listed(server):
    _assert_error(call(server, "POST", "/users/acme/sync", user="viewer", json={}), 403)
    _assert_error(call(server, "POST", "/users/acme/sync", user="runner", json={"data_types": ["NOPE"]}), 422)
    started = call(server, "POST", "/users/acme/sync", user="runner", json={"data_types": ["COMMERCE_TRANSACTION"]})
    assert started.status_code == 202, started.text
    assert started.json()["data_types"] == ["COMMERCE_TRANSACTION"]
    assert wait_for_sync(server, "acme")["status"] == "SUCCESS"
    syncs = call(server, "GET", "/users/acme/sync", user="viewer").json()
    # the first sync, this one, and the scheduled run Airflow starts when the DAG is unpaused
    assert syncs["total"] >= 2 and {s["status"] for s in syncs["result"]} == {"SUCCESS"}
    assert started.json()["id"] in [s["id"] for s in syncs["result"]]


def test_transactions_and_insights_are_read_a_page_at_a_time(server):
    page = call(server, "GET", "/users/acme/commerce-transactions", user="viewer", params={"per_page": 5}).json()
    assert page["total"] > 5 and len(page["result"]) == 5 and page["last_page"] == -(-page["total"] // 5)
    for transaction in page["result"]:
        assert re.fullmatch(r"-?\d+\.\d{2,}", transaction["amount"]["value"])
        assert re.fullmatch(r"[A-Z]{3}", transaction["amount"]["currency"])
    everything = call(server, "GET", "/users/acme/commerce-transactions", user="viewer",
                       params={"per_page": 1000}).json()["result"]
    assert len(everything) == page["total"] and everything[:5] == page["result"]
    month = next(t["value_date"] for t in everything if t["value_date"])[:7]
    in_month = call(server, "GET", "/users/acme/commerce-transactions", user="viewer", params={
        "start_date": f"{month}-01", "end_date": f"{month}-28", "per_page": 1000}).json()
    assert in_month["result"] and all(t["value_date"].startswith(month) for t in in_month["result"])
    payments = call(server, "GET", "/users/acme/commerce-transactions", user="viewer",
                     params={"type": everything[0]["type"], "per_page": 1000}).json()["result"]
    assert payments and {t["type"] for t in payments} == {everything[0]["type"]}
    insights = call(server, "GET", "/users/acme/commerce-transactions-insights", user="viewer").json()
    assert insights["total"] > 0 and re.fullmatch(r"-?\d+\.\d{2,}", insights["result"][0]["payments"]["value"])
    _assert_error(call(server, "GET", "/users/acme/commerce-transactions", user="viewer",
                        params={"per_page": 1001}), 422)
    inverted = call(server, "GET", "/users/acme/commerce-transactions", user="viewer",
                     params={"start_date": "2026-02-01", "end_date": "2026-01-01"}).json()
    assert (inverted["total"], inverted["result"]) == (0, [])


def test_a_denied_consent_is_an_auth_error_and_the_state_works_once(server):
    user = call(server, "POST", "/users/legal", json={"id": "globex", "name": "Globex"}).json()
    _, callback = connect_merchant(server, user["id"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    denied = call(server, "GET", "/callback/gocardless", user="operator",
                   params={"state": state, "error": "access_denied", "error_description": "the merchant said no"})
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "AUTH_ERROR" and "access_denied" in denied.json()["status_reason"]
    # the same state again (here with the real code): refused, and the connection is unchanged
    _assert_error(requests.get(callback, headers=server.headers(), timeout=60), 400, "INVALID_STATE")
    assert call(server, "GET", "/users/globex", user="viewer").json()["data_connections"][0]["status"] == "AUTH_ERROR"


def test_disconnecting_revokes_the_token_and_removes_the_dag(server):
    connection = call(server, "GET", "/users/acme", user="viewer").json()["data_connections"][0]
    path = f"/users/acme/data-connections/{connection['id']}"
    token_conn = requests.get(f"{server.url}/api/v2/connections/gocardless_{connection['id']}",
                              headers=server.headers(), timeout=30)
    assert token_conn.status_code == 200
    patched = call(server, "PATCH", path, json={"status": "DISCONNECTED"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "DISCONNECTED" and patched.json()["dag_id"] is None
    assert requests.get(f"{server.url}/api/v2/connections/gocardless_{connection['id']}", headers=server.headers(),
                        timeout=30).status_code == 404
    dag = requests.get(f"{server.url}/api/v2/dags/gocardless_sync__acme", headers=server.headers(), timeout=30).json()
    assert dag["is_stale"] is True and dag["is_paused"] is True
    _assert_error(call(server, "POST", "/users/acme/sync", user="runner", json={}), 404)
    # its data stays until the connection is deleted
    assert call(server, "GET", "/users/acme/commerce-transactions", user="viewer").json()["total"] > 0


def test_deleting_a_user_deletes_its_rows_everywhere(server):
    assert call(server, "DELETE", "/users/acme", user="runner").status_code == 403
    assert call(server, "DELETE", "/users/acme").status_code == 204
    _assert_error(call(server, "GET", "/users/acme", user="viewer"), 404)
    _assert_error(call(server, "GET", "/users/acme/commerce-transactions", user="viewer"), 404)
    import duckdb

    with duckdb.connect(str(server.home / "warehouse.duckdb"), read_only=True) as db:
        left = db.execute("SELECT count(*) FROM commerce.transactions WHERE user_id = 'acme'").fetchone()[0]
        landed = db.execute("SELECT count(*) FROM raw.gocardless_payments WHERE user_id = 'acme'").fetchone()[0]
    assert (left, landed) == (0, 0)


# -- the OpenAPI document, checked by schemathesis against the running server ------------------
# Last in the module: generated requests change things (credentials, users) at random.

@pytest.fixture(scope="module")
def api_schema(server):
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{server.api}/openapi.json", headers=server.headers())
    schema.config.update(base_url=f"{server.url}/commerce", headers=server.headers())
    return schema


def test_the_server_answers_as_its_openapi_document_says(api_schema, server):
    """Every operation, with a few generated inputs each (bounded: about a minute): no 5xx, and
    every answer (errors included) has the status, content type and shape the document declares.
    Driven by hand through Hypothesis: schemathesis's lazy pytest loader does not run on pytest 9."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], database=None, derandomize=True)
        def answers_as_documented(case):
            # a generated OAuth state is never one the server signed: refusing it is the point
            excluded = [positive_data_acceptance] if case.operation.path.endswith(("/callback/gocardless",
                                                                                   "/connect/gocardless")) else []
            case.call_and_validate(headers=server.headers(), timeout=60, excluded_checks=excluded)

        answers_as_documented()
