"""Warehouse engines: one SQLAlchemy URL picks DuckDB (default) or PostgreSQL; the code is the same.

DuckDB allows one writing process per file, and Airflow runs each task in its own process,
so DuckDB engines use ``NullPool``: the file is opened for a unit of work and released right
after. Opening waits while another process holds the file, says in the log what it waits for,
and leaves a marker beside the file so that a :class:`Session` holding it lets go at its next
commit. PostgreSQL connections carry connect, statement and TCP keepalive timeouts
(:mod:`gocardless_commerce.settings`), so a warehouse that stops answering fails the task with a
clear error instead of hanging it.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
import contextlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from gocardless_commerce import settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: PostgreSQL's SQLSTATE for a statement cancelled (here: by ``statement_timeout``).
_QUERY_CANCELED = "57014"


def _clear_duckdb_engine_globals() -> None:
    """At exit, clear duckdb_engine's module globals, as CPython does for every module it still
    finds alive at shutdown, so that DuckDB's objects are freed.

    At shutdown CPython empties ``sys.modules``, collects garbage, then clears the globals of the
    modules still alive. duckdb_engine's module object dies in that collection but its globals
    live on: SQLAlchemy's shared registries hold its functions and types (the ``@compiles``
    dispatch of ``TryCast`` and of its types, PostgreSQL's ``ischema_names``), and SQLAlchemy stays
    reachable past shutdown from objects extension modules never release (pyarrow's pandas shim,
    rpds' maps in ``referencing``, ``asyncio``'s C module; through ``typing._overload_dummy``,
    which ``sqlalchemy.orm``'s ``@dataclass_transform`` over ``@overload`` decorates, or through
    logging's manager under Airflow). Those globals hold ``duckdb``, so DuckDB's nanobind objects
    were never freed and nanobind printed dozens of "nanobind: leaked …" lines at the exit of every
    process that used DuckDB with Great Expectations or Airflow (``make test`` included). Clearing
    them is the step CPython skipped; it runs after the exit handlers registered later (engines
    disposed), and nothing calls duckdb_engine once the interpreter is shutting down.
    ``tests/warehouse/test_exit.py`` runs a process doing what a task does and reads its stderr.
    """
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "duckdb_engine" or name.startswith("duckdb_engine.")):
            module_globals = vars(module)
            for key in [key for key in module_globals if key != "__builtins__"]:
                module_globals[key] = None


atexit.register(_clear_duckdb_engine_globals)


class WarehouseUnavailableError(RuntimeError):
    """The warehouse did not answer in time (a lock held elsewhere, a frozen server): transient."""


def is_duckdb(engine: Engine) -> bool:
    return engine.dialect.name == "duckdb"


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: :func:`settings.warehouse_url`), cached per process
    (and per timeout settings, so a changed setting takes effect)."""
    url = url or settings.warehouse_url()
    return _engine_for(url, postgres_timeouts() if not url.startswith("duckdb") else ())


def postgres_timeouts() -> tuple[tuple[str, object], ...]:
    """libpq connection parameters bounding every wait on a PostgreSQL warehouse."""
    idle = int(settings.warehouse_keepalive_idle())
    return (
        ("connect_timeout", max(1, int(settings.warehouse_connect_timeout()))),
        ("keepalives", 1),
        ("keepalives_idle", max(1, idle)),
        ("keepalives_interval", 10),
        ("keepalives_count", 3),
        # Unacknowledged sends also give up (keepalives only probe an idle connection).
        ("tcp_user_timeout", (max(1, idle) + 30) * 1000),
        ("options", f"-c statement_timeout={int(settings.warehouse_statement_timeout() * 1000)}"),
    )


@lru_cache(maxsize=8)
def _engine_for(url: str, connect_args: tuple[tuple[str, object], ...] = ()) -> Engine:
    # hide_parameters: a failed statement's str() would otherwise carry its bound values
    # (raw payloads: customers' names, emails, bank details) into task logs.
    if url.startswith("duckdb"):
        return sa.create_engine(url, poolclass=NullPool, hide_parameters=True)
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; the bare scheme would ask for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, hide_parameters=True,
                            connect_args=dict(connect_args))


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB refuses a second process the file: wait for the other task to finish."""
    return "Could not set lock" in str(exc)


def _lock_holder(exc: BaseException) -> str:
    """Who holds the DuckDB file, from DuckDB's message (``… held in /usr/bin/python (PID 42)``)."""
    match = re.search(r"held in (.+?\(PID \d+\))", str(exc))
    return f"process {match.group(1)}" if match else "another process"


