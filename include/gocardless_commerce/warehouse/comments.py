"""The warehouse explains itself: table, view and column comments from one catalogue.

``sql/comments.yml`` describes every table, view and column (units, definitions, UTC, joins).
The same catalogue becomes the database's ``COMMENT ON`` (so analysts see it in their SQL
client, on DuckDB and PostgreSQL alike) and the reference page ``docs/columns.md``, so the two
cannot disagree.

Comments are written after the migrations, in the transaction that recreates the views
(DuckDB's ``CREATE OR REPLACE VIEW`` drops a view's comments), and only where they differ from
what the database holds: a ``migrate`` with nothing new rewrites at most the views' comments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce import settings
from gocardless_commerce.warehouse.engine import describe, transaction

log = logging.getLogger(__name__)

#: libyaml's safe loader when PyYAML was built with it (10x faster than the pure-Python one).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: The schemas the catalogue documents, in the order of docs/columns.md.
SCHEMAS = ("commerce", "reconciliation", "meta", "raw")


class CatalogueError(ValueError):
    """The comment catalogue is malformed, or names a table or column the warehouse lacks."""


@dataclass(frozen=True)
class TableDoc:
    """One table or view of the catalogue: its description and its columns' (in catalogue order)."""

    name: str  # schema.table
    description: str
    columns: dict[str, str]


@dataclass
class DatabaseObject:
    """A table or view as the database sees it, with its current comments (None = no comment)."""

    name: str
    kind: str  # "TABLE" or "VIEW"
    comment: str | None
    columns: dict[str, str | None] = field(default_factory=dict)


def catalogue_path() -> Path:
    return settings.sql_dir() / "comments.yml"


def load_catalogue(path: Path | None = None) -> dict[str, TableDoc]:
    """Read and check the catalogue: every entry is ``schema.table`` with a description and
    a non-empty text per column."""
    path = path or catalogue_path()
    try:
        raw = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except FileNotFoundError:
        raise CatalogueError(f"Comment catalogue {path} not found") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"Comment catalogue {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise CatalogueError(f"Comment catalogue {path} holds no tables")
    catalogue = {}
    for name, entry in raw.items():
        schema = str(name).partition(".")[0]
        if "." not in str(name) or schema not in SCHEMAS:
            raise CatalogueError(f"{path}: {name!r} is not <schema>.<table> in one of {', '.join(SCHEMAS)}")
        if not isinstance(entry, dict) or not _text(entry.get("description")):
            raise CatalogueError(f"{path}: {name} needs a non-empty description")
        columns = entry.get("columns")
        if not isinstance(columns, dict) or not columns:
            raise CatalogueError(f"{path}: {name} needs its columns")
        empty = [column for column, text in columns.items() if not _text(text)]
        if empty:
            raise CatalogueError(f"{path}: {name} has columns without a description: {', '.join(map(str, empty))}")
        catalogue[name] = TableDoc(name, entry["description"].strip(), {str(c): t.strip() for c, t in columns.items()})
    return catalogue


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def read_comments(conn: Connection, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, DatabaseObject]:
    """Every table and view of ``schemas`` with its columns and their comments, read from the
    database's own catalogue (DuckDB: ``duckdb_tables/views/columns()``; PostgreSQL:
    ``obj_description`` / ``col_description``)."""
    in_schemas = "IN (" + ", ".join(_literal(schema) for schema in schemas) + ")"
    if conn.dialect.name == "duckdb":
        # The warehouse file's own catalogue only, not that of a temp or attached database.
        ours = f"database_name = current_database() AND schema_name {in_schemas}"
        objects = conn.execute(sa.text(
            f"SELECT schema_name || '.' || table_name, 'TABLE', comment FROM duckdb_tables() WHERE {ours} "
            "UNION ALL SELECT schema_name || '.' || view_name, 'VIEW', comment FROM duckdb_views() "
            f"WHERE NOT internal AND {ours}")).all()
        columns = conn.execute(sa.text(
            "SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns() "
            f"WHERE {ours} ORDER BY table_name, column_index")).all()
    else:
        objects = conn.execute(sa.text(
            "SELECT n.nspname || '.' || c.relname, CASE WHEN c.relkind = 'v' THEN 'VIEW' ELSE 'TABLE' END, "
            "obj_description(c.oid, 'pg_class') FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p', 'v') AND n.nspname {in_schemas}")).all()
        columns = conn.execute(sa.text(
            "SELECT n.nspname || '.' || c.relname, a.attname, col_description(c.oid, a.attnum) "
            "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p', 'v') AND n.nspname {in_schemas} AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum")).all()
    found = {name: DatabaseObject(name, kind, comment) for name, kind, comment in objects}
    for table, column, comment in columns:
        if table in found:
            found[table].columns[column] = comment
    return found


