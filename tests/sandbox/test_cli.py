"""Running the sandbox as a process, and reusing a SQLite file between runs."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from gocardless_sandbox import SandboxServer
from tests.fixtures.sandbox import sandbox_headers, small_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_module_entry_point_serves_the_api(tmp_path):
    """The process binds 127.0.0.1, takes its admin secret from the environment, draws random
    tokens, writes them to the secrets file (owner-only) and never logs either."""
    port = free_port()
    secrets_file = tmp_path / "secrets" / "sandbox.json"
    admin_secret = "cli-admin-secret-wt-faults"
    process = subprocess.Popen(
        [sys.executable, "-m", "gocardless_sandbox", "--port", str(port), "--seed", "3", "--merchants", "1",
         "--payments", "30", "--now", "2026-11-01", "--db", str(tmp_path / "cli.sqlite3"),
         "--secrets-file", str(secrets_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "GC_SANDBOX_ADMIN_SECRET": admin_secret},
    )
    admin = {"Sandbox-Admin-Secret": admin_secret}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"{base}/sandbox/health", headers=admin, timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json()["now"] == "2026-11-01T00:00:00.000Z"
        assert requests.get(f"{base}/sandbox/health", timeout=5).status_code == 401
        assert _listens_only_on_loopback(port)
        written = json.loads(secrets_file.read_text())
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert written["admin_secret"] == admin_secret
        organisation = requests.get(f"{base}/sandbox/merchants", headers=admin, timeout=5).json()["merchants"][0]
        (merchant,) = written["merchants"]
        assert merchant["organisation_id"] == organisation["organisation_id"]
        token = merchant["access_token"]
        payments = requests.get(f"{base}/payments", headers=sandbox_headers(token), params={"limit": 500}, timeout=5)
        assert len(payments.json()["payments"]) == 30
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "GoCardless sandbox ready on" in output
    assert token not in output and admin_secret not in output


def _listens_only_on_loopback(port: int) -> bool:
    """The listening sockets on ``port`` (Linux's /proc/net/tcp) are all bound to 127.0.0.1."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses == {"127.0.0.1"}


def test_a_database_file_is_reused_with_new_tokens(tmp_path):
    config = small_config(payments_per_merchant=40, db_path=tmp_path / "kept.sqlite3")
    with SandboxServer(config) as first:
        first.advance(days=2)
        count = first.store.count(first.merchants[0].organisation_id, "payments")
        merchants = first.merchants
    with SandboxServer(config) as second:
        assert [m.organisation_id for m in second.merchants] == [m.organisation_id for m in merchants]
        assert second.store.count(merchants[0].organisation_id, "payments") == count
        clock = requests.get(f"{second.base_url}/sandbox/clock", headers=second.admin_headers, timeout=5)
        assert clock.json()["date"] == "2026-11-03"
        # the first instance's tokens stopped working; the new ones work
        old = requests.get(f"{second.base_url}/creditors", headers=sandbox_headers(merchants[0].access_token), timeout=5)
        assert old.status_code == 401
        new = requests.get(f"{second.base_url}/creditors", headers=sandbox_headers(second.merchants[0].access_token), timeout=5)
        assert new.status_code == 200
