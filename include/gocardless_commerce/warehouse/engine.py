"""Warehouse engines: one SQLAlchemy URL picks DuckDB (default) or PostgreSQL; the code is the same.

DuckDB allows one writing process per file, and Airflow runs each task in its own process,
so DuckDB engines use ``NullPool``: the file is opened for a unit of work and released right
after, and opening retries while another process holds the lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

from gocardless_commerce import settings

log = logging.getLogger(__name__)


def is_duckdb(engine: Engine) -> bool:
    return engine.dialect.name == "duckdb"


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: :func:`settings.warehouse_url`), cached per process."""
    return _engine_for(url or settings.warehouse_url())


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("duckdb"):
        return sa.create_engine(url, poolclass=NullPool)
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; the bare scheme would ask for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB refuses a second process the file: wait for the other task to finish."""
    return "Could not set lock" in str(exc)


@retry(
    retry=retry_if_exception(_is_lock_conflict),
    wait=wait_exponential_jitter(initial=0.2, max=5),
    stop=stop_after_delay(300),
    reraise=True,
)
def _connect(engine: Engine) -> Connection:
    return engine.connect()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: commits on success, rolls back on any error, never half-applies."""
    conn = _connect(engine)
    try:
        with conn.begin():
            yield conn
    finally:
        conn.close()


class Session:
    """Many short transactions of one task (the chunks of a sync) over one connection.

    :func:`transaction` opens the warehouse for each unit of work. A task that commits chunk
    after chunk would pay, with DuckDB, an open and a checkpoint-on-close per chunk (and a
    buffer pool rebuilt from the file each time); a session keeps its connection between its
    transactions while they follow each other closely. Once the gap before a transaction was
    longer than ``release_after`` seconds (a throttled or slow API), the connection is closed
    after that transaction commits, so that other processes waiting for the DuckDB file get it
    in between; reopening then costs little next to the wait. Each transaction still commits
    on its own: holding the connection changes nothing of what is durable when.

    :param duckdb_settings: ``SET`` on each DuckDB connection the session opens (e.g.
        ``{"memory_limit": "128MB"}``); the file's database instance lives as long as the
        connection, so they last the session only. Ignored for PostgreSQL.
    """

    def __init__(self, engine: Engine, *, release_after: float = 2.0, duckdb_settings: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.release_after = release_after
        self.duckdb_settings = dict(duckdb_settings or {})
        self.connections_opened = 0
        self._conn: Connection | None = None
        self._last_end: float | None = None

    def _open(self) -> Connection:
        conn = _connect(self.engine)
        self.connections_opened += 1
        if is_duckdb(self.engine) and self.duckdb_settings:
            for name, value in self.duckdb_settings.items():
                conn.exec_driver_sql(f"SET {name} = '{value}'")
            conn.commit()  # SQLAlchemy autobegins on exec; settings are not transactional
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Like :func:`transaction`: commits on success, rolls back on any error."""
        started = time.monotonic()
        gap = started - self._last_end if self._last_end is not None else 0.0
        if self._conn is None:
            self._conn = self._open()
        committed = False
        try:
            with self._conn.begin():
                yield self._conn
            committed = True
        finally:
            self._last_end = time.monotonic()
            if not committed or gap > self.release_after:
                self.close()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def describe(engine: Engine) -> str:
    """The warehouse location for logs, without credentials."""
    return engine.url.render_as_string(hide_password=True)


def limit_duckdb_memory(conn: Connection, limit: str | None = None) -> None:
    """Cap DuckDB's memory for the rest of this connection (:func:`settings.duckdb_memory_limit`).

    Long scans fill DuckDB's block cache up to its default of 80 % of RAM; with a cap it evicts
    and spills instead, so a task working through a large history keeps a flat footprint. No-op on
    PostgreSQL, whose memory is the server's business.
    """
    if conn.dialect.name == "duckdb":
        conn.exec_driver_sql(f"SET memory_limit = '{limit or settings.duckdb_memory_limit()}'")
