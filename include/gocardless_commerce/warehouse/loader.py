"""The one bulk write path into the warehouse: stage a batch, then upsert it with one statement.

DuckDB reads the batch straight from Python, one NumPy object array per column (no pandas:
the sync process never imports it); PostgreSQL receives it by ``COPY``.
Both then run the same ``INSERT … SELECT … ON CONFLICT`` so the two warehouses behave alike.
An upsert rewrites a row only when its payload changed (or it had been marked removed), so a
rerun is a no-op and the returned count is the number of rows that really changed.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import pandas as pd
else:

    class _Pandas:
        """pandas, imported on first use: landing raw records never needs it (~40 MB of RSS)."""

        def __getattr__(self, name: str) -> Any:
            import pandas

            globals()["pd"] = pandas
            return getattr(pandas, name)

    pd = _Pandas()

_stage_numbers = itertools.count()


def as_text(value: Any) -> str | None:
    """One value as the text a stage carries and the upsert casts back to its column type.

    Exact on purpose: Decimals are written out in full (no float ever touches an amount), dates
    and timestamps in ISO form, JSON values sorted so reruns produce identical text.
    """
    if type(value) is str:  # most values: no further checks (the load converts millions)
        return value
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    if not isinstance(value, str) and pd.isna(value):
        return None
    return str(value)


def frame_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """A DataFrame's ``columns`` as stage rows (see :func:`as_text`)."""
    texts = [_column_texts(frame[column]) for column in columns]  # column by column: no tuple per row first
    return list(zip(*texts)) if texts else [() for _ in range(len(frame))]


def _column_texts(column: pd.Series) -> list[str | None]:
    """:func:`as_text` of a column's values; a timestamp column is formatted in one vectorised
    call (a pandas ``Timestamp`` formats one by one about ten times slower than a string)."""
    if column.dtype.kind == "M" and column.dt.tz is None:
        texts = column.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        return [None if missing else text for text, missing in zip(texts, column.isna(), strict=True)]
    if isinstance(column.dtype, pd.StringDtype):
        return column.to_numpy(dtype=object, na_value=None).tolist()
    values = column.tolist()
    kinds = set(map(type, values)) - {type(None)}  # one kind per column is the rule: convert it in one pass
    if kinds <= {str}:
        return values
    if kinds == {Decimal}:
        return [None if v is None else format(v, "f") for v in values]
    if kinds == {date}:
        return [None if v is None else v.isoformat() for v in values]
    return [as_text(v) for v in values]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str = "VARCHAR"  # target type the staged text is cast to


