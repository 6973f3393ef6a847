"""Warehouse engines: one SQLAlchemy URL picks DuckDB (default) or PostgreSQL; the code is the same.

DuckDB allows one writing process per file, and Airflow runs each task in its own process,
so DuckDB engines use ``NullPool``: the file is opened for a unit of work and released right
after, and opening retries while another process holds the lock.
"""

from __future__ import annotations

import logging
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


def describe(engine: Engine) -> str:
    """The warehouse location for logs, without credentials."""
    return engine.url.render_as_string(hide_password=True)
