"""Airflow's processes as children of this one: the shared supervisor, and ``make airflow``.

:class:`AirflowCluster` starts ``airflow`` components in their own process groups, each with
its log file, and stops them by process id (the Celery test builds the production shape on it,
:mod:`.cluster`). :class:`LocalAirflow` is ``make airflow``: the scheduler and triggerer without
their log servers (``airflow standalone`` opens 8793/8794 on every interface; the API server
reads task logs from the local files), the DAG processor and the API server on 127.0.0.1 by
default. One Ctrl-C stops it all: SIGTERM to every group, SIGKILL after a grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from gocardless_commerce import settings

log = logging.getLogger(__name__)


def airflow_environment(home: Path) -> dict[str, str]:
    """Environment for every Airflow process of the demo (kept small for 2 cores)."""
    home.mkdir(parents=True, exist_ok=True)
    key_file = home / "fernet.key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.CODE_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.CODE_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": key_file.read_text().strip(),
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


#: The ``airflow`` command of this interpreter (whatever is first on PATH).
AIRFLOW = (sys.executable, "-m", "airflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AirflowCluster:
    """Airflow's processes as children of this one; :meth:`stop` ends each by its process id."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, timeout: float = 300) -> str:
        """An ``airflow`` CLI command to completion; its output, or an error with the tail."""
        done = subprocess.run([*AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """``airflow <args>`` in the background, logging to ``<log_dir>/<name>.log``."""
        with (self.log_dir / f"{name}.log").open("w") as out:
            process = subprocess.Popen(
                [*AIRFLOW, *args], env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the task processes too
            )
        self.processes[name] = process
        log.info("Started %s (pid %d)", name, process.pid)
        return process

    def start_worker(self, name: str, queues: str, *, concurrency: int = 1, env: dict[str, str] | None = None):
        return self.start(
            name, "celery", "worker", "--queues", queues, "--concurrency", str(concurrency),
            "--celery-hostname", f"{name}@%h", "--without-mingle", "--without-gossip", env=env,
        )

    def wait_for_api(self, timeout: float = 180) -> None:
        url = self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("execution/") + "api/v2/monitor/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise TimeoutError(f"the api-server did not answer {url} within {timeout:.0f} s")

    def wait_until(self, what: str, check, deadline: float, every: float = 3):
        """``check()``'s first truthy result, polled every ``every`` s while every process lives;
        a timeout at the monotonic ``deadline`` names ``what`` and the logs' folder."""
        while time.monotonic() < deadline:
            self.check_alive()
            result = check()
            if result:
                return result
            time.sleep(every)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.log_dir}")

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited: {dead}; logs in {self.log_dir}")

    def stop(self, name: str | None = None, *, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop one process (or all) and its process group, by id; SIGKILL after ``timeout``."""
        names = [name] if name else list(self.processes)
        for each in names:
            process = self.processes[each]
            if process.poll() is None:
                os.killpg(process.pid, sig)
        for each in names:
            process = self.processes.pop(each)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            try:  # task processes left in the group (a worker's children)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> AirflowCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalAirflow:
    """The scheduler, DAG processor, triggerer and API server of one machine, started and stopped together."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host, self.port = host, port
        self.cluster = AirflowCluster({
            **env,
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://{host}:{port}",
            # Task processes report to the execution API of this API server, wherever it listens.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        }, log_dir)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalAirflow:
        self.cluster.start("airflow-scheduler", "scheduler", "--skip-serve-logs")
        self.cluster.start("airflow-dag-processor", "dag-processor")
        self.cluster.start("airflow-triggerer", "triggerer", "--skip-serve-logs")
        self.cluster.start("airflow-api-server", "api-server", "--host", self.host, "--port", str(self.port))
        return self

    def wait_until_ready(self, timeout: float = 300) -> None:
        """Block until the API server answers its health check; fail if a component dies first."""
        self.cluster.wait_for_api(timeout)

    def wait(self) -> None:
        """Block until a component exits (an error: it is reported) or we are interrupted."""
        while True:
            self.cluster.check_alive()
            time.sleep(1)

    def stop(self, grace: float = 20) -> None:
        self.cluster.stop(timeout=grace)
        log.info("Airflow stopped")

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