@dataclass(frozen=True)
class UpsertTarget:
    """A table, its key and its columns, in the order rows are given."""

    table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    append_only: bool = False  # insert new keys, never update existing rows (events)
    change_check: str | None = "payload"  # update only when this column's text changed;
    # None: update when any updated column differs
    reset_columns: tuple[str, ...] = ()  # set to NULL on every insert/update (e.g. removed_at)
    preserve_columns: tuple[str, ...] = ()  # inserted, never overwritten (owned by another job)
    # (column, SQL expression) written on every insert and update, e.g. the raw landing sequence
    # (an uncorrelated subquery is evaluated once per statement)
    stamp_columns: tuple[tuple[str, str], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _is_duckdb(conn: Connection) -> bool:
    return conn.dialect.name == "duckdb"


@contextmanager
def staged(conn: Connection, columns: Sequence[str], rows: Sequence[Sequence]) -> Iterator[str]:
    """Make ``rows`` readable as a relation of text columns; yields its name.

    Values are passed as text (or None) and cast by the statement that reads the stage, so
    one SQL statement serves both databases.
    """
    name = f"stage_{next(_stage_numbers)}"
    if _is_duckdb(conn):
        duck = conn.connection.driver_connection
        values = list(zip(*rows)) or [() for _ in columns]
        duck.register(name, {column: _object_array(v) for column, v in zip(columns, values)})
        try:
            yield name
        finally:
            duck.unregister(name)
        return
    col_defs = ", ".join(f"{c} TEXT" for c in columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({col_defs})")
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    try:
        yield name
    finally:
        conn.exec_driver_sql(f"DROP TABLE {name}")


def _object_array(values: Sequence) -> np.ndarray:
    """One stage column: DuckDB scans object arrays as it scans an object-dtype DataFrame
    column (str → VARCHAR, None → NULL)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _dedupe_last(target: UpsertTarget, rows: Sequence[Sequence]) -> list[Sequence]:
    """Keep the last row per key: one statement may not touch the same row twice."""
    key_of = operator.itemgetter(*(target.column_names.index(k) for k in target.key))
    by_key = dict(zip(map(key_of, rows), rows))
    return rows if len(by_key) == len(rows) else list(by_key.values())


def upsert(conn: Connection, target: UpsertTarget, rows: Sequence[Sequence]) -> int:
    """Insert or update ``rows`` in ``target.table``; returns how many rows changed."""
    if not rows:
        return 0
    rows = _dedupe_last(target, rows)
    names = target.column_names
    select_list = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in target.columns)
    stamped = [column for column, _ in target.stamp_columns]
    insert_cols = ", ".join(names + list(target.reset_columns) + stamped)
    select_list += "".join(", NULL" for _ in target.reset_columns)
    select_list += "".join(f", {expression}" for _, expression in target.stamp_columns)
    conflict = ", ".join(target.key)
    if target.append_only:
        action = "DO NOTHING"
    else:
        updated = [c for c in names if c not in target.key and c not in target.preserve_columns]
        updates = [f"{c} = EXCLUDED.{c}" for c in updated]
        updates += [f"{c} = NULL" for c in target.reset_columns]
        updates += [f"{c} = EXCLUDED.{c}" for c in stamped]
        action = "DO UPDATE SET " + ", ".join(updates)
        if target.change_check:
            conditions = [
                f"CAST(tgt.{target.change_check} AS VARCHAR) IS DISTINCT FROM "
                f"CAST(EXCLUDED.{target.change_check} AS VARCHAR)"
            ]
        else:
            json_columns = {c.name for c in target.columns if c.sql_type == "JSON"}
            conditions = [
                # PostgreSQL's JSON has no equality operator: compare JSON columns as text
                f"CAST(tgt.{c} AS VARCHAR) IS DISTINCT FROM CAST(EXCLUDED.{c} AS VARCHAR)"
                if c in json_columns
                else f"tgt.{c} IS DISTINCT FROM EXCLUDED.{c}"
                for c in updated
            ]
        conditions += [f"tgt.{c} IS NOT NULL" for c in target.reset_columns]
        if conditions:
            action += " WHERE " + " OR ".join(conditions)
    return run_over_rows(
        conn, names, rows,
        f"INSERT INTO {target.table} AS tgt ({insert_cols}) SELECT {select_list} FROM {{stage}} "
        f"ON CONFLICT ({conflict}) {action}",
    )


def run_over_rows(conn: Connection, columns: Sequence[str], rows: Sequence[Sequence], sql: str) -> int:
    """Run one statement (no parameters) that reads ``rows`` as the relation ``{stage}``; returns
    the count it reports (rows inserted/changed).

    DuckDB scans the rows in place, found by name in this function's locals (a replacement
    scan), instead of through a registered view: a view's rows stay in memory until the
    transaction ends (its drop is transactional), which a long transaction such as the
    commerce load (a million rows) cannot afford.
    """
    if not _is_duckdb(conn):
        with staged(conn, columns, rows) as stage:
            return conn.exec_driver_sql(sql.replace("{stage}", stage)).rowcount
    values = list(zip(*rows)) or [() for _ in columns]
    _gc_stage_rows = {column: _object_array(v) for column, v in zip(columns, values)}  # noqa: F841 - read by name
    rows_reported = conn.connection.driver_connection.execute(sql.replace("{stage}", "_gc_stage_rows")).fetchall()
    return int(rows_reported[0][0]) if rows_reported else 0


class KeySet:
    """Keys collected batch by batch in a temporary table: a ``keep`` set for :func:`change_missing`
    larger than we want in memory (e.g. every row id of a million-payment rebuild)."""

    def __init__(self, conn: Connection, name: str, key_type: str = "VARCHAR") -> None:
        self.conn, self.name, self.key_type = conn, name, key_type

    def add(self, keys: Iterable[str]) -> None:
        run_over_rows(self.conn, ["k"], [(k,) for k in keys],
                      f"INSERT INTO {self.name} SELECT CAST(k AS {self.key_type}) FROM {{stage}}")


@contextmanager
def key_set(conn: Connection, key_type: str = "VARCHAR") -> Iterator[KeySet]:
    """A temporary :class:`KeySet`. ``key_type="UUID"`` for keys that are uuids (the commerce
    ids): 16 bytes each instead of a 36-character string, which at a million keys is most of the
    memory DuckDB needs for the set and for the anti-join that reads it."""
    name = f"keys_{next(_stage_numbers)}"
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} (k {key_type})")
    yield KeySet(conn, name, key_type)
    conn.exec_driver_sql(f"DROP TABLE {name}")  # on error, the transaction's rollback removes it


@contextmanager
def _keys_relation(conn: Connection, keep: Iterable[str] | KeySet) -> Iterator[tuple[str, str]]:
    """(relation of the keys in column ``k``, their SQL type)."""
    if isinstance(keep, KeySet):
        yield keep.name, keep.key_type
        return
    with staged(conn, ["k"], [(k,) for k in keep]) as stage:
        yield stage, "VARCHAR"


def change_missing(
    conn: Connection,
    table: str,
    *,
    where: str,
    params: dict,
    key: str,
    keep: Iterable[str] | KeySet,
    set_clause: str | None = None,
) -> int:
    """Delete — or, with ``set_clause``, update — the rows matching ``where`` whose ``key`` is
    not in ``keep``: how a complete listing or rebuild deals with records whose source vanished.
    Returns how many rows it changed."""
    with _keys_relation(conn, keep) as (stage, key_type):
        missing = f"{where} AND CAST({key} AS {key_type}) NOT IN (SELECT k FROM {stage})"
        count = conn.execute(text(f"SELECT count(*) FROM {table} WHERE {missing}"), params).scalar_one()
        if count:
            action = f"UPDATE {table} SET {set_clause}" if set_clause else f"DELETE FROM {table}"
            conn.execute(text(f"{action} WHERE {missing}"), params)
    return count


def delete_missing(conn: Connection, table: str, scope: dict[str, str], key: str, keep: Sequence[str] | KeySet) -> int:
    """Delete the rows of ``scope`` (e.g. one data connection) whose ``key`` is not in ``keep``."""
    where = " AND ".join(f"{column} = :{column}" for column in scope)
    return change_missing(conn, table, where=where, params=scope, key=key, keep=keep)
