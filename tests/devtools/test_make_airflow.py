"""``make airflow`` for real: a fresh home, the UI served on 127.0.0.1 only, one Ctrl-C stops
every process it started, and a second start keeps what the first one registered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from gocardless_commerce.devtools.local_airflow import free_port


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "GC_COMMERCE", "WAREHOUSE_URL"))}
    env["GC_COMMERCE_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env


def _start(home: Path, ui_port: int, sandbox_port: int) -> subprocess.Popen:
    log = (home / "make-airflow.log").open("a")
    # Its own session, as a terminal would run it: the SIGINT below is the terminal's Ctrl-C.
    return subprocess.Popen(
        [sys.executable, "-m", "gocardless_commerce.devtools.demo", "--standalone", "--merchants", "1",
         "--payments", "30", "--port", str(sandbox_port), "--airflow-port", str(ui_port)],
        env=_environment(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_for_ui(process: subprocess.Popen, home: Path, url: str, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, (home / "make-airflow.log").read_text()[-3000:]
        try:
            if requests.get(f"{url}/api/v2/monitor/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(2)
    pytest.fail("the UI never answered:\n" + (home / "make-airflow.log").read_text()[-3000:])


def _ctrl_c(process: subprocess.Popen) -> list[psutil.Process]:
    """Send the terminal's SIGINT; returns the descendants that were alive just before."""
    tree = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=90)
    return tree


def _data_connections(home: Path) -> list[str]:
    snapshot = json.loads((home / "dags" / "merchants.json").read_text())
    return sorted(entry["id"] for entry in snapshot["merchants"])


def test_make_airflow_serves_locally_and_stops_on_one_ctrl_c(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    ui_port, sandbox_port = free_port(), free_port()
    url = f"http://127.0.0.1:{ui_port}"

    first = _start(home, ui_port, sandbox_port)
    try:
        _wait_for_ui(first, home, url)
        tree = psutil.Process(first.pid).children(recursive=True)
        listening = {
            (conn.laddr.ip, conn.laddr.port)
            for proc in [psutil.Process(first.pid), *tree] if proc.is_running()
            for conn in proc.net_connections(kind="inet") if conn.status == psutil.CONN_LISTEN
        }
        assert ("127.0.0.1", ui_port) in listening and ("127.0.0.1", sandbox_port) in listening
        assert all(ip == "127.0.0.1" for ip, _ in listening), listening  # no 0.0.0.0 / [::], no 8793/8794
        # Everything a run writes stays under its home, nothing in the checkout.
        assert (home / ".airflow" / "airflow.db").exists() and (home / "data" / "warehouse.duckdb").exists()
        registered = _data_connections(home)
        assert len(registered) == 1
    finally:
        if first.poll() is None:
            tree = _ctrl_c(first)
    assert first.returncode is not None
    time.sleep(1)
    assert [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []

    second = _start(home, ui_port, sandbox_port)
    try:
        _wait_for_ui(second, home, url)
        assert _data_connections(home) == registered  # kept, not registered again
    finally:
        _ctrl_c(second)