def missing_from_database(catalogue: dict[str, TableDoc], found: dict[str, DatabaseObject]) -> list[str]:
    """Tables and columns the catalogue describes that the warehouse does not have."""
    missing = []
    for name, doc in catalogue.items():
        if name not in found:
            missing.append(name)
            continue
        missing.extend(f"{name}.{column}" for column in doc.columns if column not in found[name].columns)
    return missing


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(catalogue: dict[str, TableDoc], found: dict[str, DatabaseObject]) -> list[str]:
    """The ``COMMENT ON`` statements that bring the database's comments to the catalogue's."""
    statements = []
    for name, doc in catalogue.items():
        current = found[name]
        if current.comment != doc.description:
            statements.append(f"COMMENT ON {current.kind} {name} IS {_literal(doc.description)}")
        statements.extend(
            f"COMMENT ON COLUMN {name}.{column} IS {_literal(text)}"
            for column, text in doc.columns.items()
            if current.columns.get(column) != text
        )
    return statements


def write_comments(conn: Connection, catalogue: dict[str, TableDoc] | None = None) -> int:
    """Write the catalogue's comments on ``conn`` (only those that differ); returns how many
    were written. A catalogue naming a missing table or column is an error: it would describe
    something the warehouse does not have."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    found = read_comments(conn)
    missing = missing_from_database(catalogue, found)
    if missing:
        raise CatalogueError(f"{catalogue_path()} describes what the warehouse does not have: {', '.join(missing)}")
    statements = comment_statements(catalogue, found)
    for statement in statements:
        conn.exec_driver_sql(_escape_for_driver(conn, statement))
    if statements:
        log.info("Wrote %d table/column comment(s) to %s", len(statements), describe(conn.engine))
    return len(statements)


def apply_comments(engine: Engine, catalogue: dict[str, TableDoc] | None = None) -> int:
    """:func:`write_comments` in a transaction of its own: all of them or none."""
    with transaction(engine) as conn:
        return write_comments(conn, catalogue)


def _escape_for_driver(conn: Connection, statement: str) -> str:
    """Statements go to the driver as they are, but psycopg still reads ``%`` as a placeholder
    (its paramstyle is pyformat): double it there, so "12.34 %" stays text."""
    return statement.replace("%", "%%") if conn.dialect.paramstyle in ("format", "pyformat") else statement


def render_markdown(catalogue: dict[str, TableDoc]) -> str:
    """docs/columns.md: every table and view of the catalogue with its columns, by schema."""
    lines = [
        "# Warehouse columns",
        "",
        "<!-- Generated from sql/comments.yml by `gocardless-commerce warehouse docs`: edit the",
        "     catalogue, not this page (a test fails when they differ). -->",
        "",
        "Every table, view and column of the warehouse, as its `COMMENT ON` in the database says",
        "(visible in DuckDB's `duckdb_columns()`, psql's `\\d+`, or any SQL client). Money is exact",
        "`NUMERIC` in **major units** (10.50 for 1050 pence) unless a column says *minor units*;",
        "timestamps are **UTC**, stored without time zone; rates are fractions (0.1234 = 12.34 %).",
        "Definitions in depth: [metrics](metrics.md), [warehouse](warehouse.md),",
        "[reconciliation](reconciliation.md); example queries: [for analysts](analysts.md).",
        "",
    ]
    for schema in SCHEMAS:
        docs = [doc for doc in catalogue.values() if doc.name.partition(".")[0] == schema]
        if not docs:
            continue
        lines += [f"## `{schema}`", ""]
        lines += [f"* [`{doc.name}`](#{_anchor(doc.name)})" for doc in docs]
        lines.append("")
        for doc in docs:
            lines += [f"### `{doc.name}`", "", _markdown(doc.description), "", "| column | meaning |", "|---|---|"]
            lines += [f"| `{column}` | {_cell(text)} |" for column, text in doc.columns.items()]
            lines.append("")
    return "\n".join(lines)


def _anchor(name: str) -> str:
    """GitHub's heading anchor for ``### `schema.table` ``: dots and backticks dropped."""
    return name.replace(".", "").lower()


def _markdown(text: str) -> str:
    """Plain catalogue text made literal in Markdown (``<type>`` is not an HTML tag, ``*`` no emphasis)."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*").replace("\n", " ")


def _cell(text: str) -> str:
    return _markdown(text).replace("|", "\\|")
