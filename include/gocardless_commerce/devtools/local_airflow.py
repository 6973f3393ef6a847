"""Airflow on one machine for ``make airflow``: its components as children of this process.

``airflow standalone`` would do, but it ignores the first Ctrl-C while its children linger, and
its scheduler and triggerer open log servers on every interface (ports 8793/8794). Here each
component runs in its own process group with its log in a file, the log servers are skipped
(the API server reads task logs from the local files), the API server listens on 127.0.0.1 by
default, and :meth:`LocalAirflow.stop` ends every group it started: SIGTERM, then SIGKILL
after a grace period. One Ctrl-C stops it all.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import requests

log = logging.getLogger(__name__)


class LocalAirflow:
    """The scheduler, DAG processor, triggerer and API server, started and stopped together."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host, self.port = host, port
        self.log_dir = log_dir
        self.env = {
            **env,
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://{host}:{port}",
            # Task processes report to the execution API of this API server, wherever it listens.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        }
        self.commands = {
            "scheduler": ["airflow", "scheduler", "--skip-serve-logs"],
            "dag-processor": ["airflow", "dag-processor"],
            "triggerer": ["airflow", "triggerer", "--skip-serve-logs"],
            "api-server": ["airflow", "api-server", "--host", host, "--port", str(port)],
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[IO[str]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalAirflow:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, command in self.commands.items():
            out = (self.log_dir / f"airflow-{name}.log").open("a")
            self._logs.append(out)
            # Own session: a terminal's Ctrl-C reaches us only, and stop() can end the whole group.
            self.processes[name] = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.info("Started airflow %s (pid %d, log %s)", name, self.processes[name].pid, out.name)
        return self

    def wait_until_ready(self, timeout: float = 300) -> None:
        """Block until the API server answers its health check; fail if a component dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_exited()
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise SystemExit(f"The Airflow API server did not answer on {self.url} within {timeout:.0f} s; see {self.log_dir}")

    def wait(self) -> None:
        """Block until a component exits (an error: it is reported) or we are interrupted."""
        while True:
            self._fail_if_exited()
            time.sleep(1)

    def _fail_if_exited(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(
                    f"airflow {name} exited with code {process.returncode}; "
                    f"see {self.log_dir / f'airflow-{name}.log'}"
                )

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every process group we started, SIGKILL what is left after ``grace`` seconds."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)  # children of an exited leader too
            process.wait()
        for out in self._logs:
            out.close()
        log.info("Airflow stopped (%s)", ", ".join(self.processes))

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the leader's pid
    except ProcessLookupError:
        pass
