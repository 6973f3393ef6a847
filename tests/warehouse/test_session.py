"""Session: one connection for many short transactions, each still committed on its own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gocardless_commerce.warehouse.engine import Session, get_engine, transaction


def _count(engine) -> int:
    with transaction(engine) as conn:
        return conn.execute(sa.text("SELECT count(*) FROM meta.session_probe")).scalar_one()


@pytest.fixture
def probe(warehouse):
    with transaction(warehouse) as conn:
        conn.execute(sa.text("CREATE TABLE meta.session_probe (n INTEGER)"))
    return warehouse


@pytest.fixture
def duck_probe(tmp_path):
    """DuckDB only: settings and memory limits are DuckDB's."""
    engine = get_engine(f"duckdb:///{tmp_path / 'session.duckdb'}")
    with transaction(engine) as conn:
        conn.execute(sa.text("CREATE SCHEMA meta"))
        conn.execute(sa.text("CREATE TABLE meta.session_probe (n INTEGER)"))
    return engine


def test_transactions_close_together_share_one_connection_and_each_commits(probe):
    with Session(probe, release_after=60) as session:
        for n in range(3):
            with session.transaction() as conn:
                conn.execute(sa.text("INSERT INTO meta.session_probe VALUES (:n)"), {"n": n})
        assert session.connections_opened == 1
    assert _count(probe) == 3


def test_a_failed_transaction_rolls_back_alone_and_drops_the_connection(probe):
    with Session(probe, release_after=60) as session:
        with session.transaction() as conn:
            conn.execute(sa.text("INSERT INTO meta.session_probe VALUES (1)"))
        with pytest.raises(RuntimeError), session.transaction() as conn:
            conn.execute(sa.text("INSERT INTO meta.session_probe VALUES (2)"))
            raise RuntimeError("killed mid-chunk")
        with session.transaction() as conn:
            conn.execute(sa.text("INSERT INTO meta.session_probe VALUES (3)"))
        assert session.connections_opened == 2
    assert _count(probe) == 2


def test_the_connection_is_released_after_a_long_gap(probe, monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr("gocardless_commerce.warehouse.engine.time.monotonic", lambda: now["t"])
    with Session(probe, release_after=5) as session:
        with session.transaction():
            pass
        now["t"] += 1
        with session.transaction():  # a short gap: the connection stays
            pass
        assert session._conn is not None
        now["t"] += 99
        with session.transaction():  # a long gap before it: released after it
            pass
        assert session._conn is None
        with session.transaction():
            pass
        assert session.connections_opened == 2


def test_duckdb_settings_apply_to_the_session_only(duck_probe):
    with Session(duck_probe, duckdb_settings={"threads": "1"}) as session, session.transaction() as conn:
        assert conn.execute(sa.text("SELECT current_setting('threads')")).scalar_one() == 1


def test_work_that_outgrows_the_duckdb_memory_limit_is_retried_with_it_doubled(duck_probe):
    import duckdb

    limits = []

    def work(conn):
        limits.append(conn.execute(sa.text("SELECT current_setting('memory_limit')")).scalar_one())
        conn.execute(sa.text("INSERT INTO meta.session_probe VALUES (1)"))
        if len(limits) < 3:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
        return "done"

    with Session(duck_probe, duckdb_settings={"memory_limit": "64MiB"}) as session:
        assert session.run(work) == "done"
        assert session.duckdb_settings["memory_limit"] == "256MiB"
    assert limits == ["64.0 MiB", "128.0 MiB", "256.0 MiB"]
    assert _count(duck_probe) == 1  # the failed attempts were rolled back


def test_other_errors_are_not_retried(probe):
    calls = []

    def work(conn):
        calls.append(1)
        raise ValueError("bad chunk")

    with Session(probe, duckdb_settings={"memory_limit": "64MiB"}) as session, pytest.raises(ValueError):
        session.run(work)
    assert calls == [1]
