"""The production shape on one machine: Airflow with Celery workers, PostgreSQL and Redis.

``docker-compose.yml`` runs the same processes in containers with the same settings
(:data:`CELERY_SETTINGS`; ``tests/test_docker_compose.py`` checks they match). Here they are
child processes (no Docker engine needed): the api-server, scheduler, dag-processor and any
number of Celery workers, each with its own log file, stopped by process id.

Used by the Celery test (``tests/orchestration/test_celery_shape.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from gocardless_commerce.devtools.demo import airflow_environment

log = logging.getLogger(__name__)

#: Settings of the distributed shape, shared with docker-compose.yml (values as strings).
CELERY_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    # Several tasks per worker, bounded: the commerce stages each cap their own memory.
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    # Re-parse a DAG file at most every 60 s; list the DAG folder every 5 minutes.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}


#: The ``airflow`` command of this interpreter (whatever is first on PATH).
AIRFLOW = (sys.executable, "-m", "airflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def celery_environment(home: Path, *, metadata_url: str, warehouse_url: str, broker_url: str, staging_url: str,
                       api_port: int) -> dict[str, str]:
    """Environment of every process of the shape: the demo's Airflow settings plus Celery's.

    ``metadata_url`` and ``warehouse_url`` are SQLAlchemy URLs (``postgresql+psycopg://…``).
    """
    env = {**os.environ, **airflow_environment(home), **CELERY_SETTINGS}
    env.update({
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow's async engine would pick asyncpg for postgresql://; psycopg 3 does both.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg://", "+psycopg_async://", 1),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "WAREHOUSE_URL": warehouse_url,
        "GC_COMMERCE_STAGING_URL": staging_url,
    })
    return env


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
