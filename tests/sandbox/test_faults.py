"""Fault settings are reachable through the sandbox's admin API (middleware wired in)."""

from __future__ import annotations

import requests

from tests.fixtures.sandbox import put_faults
from tests.sandbox.conftest import api_for, error_of


def test_server_wide_and_per_request_faults(sandbox_factory):
    server = sandbox_factory(payments_per_merchant=10)
    api = api_for(server)
    admin = server.admin_headers
    assert requests.get(f"{server.base_url}/sandbox/faults", headers=admin, timeout=5).json()["error_rate"] == 0.0
    assert put_faults(server, error_rate=1.0)["error_rate"] == 1.0
    assert server.app.state.faults.error_rate == 1.0
    broken = api.get("/payments")
    assert broken.status_code == 500 and error_of(broken)["type"] == "gocardless"
    assert requests.get(f"{server.base_url}/sandbox/health", headers=admin, timeout=5).status_code == 200  # exempt
    put_faults(server, error_rate=0.0)
    assert api.get("/payments").status_code == 200
    html = api.session.get(f"{server.base_url}/payments", headers={"Sandbox-Fault": "502-html"}, timeout=5)
    assert html.status_code == 502 and html.text.lstrip().startswith("<html>")
    invalid = requests.put(f"{server.base_url}/sandbox/faults", json={"error_rate": 2}, headers=admin, timeout=5)
    assert invalid.status_code == 422 and error_of(invalid)["type"] == "validation_failed"


def test_rate_limit_from_config(sandbox_factory):
    server = sandbox_factory(payments_per_merchant=10, rate_limit_per_minute=3)
    api = api_for(server)
    codes = [api.get("/customers").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = api_for(server, 1)
    assert other.get("/customers").status_code == 200  # per token
