"""Read the registry snapshot: the DAG factory's only input at parse time.

Deliberately light (json + pathlib): the DAG processor imports this every 30 s, and a task
process imports it before it runs, so it must not pull in SQLAlchemy, pandas or the client.
"""

from __future__ import annotations

import json
from pathlib import Path

from gocardless_commerce.settings import registry_snapshot_path


def read_snapshot(path: Path | None = None) -> list[dict]:
    """The merchants that get a sync DAG, as the registry last wrote them ([] if none yet)."""
    try:
        return json.loads((path or registry_snapshot_path()).read_text())["merchants"]
    except FileNotFoundError:
        return []
