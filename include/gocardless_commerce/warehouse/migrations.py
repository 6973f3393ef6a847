"""Explicit, repeatable schema creation: apply ``sql/migrations/*.sql`` in order, once each,
then (re)create the analyst views of ``sql/views``, then write the table and column comments
of ``sql/comments.yml`` (:mod:`warehouse.comments`).

Each file runs in its own transaction and is recorded with its checksum in
``meta.schema_migrations``; an applied file whose statements changed is an error (write a new
migration instead of editing an old one). The checksum covers the statements only, so
comments can be corrected without touching a deployed warehouse.

Every task migrates before it works, so on a fresh PostgreSQL warehouse several tasks would
create the same schemas at once (``UniqueViolation``). On PostgreSQL the whole run, views
included, holds a session-level advisory lock: the first task migrates, the others wait, then
find nothing left to do. DuckDB needs no lock: one process at a time can open the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import settings
from gocardless_commerce.warehouse.comments import write_comments
from gocardless_commerce.warehouse.engine import connect, describe, explain_timeouts, transaction

log = logging.getLogger(__name__)

#: The advisory lock key of migration runs (any constant shared by every migrating process).
MIGRATION_LOCK_KEY = 0x6763_6D69_6772  # "gcmigr"

_LEDGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS meta",
    """CREATE TABLE IF NOT EXISTS meta.schema_migrations (
        version VARCHAR NOT NULL PRIMARY KEY,
        checksum VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL
    )""",
)


class MigrationError(RuntimeError):
    """A migration file was edited after it was applied, failed to apply, or is missing."""


def split_statements(sql: str) -> list[str]:
    """Split a DDL file on statement-ending semicolons, dropping ``--`` comments."""
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def migration_dialect(path: Path) -> str | None:
    """The one warehouse a migration is for (``010_x.duckdb.sql`` → ``duckdb``), or ``None``
    for a migration of every warehouse."""
    _, dot, dialect = path.stem.rpartition(".")
    return dialect if dot else None


def migration_files(folder: Path | None = None) -> list[Path]:
    """The migration files in order; a missing or empty folder is an error, never "0 applied"."""
    folder = folder or settings.sql_dir() / "migrations"
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise MigrationError(
            f"No warehouse migrations in {folder}: the sql/ folder ships with the code "
            "(set GC_COMMERCE_SQL_DIR only to point at another copy of it)."
        )
    return files


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """One connection for the whole migration run; on PostgreSQL it holds the migration lock."""
    conn = connect(engine)
    try:
        if engine.dialect.name == "postgresql":
            started = time.monotonic()
            with explain_timeouts(engine):
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()  # the lock is the session's, not the transaction's
            waited = time.monotonic() - started
            if waited > 1:
                log.info("Waited %.1f s for another process migrating %s", waited, describe(engine))
        yield conn
    finally:
        try:
            if engine.dialect.name == "postgresql" and not conn.closed and not conn.invalidated:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
        finally:
            conn.close()


def apply_migrations(engine: Engine, folder: Path | None = None) -> list[str]:
    """Bring the warehouse schema up to date; returns the versions applied by this call."""
    files = migration_files(folder)
    with _migration_connection(engine) as conn:
        with explain_timeouts(engine), conn.begin():
            for ddl in _LEDGER_DDL:
                conn.exec_driver_sql(ddl)
            applied = dict(conn.execute(sa.text("SELECT version, checksum FROM meta.schema_migrations")).all())
        newly_applied = []
        for path in files:
            sql = path.read_text()
            checksum = hashlib.sha256(";\n".join(split_statements(sql)).encode()).hexdigest()
            version = path.stem
            if migration_dialect(path) not in (None, engine.dialect.name):
                continue  # another warehouse's
            if version in applied:
                if applied[version] != checksum:
                    raise MigrationError(
                        f"Migration {path.name} changed after it was applied; add a new migration instead."
                    )
                continue
            with explain_timeouts(engine), conn.begin():
                for statement in split_statements(sql):
                    conn.exec_driver_sql(statement)
                conn.execute(
                    sa.text("INSERT INTO meta.schema_migrations VALUES (:v, :c, :t)"),
                    {"v": version, "c": checksum, "t": datetime.now(UTC).replace(tzinfo=None)},
                )
            log.info("Applied warehouse migration %s to %s", path.name, describe(engine))
            newly_applied.append(version)
        if folder is None:
            with explain_timeouts(engine), conn.begin():
                _create_views(conn)
    return newly_applied


def _create_views(conn: Connection, folder: Path | None = None) -> None:
    """The views, then (for the project's own views) the comments of ``sql/comments.yml`` in the
    same transaction: replacing a view drops its comments on DuckDB, so no view is ever seen
    without them."""
    for path in sorted((folder or settings.sql_dir() / "views").glob("*.sql")):
        for statement in split_statements(path.read_text()):
            conn.exec_driver_sql(statement)
    if folder is None:
        write_comments(conn)


def apply_views(engine: Engine, folder: Path | None = None) -> None:
    """(Re)create the analyst views of ``sql/views`` (``CREATE OR REPLACE``: always safe) and
    their comments."""
    with transaction(engine) as conn:
        _create_views(conn, folder)
