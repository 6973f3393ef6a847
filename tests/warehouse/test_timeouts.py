"""A warehouse that stops answering fails the task with a clear error; it never hangs it."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest
import sqlalchemy as sa

from gocardless_commerce.registry import Registry
from gocardless_commerce.warehouse.engine import WarehouseUnavailableError, get_engine, postgres_timeouts
from gocardless_commerce.warehouse.migrations import apply_migrations
from tests.fixtures.warehouse import _reset_postgres

pytestmark = pytest.mark.postgres


def test_a_lock_held_by_another_session_ends_in_a_statement_timeout(postgres_server_url, monkeypatch, tmp_path):
    _reset_postgres(postgres_server_url)
    monkeypatch.setenv("GC_WAREHOUSE_STATEMENT_TIMEOUT", "1")
    engine = get_engine(postgres_server_url)
    apply_migrations(engine)
    registry = Registry(engine, tmp_path / "merchants.json")
    dsn = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as blocker:  # another session, e.g. a stuck migration or a manual query
        blocker.execute("LOCK TABLE meta.users IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError) as error:
            registry.data_connections()
        elapsed = time.monotonic() - started
    assert elapsed < 10
    message = str(error.value)
    assert "statement_timeout=1 s" in message and "GC_WAREHOUSE_STATEMENT_TIMEOUT" in message
    assert "lock another session holds" in message and "rolled back" in message
    assert registry.data_connections() == []  # once the lock is gone, the same engine works


def test_a_server_that_never_answers_fails_the_connect_within_the_timeout(monkeypatch):
    """A socket that accepts TCP but never speaks PostgreSQL: a frozen server, as the task sees it."""
    monkeypatch.setenv("GC_WAREHOUSE_CONNECT_TIMEOUT", "1")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = get_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/frozen_wt_ops")
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="timeout"):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        assert time.monotonic() - started < 8


def test_timeouts_come_from_the_environment_with_sane_defaults(monkeypatch):
    for name in ("GC_WAREHOUSE_CONNECT_TIMEOUT", "GC_WAREHOUSE_STATEMENT_TIMEOUT", "GC_WAREHOUSE_KEEPALIVE_IDLE"):
        monkeypatch.delenv(name, raising=False)
    defaults = dict(postgres_timeouts())
    assert defaults["connect_timeout"] == 10 and defaults["keepalives"] == 1 and defaults["keepalives_idle"] == 30
    assert defaults["options"] == "-c statement_timeout=900000"
    monkeypatch.setenv("GC_WAREHOUSE_STATEMENT_TIMEOUT", "nope")
    with pytest.raises(ValueError, match="GC_WAREHOUSE_STATEMENT_TIMEOUT='nope' is not a number"):
        postgres_timeouts()
