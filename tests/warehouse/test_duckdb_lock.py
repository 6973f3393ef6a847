"""DuckDB lets one process use a file at a time: a waiting task says what it waits for, for how
long, gives up with a clear error, and a session holding the file lets go at its next commit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from gocardless_commerce.warehouse.engine import WarehouseUnavailableError, connect, get_engine, transaction

HOLD_WITH_A_SESSION = """
import sys, time
import sqlalchemy as sa
from gocardless_commerce.warehouse.engine import Session, get_engine
engine = get_engine(sys.argv[1])
with Session(engine, release_after=60) as session:
    with session.transaction() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS chunks (n INTEGER)"))
    print("holding", flush=True)
    for n in range(150):  # a sync landing chunk after chunk, 0.2 s apart (< release_after)
        with session.transaction() as conn:
            conn.execute(sa.text("INSERT INTO chunks VALUES (:n)"), {"n": n})
        time.sleep(0.2)
        if session._conn is None:
            print("released", flush=True)
            break
"""

HOLD_A_CONNECTION = """
import sys, time
from gocardless_commerce.warehouse.engine import get_engine
with get_engine(sys.argv[1]).connect():
    print("holding", flush=True)
    time.sleep(60)
"""


def _holder(script: str, url: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), url], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_session_lets_go_of_the_file_when_another_process_waits(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GC_DUCKDB_LOCK_WAIT", "30")
    url = f"duckdb:///{tmp_path / 'busy.duckdb'}"
    holder = _holder(HOLD_WITH_A_SESSION, url)
    try:
        started = time.monotonic()
        with caplog.at_level("INFO"):
            conn = connect(get_engine(url))
        waited = time.monotonic() - started
        with conn:
            assert conn.execute(sa.text("SELECT count(*) FROM chunks")).scalar_one() >= 1
        assert waited < 10  # the holder's next commit, not the end of its 30 s of chunks
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.wait()
    waits = [r.getMessage() for r in caplog.records if "Waiting for the DuckDB warehouse" in r.getMessage()]
    assert waits and f"(PID {holder.pid})" in waits[0] and "busy.duckdb" in waits[0] and "of at most 30 s" in waits[0]
    assert not list(tmp_path.glob("busy.duckdb.waiting-*"))  # the marker went with the wait


def test_waiting_too_long_for_the_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GC_DUCKDB_LOCK_WAIT", "1.5")
    url = f"duckdb:///{tmp_path / 'held.duckdb'}"
    holder = _holder(HOLD_A_CONNECTION, url)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError) as error:
            with transaction(get_engine(url)):
                pass
        assert time.monotonic() - started < 6
    finally:
        holder.kill()
        holder.wait()
    message = str(error.value)
    assert "Gave up after waiting" in message and "GC_DUCKDB_LOCK_WAIT" in message
    assert f"(PID {holder.pid})" in message and "gocardless_duckdb_writer" in message
    assert not list(tmp_path.glob("held.duckdb.waiting-*"))


def test_threads_of_one_process_open_a_duckdb_file_together_without_conflict(tmp_path):
    """The API server answers a page's parallel requests in threads: each opens the file."""
    import threading

    engine = get_engine(f"duckdb:///{tmp_path / 'threads.duckdb'}")
    failures: list[str] = []

    def read_repeatedly() -> None:
        for _ in range(150):
            try:
                with transaction(engine) as conn:
                    conn.execute(sa.text("SELECT 1"))
            except Exception as error:  # noqa: BLE001 - counted, then asserted below
                failures.append(str(error).splitlines()[0])

    threads = [threading.Thread(target=read_repeatedly) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
