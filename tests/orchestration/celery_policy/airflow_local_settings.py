"""Airflow cluster policy of the Celery test (on the PYTHONPATH of every Airflow process).

Consecutive tasks of a run go to different queues, each served by one worker, so every
hand-over between tasks crosses workers: what one task stages must reach the next through
shared storage, never a worker's disk. Production routes by other needs (e.g. the model stages
to workers with more memory), with the same mechanism.
"""

from __future__ import annotations

import os
import socket

QUEUE_OF_TASK = {
    "extract_and_land": "worker_a", "transform": "worker_b", "validate": "worker_a",
    "build_insights": "worker_b", "load": "worker_a",
    "start_job": "worker_a", "reconcile_merchant": "worker_b", "finish_job": "worker_a",
}


def task_policy(task) -> None:
    task.queue = QUEUE_OF_TASK.get(task.task_id, task.queue)


def worker_hostname() -> str:
    """The name task instances record as their host: one per worker, though both run here."""
    return os.environ.get("GC_TEST_WORKER_NAME") or socket.getfqdn()