def _duckdb_file(engine: Engine) -> Path | None:
    database = engine.url.database
    return Path(database) if is_duckdb(engine) and database and database != ":memory:" else None


def _wait_marker(engine: Engine) -> Path | None:
    path = _duckdb_file(engine)
    return path.with_name(f"{path.name}.waiting-{os.getpid()}") if path else None


def others_waiting(engine: Engine) -> bool:
    """Whether another process waits for this DuckDB file (it left a marker beside it)."""
    path = _duckdb_file(engine)
    if path is None:
        return False
    mine = _wait_marker(engine)
    return any(marker != mine for marker in path.parent.glob(f"{path.name}.waiting-*"))


#: Threads of one process (the API server's request threads) opening a DuckDB file at the same
#: moment race in DuckDB's database cache ("Unique file handle conflict: … already attached"):
#: they open one at a time. Between processes, the file lock and :func:`connect`'s wait apply.
_OPENING_DUCKDB = threading.Lock()
_NO_LOCK = contextlib.nullcontext()


def connect(engine: Engine) -> Connection:
    """A connection; for a DuckDB file held by another process, wait for it (up to
    :func:`settings.duckdb_lock_wait` seconds), logging what for and how long."""
    limit = settings.duckdb_lock_wait()
    started = time.monotonic()
    delay, logged_at, marker = 0.2, None, None
    try:
        while True:
            try:
                with _OPENING_DUCKDB if _duckdb_file(engine) is not None else _NO_LOCK:
                    conn = engine.connect()
            except Exception as exc:
                if not _is_lock_conflict(exc):
                    raise
                waited = time.monotonic() - started
                where = _duckdb_file(engine)
                if waited >= limit:
                    raise WarehouseUnavailableError(
                        f"Gave up after waiting {waited:.0f} s (GC_DUCKDB_LOCK_WAIT) for the DuckDB "
                        f"warehouse {where}: {_lock_holder(exc)} holds it. DuckDB lets one process "
                        f"use a file at a time; run DuckDB writers through the Airflow pool "
                        f"{settings.duckdb_pool()!r}, or use PostgreSQL for several workers."
                    ) from None
                if marker is None and (marker := _wait_marker(engine)) is not None:
                    marker.touch()
                if logged_at is None or time.monotonic() - logged_at >= 10:
                    log.warning(
                        "Waiting for the DuckDB warehouse %s: %s holds it (waited %.1f s of at most %.0f s)",
                        where, _lock_holder(exc), waited, limit,
                    )
                    logged_at = time.monotonic()
                time.sleep(min(delay, max(0.0, limit - waited)))
                delay = min(delay * 2, 5.0)
                continue
            if marker is not None:
                log.info("Got the DuckDB warehouse %s after %.1f s", _duckdb_file(engine), time.monotonic() - started)
            return conn
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


@contextmanager
def explain_timeouts(engine: Engine) -> Iterator[None]:
    """Turn PostgreSQL's cancelled statement into an error that says what happened and what to do."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _QUERY_CANCELED:
            raise
        raise WarehouseUnavailableError(
            f"The warehouse {describe(engine)} cancelled a statement after "
            f"statement_timeout={settings.warehouse_statement_timeout():g} s (GC_WAREHOUSE_STATEMENT_TIMEOUT): "
            f"it waited for a lock another session holds, or the server is overloaded. "
            f"The transaction was rolled back. ({str(exc.orig).splitlines()[0]})"
        ) from exc


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: commits on success, rolls back on any error, never half-applies."""
    conn = connect(engine)
    try:
        with explain_timeouts(engine), conn.begin():
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
    in between; reopening then costs little next to the wait. It is also closed after any commit
    while another process waits for the file (:func:`others_waiting`): the file is then held
    only while writing. Each transaction still commits
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
        conn = connect(self.engine)
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
            with explain_timeouts(self.engine), self._conn.begin():
                yield self._conn
            committed = True
        finally:
            self._last_end = time.monotonic()
            # Hold the DuckDB file only while writing when another process waits for it.
            if not committed or gap > self.release_after or others_waiting(self.engine):
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

