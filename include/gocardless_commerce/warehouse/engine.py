"""Warehouse engines: one SQLAlchemy URL picks DuckDB (default) or PostgreSQL; the code is the same.

DuckDB allows one writing process per file, and Airflow runs each task in its own process,
so DuckDB engines use ``NullPool``: the file is opened for a unit of work and released right
after, and opening retries while another process holds the lock.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

from gocardless_commerce import settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_duckdb(engine: Engine) -> bool:
    return engine.dialect.name == "duckdb"


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: :func:`settings.warehouse_url`), cached per process."""
    return _engine_for(url or settings.warehouse_url())


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    # hide_parameters: a failed statement's str() would otherwise carry its bound values
    # (raw payloads: customers' names, emails, bank details) into task logs.
    if url.startswith("duckdb"):
        return sa.create_engine(url, poolclass=NullPool, hide_parameters=True)
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; the bare scheme would ask for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, hide_parameters=True)


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


#: Where :meth:`Session.run` stops doubling a DuckDB memory limit.
MAX_MEMORY_LIMIT = 64 * 2**30
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int | None:
    """``"96MB"`` → bytes (DuckDB's units: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match:
        return None
    unit = _SIZE_UNITS.get((match.group(2) or "b").lower())
    return int(float(match.group(1)) * unit) if unit else None


def _is_out_of_memory(exc: BaseException | None) -> bool:
    """A DuckDB out-of-memory error, raw or wrapped by SQLAlchemy."""
    seen = 0
    while exc is not None and seen < 5:
        if type(exc).__name__ == "OutOfMemoryException" or "Out of Memory Error" in str(exc):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


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
        connection, so they last the session only. Ignored for PostgreSQL. A memory limit is
        a starting point, not a ceiling: DuckDB keeps primary-key indexes in memory, so a big
        enough table outgrows any fixed limit; :meth:`run` then doubles it and retries.
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

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one transaction of the session. With DuckDB, work that does not
        fit the memory limit (rolled back, nothing applied) is retried with the limit doubled,
        so it must be safe to run twice (an upsert is)."""
        while True:
            try:
                with self.transaction() as conn:
                    return work(conn)
            except Exception as exc:
                if not self._grow_memory_limit(exc):
                    raise

    def _grow_memory_limit(self, exc: BaseException) -> bool:
        limit = self.duckdb_settings.get("memory_limit")
        if not is_duckdb(self.engine) or limit is None or not _is_out_of_memory(exc):
            return False
        size = parse_size(limit)
        if size is None or size >= MAX_MEMORY_LIMIT:
            return False
        grown = f"{min(2 * size, MAX_MEMORY_LIMIT) // 2**20}MiB"
        log.warning(
            "DuckDB needs more than memory_limit=%s here (its primary-key indexes grow with the "
            "tables); retrying with %s", limit, grown,
        )
        self.duckdb_settings["memory_limit"] = grown
        return True

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

