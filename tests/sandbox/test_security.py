"""The sandbox hands out nothing anyone can compute or reach: random tokens, an admin secret,
loopback only unless told otherwise."""

from __future__ import annotations

import pytest
import requests

from gocardless_sandbox import SandboxServer
from tests.fixtures.sandbox import sandbox_headers, small_config
from tests.sandbox.conftest import error_of
from tests.sandbox.test_cli import _listens_only_on_loopback

ADMIN_ROUTES = [
    ("GET", "/sandbox/health", None),
    ("GET", "/sandbox/clock", None),
    ("POST", "/sandbox/clock/advance", {"days": 0}),
    ("GET", "/sandbox/faults", None),
    ("PUT", "/sandbox/faults", {"error_rate": 0.0}),
    ("GET", "/sandbox/merchants", None),
]


def test_tokens_are_random_per_instance_not_derived_from_the_seed(sandbox_factory):
    first, second = sandbox_factory(payments_per_merchant=10), sandbox_factory(payments_per_merchant=10)
    assert [m.organisation_id for m in first.merchants] == [m.organisation_id for m in second.merchants]
    first_tokens = {m.access_token for m in first.merchants}
    assert first_tokens.isdisjoint(m.access_token for m in second.merchants)
    assert all(t.startswith("sandbox_") and len(t) == 48 for t in first_tokens)
    # same seed, same organisation: the other instance's token is refused
    crossed = requests.get(f"{second.base_url}/creditors", headers=sandbox_headers(first.merchants[0].access_token),
                           timeout=5)
    assert crossed.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_need_the_admin_secret(sandbox, method, path, body):
    url = f"{sandbox.base_url}{path}"
    for headers in ({}, {"Sandbox-Admin-Secret": "guess"}, sandbox_headers(sandbox.merchants[0].access_token)):
        refused = requests.request(method, url, json=body, headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        assert error_of(refused)["errors"][0]["reason"] == "admin_secret_required"
    allowed = requests.request(method, url, json=body, headers=sandbox.admin_headers, timeout=10)
    assert allowed.status_code == 200, allowed.text


def test_a_configured_admin_secret_is_used_and_never_shown(tmp_path):
    config = small_config(payments_per_merchant=10, admin_secret="configured-secret-wt-faults")
    assert "configured-secret-wt-faults" not in repr(config) and config.oauth_client_secret not in repr(config)
    with SandboxServer(config) as server:
        assert server.admin_secret == "configured-secret-wt-faults"
        health = requests.get(f"{server.base_url}/sandbox/health",
                              headers={"Sandbox-Admin-Secret": "configured-secret-wt-faults"}, timeout=5)
        assert health.status_code == 200
    with SandboxServer(small_config(payments_per_merchant=10)) as first, \
            SandboxServer(small_config(payments_per_merchant=10)) as second:
        assert first.admin_secret != second.admin_secret and len(first.admin_secret) >= 32


def test_the_server_binds_loopback_by_default(sandbox):
    assert sandbox.host == "127.0.0.1"
    assert _listens_only_on_loopback(sandbox.port)
