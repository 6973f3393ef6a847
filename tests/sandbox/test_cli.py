"""Running the sandbox as a process, and reusing a SQLite file between runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests

from gocardless_sandbox import SandboxServer
from gocardless_sandbox.generator import merchant_token
from tests.fixtures.sandbox import sandbox_headers, small_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_module_entry_point_serves_the_api(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gocardless_sandbox", "--port", str(port), "--seed", "3", "--merchants", "1",
         "--payments", "30", "--now", "2026-11-01", "--db", str(tmp_path / "cli.sqlite3")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"{base}/sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json()["now"] == "2026-11-01T00:00:00.000Z"
        organisation = requests.get(f"{base}/sandbox/merchants", timeout=5).json()["merchants"][0]
        token = merchant_token(3, organisation["organisation_id"])
        payments = requests.get(f"{base}/payments", headers=sandbox_headers(token), params={"limit": 500}, timeout=5)
        assert len(payments.json()["payments"]) == 30
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "GoCardless sandbox ready on" in output
    assert token not in output


def test_a_database_file_is_reused(tmp_path):
    config = small_config(payments_per_merchant=40, db_path=tmp_path / "kept.sqlite3")
    with SandboxServer(config) as first:
        first.advance(days=2)
        count = first.store.count(first.merchants[0].organisation_id, "payments")
        merchants = first.merchants
    with SandboxServer(config) as second:
        assert second.merchants == merchants
        assert second.store.count(merchants[0].organisation_id, "payments") == count
        assert requests.get(f"{second.base_url}/sandbox/clock", timeout=5).json()["date"] == "2026-11-03"
