"""The sandbox's error bodies against the contract fixtures the client is tested with.

Each case makes the running sandbox fail the way the real API would, over HTTP, and checks the
body against ``tests/contract/errors``: the client and the simulator agree because both agree
with the API reference, not because one was written from the other.
"""

from __future__ import annotations

import pytest
import requests

from tests.contract import ERROR_FIXTURES, assert_error_envelope
from tests.fixtures.sandbox import sandbox_headers
from tests.sandbox.conftest import api_for, authorize, code_from, exchange

COVERED = set()


@pytest.fixture(scope="module")
def server():
    from gocardless_sandbox import SandboxServer
    from tests.fixtures.sandbox import small_config

    with SandboxServer(small_config(payments_per_merchant=40, rate_limit_per_minute=40)) as running:
        yield running


def _check(response: requests.Response, like: str) -> None:
    COVERED.add(like)
    assert_error_envelope(response.json(), like)
    assert response.json()["error"]["code"] == response.status_code


def test_unauthorized_and_not_found(server):
    unknown = requests.get(f"{server.base_url}/payments", headers=sandbox_headers("sandbox_nobody"), timeout=10)
    _check(unknown, "unauthorized")
    _check(api_for(server).get("/payments/PM_DOES_NOT_EXIST"), "resource_not_found")


def test_bad_usage_and_validation(server):
    api = api_for(server)
    structure = api.session.post(f"{server.base_url}/customers", json=[1, 2], timeout=10)
    _check(structure, "invalid_api_usage")
    _check(api.post("/payments", {"payments": {}}), "validation_failed")


def test_invalid_state_and_idempotency_conflict(server):
    api = api_for(server)
    paid = api.get("/payments", status="paid_out", limit=1).json()["payments"][0]
    _check(api.post(f"/payments/{paid['id']}/actions/cancel", {}), "invalid_state")
    customer = {"customers": {"email": "contract@example.com", "given_name": "C", "family_name": "T"}}
    first = api.post("/customers", customer, **{"Idempotency-Key": "contract-key-1"})
    assert first.status_code == 201, first.text
    _check(api.post("/customers", customer, **{"Idempotency-Key": "contract-key-1"}),
           "idempotent_creation_conflict")


def test_gone_payout_items(server):
    api = api_for(server)
    payouts = api.walk("/payouts")
    oldest = min(payouts, key=lambda p: p["created_at"])
    _check(api.get("/payout_items", payout=oldest["id"]), "gone")


def test_internal_error_and_rate_limit(server):
    api = api_for(server, 1)
    faulted = api.session.get(f"{server.base_url}/payments", headers={"Sandbox-Fault": "500"}, timeout=10)
    _check(faulted, "gocardless")
    responses = [api.get("/customers", limit=1) for _ in range(45)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "the rate limit never answered 429"
    _check(limited[0], "rate_limit_exceeded")


def test_read_only_token_cannot_write(server):
    token = exchange(server, code_from(authorize(server, scope="read_only"))).json()["access_token"]
    write = requests.post(f"{server.base_url}/customers", json={"customers": {"email": "a@b.c"}},
                          headers=sandbox_headers(token), timeout=10)
    _check(write, "insufficient_permissions")


def test_every_fixture_is_exercised():
    """Runs last in this module: a fixture the sandbox never produces is a contract nobody checks."""
    assert COVERED == set(ERROR_FIXTURES)
