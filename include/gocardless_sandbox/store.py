"""SQLite-backed ground truth of the sandbox: one table per resource, bodies stored as JSON.

Rows keep the exact JSON the API serves (so a list page is a concatenation of stored bytes,
never a parse) next to the columns lists filter and sort on. The same file can hold a million
payments: generation streams rows in batches through :class:`Writer`, and readers use one
connection per thread (WAL) while writers serialise on a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

encode = msgspec.json.encode
decode = msgspec.json.decode

Extractor = Callable[[dict[str, Any]], Any]


def _path(*keys: str) -> Extractor:
    def extract(body: dict[str, Any]) -> Any:
        value: Any = body
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    return extract


def _event_resource_id(body: dict[str, Any]) -> str | None:
    singular = RESOURCE_SINGULAR.get(body["resource_type"])
    return body["links"].get(singular) if singular else None


@dataclass(frozen=True)
class ResourceSpec:
    """A resource table: filterable columns (extracted from the body) and hidden columns
    (facts the body does not carry, e.g. a payment's customer, set when the row is created)."""

    name: str
    prefix: str
    columns: dict[str, Extractor]
    hidden: tuple[str, ...] = ()


RESOURCES: dict[str, ResourceSpec] = {
    spec.name: spec
    for spec in (
        ResourceSpec("creditors", "CR", {}),
        ResourceSpec("customers", "CU", {}),
        ResourceSpec(
            "customer_bank_accounts",
            "BA",
            {"customer": _path("links", "customer"), "enabled": _path("enabled")},
        ),
        ResourceSpec(
            "mandates",
            "MD",
            {
                "customer": _path("links", "customer"),
                "creditor": _path("links", "creditor"),
                "customer_bank_account": _path("links", "customer_bank_account"),
                "status": _path("status"),
                "scheme": _path("scheme"),
                "reference": _path("reference"),
            },
        ),
        ResourceSpec(
            "subscriptions",
            "SB",
            {"mandate": _path("links", "mandate"), "status": _path("status")},
            hidden=("customer", "next_charge", "next_index"),
        ),
        ResourceSpec(
            "payments",
            "PM",
            {
                "status": _path("status"),
                "currency": _path("currency"),
                "scheme": _path("scheme"),
                "mandate": _path("links", "mandate"),
                "creditor": _path("links", "creditor"),
                "subscription": _path("links", "subscription"),
                "charge_date": _path("charge_date"),
            },
            hidden=("customer",),
        ),
        ResourceSpec(
            "refunds",
            "RF",
            {
                "payment": _path("links", "payment"),
                "mandate": _path("links", "mandate"),
                "status": _path("status"),
            },
        ),
        ResourceSpec(
            "payouts",
            "PO",
            {
                "creditor": _path("links", "creditor"),
                "currency": _path("currency"),
                "status": _path("status"),
                "payout_type": _path("payout_type"),
                "reference": _path("reference"),
            },
            hidden=("day",),
        ),
        ResourceSpec(
            "events",
            "EV",
            {
                "resource_type": _path("resource_type"),
                "action": _path("action"),
                "resource_id": _event_resource_id,
                "parent_event": _path("links", "parent_event"),
            },
        ),
    )
}

RESOURCE_SINGULAR = {
    "creditors": "creditor",
    "customers": "customer",
    "customer_bank_accounts": "customer_bank_account",
    "mandates": "mandate",
    "subscriptions": "subscription",
    "payments": "payment",
    "refunds": "refund",
    "payouts": "payout",
    "instalment_schedules": "instalment_schedule",
}

INDEXES = (
    *(f"CREATE INDEX IF NOT EXISTS {name}_order ON {name} (org, created_at, id)" for name in RESOURCES),
    "CREATE INDEX IF NOT EXISTS events_resource ON events (org, resource_id)",
    "CREATE INDEX IF NOT EXISTS events_parent ON events (parent_event)",
    "CREATE INDEX IF NOT EXISTS payments_mandate ON payments (mandate, status)",
    "CREATE INDEX IF NOT EXISTS payments_status ON payments (org, status)",
    "CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (status, next_charge)",
    "CREATE INDEX IF NOT EXISTS subscriptions_mandate ON subscriptions (mandate)",
    "CREATE INDEX IF NOT EXISTS refunds_payment ON refunds (payment)",
    "CREATE INDEX IF NOT EXISTS mandates_bank_account ON mandates (customer_bank_account)",
    "CREATE INDEX IF NOT EXISTS payouts_day ON payouts (org, day, currency)",
    "CREATE INDEX IF NOT EXISTS pending_due ON pending (due_at, seq)",
    "CREATE INDEX IF NOT EXISTS pending_resource ON pending (resource_id)",
)


def _schema() -> list[str]:
    statements = []
    for spec in RESOURCES.values():
        extra = "".join(f", {column} TEXT" for column in (*spec.columns, *spec.hidden))
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {spec.name} (id TEXT PRIMARY KEY, org TEXT NOT NULL, "
            f"created_at TEXT NOT NULL, removed INTEGER NOT NULL DEFAULT 0, body BLOB NOT NULL{extra})"
        )
    statements += [
        "CREATE TABLE IF NOT EXISTS payout_items (seq INTEGER PRIMARY KEY, payout TEXT NOT NULL, "
        "org TEXT NOT NULL, body BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS payout_items_payout ON payout_items (payout, seq)",
        "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY, due_at INTEGER NOT NULL, "
        "org TEXT NOT NULL, resource TEXT NOT NULL, resource_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "params TEXT)",
        "CREATE TABLE IF NOT EXISTS organisations (id TEXT PRIMARY KEY, position INTEGER, "
        "creditor_id TEXT, name TEXT, email TEXT)",
        "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, org TEXT NOT NULL, "
        "scope TEXT NOT NULL, client_id TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS oauth_codes (code TEXT PRIMARY KEY, client_id TEXT, "
        "redirect_uri TEXT, org TEXT, scope TEXT, used INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    ]
    return statements


class CursorNotFound(LookupError):
    """An ``after``/``before`` cursor that names no record."""


@dataclass(frozen=True)
class Page:
    bodies: list[bytes]
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Organisation:
    id: str
    creditor_id: str
    name: str
    email: str


class SandboxStore:
    """The sandbox's data, in one SQLite file.

    ``count``/``get``/``list_page`` are what tests use as ground truth; writes go through a
    :class:`Writer` (buffered, one transaction per flush).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        conn = self.conn
        conn.execute("PRAGMA journal_mode=WAL")
        with self.write():
            for statement in _schema():
                conn.execute(statement)

    # -- connections ------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction."""
        with self._write_lock:
            conn = self.conn
            if conn.in_transaction:  # nested: the outer transaction commits
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def ensure_indexes(self) -> None:
        with self.write() as conn:
            for statement in INDEXES:
                conn.execute(statement)
        self.conn.execute("ANALYZE")

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # closed from another thread already
                    pass
            self._connections.clear()
        self._local = threading.local()

    # -- meta, organisations, tokens ------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def add_organisation(self, org: Organisation, position: int) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO organisations VALUES (?, ?, ?, ?, ?)",
                (org.id, position, org.creditor_id, org.name, org.email),
            )

    def organisations(self) -> list[Organisation]:
        rows = self.conn.execute(
            "SELECT id, creditor_id, name, email FROM organisations ORDER BY position"
        ).fetchall()
        return [Organisation(*row) for row in rows]

    def organisation(self, org_id: str) -> Organisation | None:
        row = self.conn.execute(
            "SELECT id, creditor_id, name, email FROM organisations WHERE id = ?", (org_id,)
        ).fetchone()
        return Organisation(*row) if row else None

    def add_token(self, token: str, org_id: str, scope: str, client_id: str | None = None) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, 0)", (token, org_id, scope, client_id)
            )

    def replace_preissued_tokens(self, tokens: dict[str, str]) -> None:
        """Swap every pre-issued token (no OAuth client) for ``tokens`` (organisation -> token)."""
        with self.write() as conn:
            conn.execute("DELETE FROM tokens WHERE client_id IS NULL")
            conn.executemany(
                "INSERT INTO tokens VALUES (?, ?, 'read_write', NULL, 0)", [(t, o) for o, t in tokens.items()]
            )

    def token(self, token: str) -> tuple[str, str] | None:
        """``(organisation id, scope)`` of a live token, None when unknown or revoked."""
        row = self.conn.execute(
            "SELECT org, scope FROM tokens WHERE token = ? AND revoked = 0", (token,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def revoke_token(self, token: str, client_id: str) -> bool:
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE tokens SET revoked = 1 WHERE token = ? AND client_id = ?", (token, client_id)
            )
        return cursor.rowcount > 0

    def add_code(self, code: str, client_id: str, redirect_uri: str, org_id: str, scope: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO oauth_codes VALUES (?, ?, ?, ?, ?, 0)", (code, client_id, redirect_uri, org_id, scope)
            )

    def redeem_code(self, code: str, client_id: str, redirect_uri: str) -> tuple[str, str] | None:
        """Use a code once: ``(organisation id, scope)`` or None when unknown, used or mismatched."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT org, scope FROM oauth_codes WHERE code = ? AND used = 0 AND client_id = ? "
                "AND redirect_uri = ?",
                (code, client_id, redirect_uri),
            ).fetchone()
            conn.execute("UPDATE oauth_codes SET used = 1 WHERE code = ?", (code,))
        return (row[0], row[1]) if row else None

    # -- reads ------------------------------------------------------------------------------
    def count(self, organisation_id: str, resource: str) -> int:
        """Records of one organisation, as the API lists them (removed customers excluded)."""
        if resource == "payout_items":
            sql = "SELECT count(*) FROM payout_items WHERE org = ?"
        else:
            sql = f"SELECT count(*) FROM {RESOURCES[resource].name} WHERE org = ? AND removed = 0"
        return self.conn.execute(sql, (organisation_id,)).fetchone()[0]

    def get_raw(self, organisation_id: str, resource: str, record_id: str) -> bytes | None:
        row = self.conn.execute(
            f"SELECT body FROM {RESOURCES[resource].name} WHERE id = ? AND org = ? AND removed = 0",
            (record_id, organisation_id),
        ).fetchone()
        return row[0] if row else None

    def get(self, organisation_id: str, resource: str, record_id: str) -> dict[str, Any] | None:
        raw = self.get_raw(organisation_id, resource, record_id)
        return decode(raw) if raw is not None else None

    def hidden(self, resource: str, record_id: str) -> dict[str, Any]:
        columns = RESOURCES[resource].hidden
        row = self.conn.execute(
            f"SELECT {', '.join(columns)} FROM {resource} WHERE id = ?", (record_id,)
        ).fetchone()
        return dict(zip(columns, row)) if row else {}

    def select(
        self, resource: str, where: str, params: tuple[Any, ...] = (), *, suffix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """``(org, body)`` of the records matching a SQL condition (runtime lookups only)."""
        rows = self.conn.execute(
            f"SELECT org, body FROM {RESOURCES[resource].name} WHERE removed = 0 AND ({where}) {suffix}",
            params,
        ).fetchall()
        return [(org, decode(body)) for org, body in rows]

    def all_bodies(self, organisation_id: str, resource: str) -> list[dict[str, Any]]:
        """Every record of one organisation, newest first (tests)."""
        return [
            body
            for _, body in self.select(
                resource, "org = ?", (organisation_id,), suffix="ORDER BY created_at DESC, id DESC"
            )
        ]

    def list_page(
        self,
        resource: str,
        organisation_id: str,
        conditions: list[tuple[str, tuple[Any, ...]]],
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> Page:
        """One page, newest first (``created_at`` desc, then ``id`` desc), with cursors.

        ``conditions`` are ``(sql, parameters)`` pairs over the table's columns. ``after`` is
        the id of the last record of the previous page; ``before`` the first of the next one.
        """
        table = RESOURCES[resource].name
        where = " AND ".join(["org = ?", "removed = 0", *(sql for sql, _ in conditions)])
        params: list[Any] = [organisation_id, *(value for _, values in conditions for value in values)]
        # Row values let SQLite seek the (org, created_at, id) index instead of scanning it.
        older = "(created_at, id) < (?, ?)"
        newer = "(created_at, id) > (?, ?)"

        def anchor(cursor: str) -> tuple[str, str]:
            row = self.conn.execute(
                f"SELECT created_at FROM {table} WHERE id = ? AND org = ?", (cursor, organisation_id)
            ).fetchone()
            if row is None:
                raise CursorNotFound(cursor)
            return row[0], cursor

        def exists(direction: str, created_at: str, record_id: str) -> bool:
            filters = where
            if direction == newer:
                # The scan must start at the row value: were a ``created_at`` filter (the
                # listing's window) taken as the index range instead, SQLite would walk every
                # row from the window's start to the cursor. ``+`` keeps a term off the index.
                filters = " AND ".join(
                    ["org = ?", "removed = 0", *(f"+{sql}" if sql.startswith("created_at ") else sql for sql, _ in conditions)]
                )
            sql = f"SELECT 1 FROM {table} WHERE {filters} AND {direction} LIMIT 1"
            return self.conn.execute(sql, (*params, created_at, record_id)).fetchone() is not None

        conn = self.conn
        if before is not None and after is None:
            rows = conn.execute(
                f"SELECT id, created_at, body FROM {table} WHERE {where} AND {newer} "
                "ORDER BY created_at ASC, id ASC LIMIT ?",
                (*params, *anchor(before), limit + 1),
            ).fetchall()
            has_newer = len(rows) > limit
            rows = rows[:limit][::-1]
            has_older = bool(rows) and exists(older, rows[-1][1], rows[-1][0])
        else:
            if after is not None:
                extra, extra_params = f" AND {older}", anchor(after)
            else:
                extra, extra_params = "", ()
            rows = conn.execute(
                f"SELECT id, created_at, body FROM {table} WHERE {where}{extra} "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                (*params, *extra_params, limit + 1),
            ).fetchall()
            has_older = len(rows) > limit
            rows = rows[:limit]
            has_newer = after is not None and bool(rows) and exists(newer, rows[0][1], rows[0][0])
        return Page(
            bodies=[row[2] for row in rows],
            before=rows[0][0] if rows and has_newer else None,
            after=rows[-1][0] if rows and has_older else None,
        )

    def payout_items_page(self, payout_id: str, limit: int, after: str | None) -> Page:
        """Items of one payout in posting order; cursors are item positions."""
        start = int(after) if after and after.isascii() and after.isdigit() else 0
        rows = self.conn.execute(
            "SELECT seq, body FROM payout_items WHERE payout = ? AND seq > ? ORDER BY seq LIMIT ?",
            (payout_id, start, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            bodies=[row[1] for row in rows],
            before=str(rows[0][0]) if rows and start else None,
            after=str(rows[-1][0]) if rows and more else None,
        )

    def payout_items(self, payout_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT body FROM payout_items WHERE payout = ? ORDER BY seq", (payout_id,)
        ).fetchall()
        return [decode(row[0]) for row in rows]

    # -- pending transitions --------------------------------------------------------------
    def due_transitions(self, until_ms: int, limit: int = 5000) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT seq, due_at, org, resource, resource_id, kind, params FROM pending "
            "WHERE due_at <= ? ORDER BY due_at, seq LIMIT ?",
            (until_ms, limit),
        ).fetchall()

    def pending_for(self, resource_id: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT seq, due_at, kind, params FROM pending WHERE resource_id = ? ORDER BY due_at, seq",
            (resource_id,),
        ).fetchall()


class Writer:
    """Buffers rows and writes them in one transaction per :meth:`flush`.

    Used by the generator (flushing every few thousand rows) and by every runtime change
    (one flush per request), so both paths store records the same way.
    """

    def __init__(self, store: SandboxStore, batch_size: int = 20_000) -> None:
        self.store = store
        self.batch_size = batch_size
        self._rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self._items: list[tuple[str, str, bytes]] = []
        self._moved_items: list[tuple[str, str]] = []  # (to payout, from payout)
        self._pending: list[tuple[Any, ...]] = []
        self._done_pending: list[tuple[int]] = []
        self._removed: list[tuple[str, str]] = []
        self._buffered = 0

    def put(self, resource: str, org: str, body: dict[str, Any], hidden: dict[str, Any] | None = None) -> None:
        spec = RESOURCES[resource]
        hidden = hidden or {}
        self._rows[resource].append(
            (
                body["id"],
                org,
                body["created_at"],
                encode(body),
                *(extract(body) for extract in spec.columns.values()),
                *(hidden.get(column) for column in spec.hidden),
            )
        )
        self._tick()

    def payout_item(self, org: str, payout_id: str, item: dict[str, Any]) -> None:
        self._items.append((payout_id, org, encode(item)))
        self._tick()

    def move_payout_items(self, from_payout: str, to_payout: str) -> None:
        """Move every item of one payout to another (a carried balance paid by a later payout)."""
        self._moved_items.append((to_payout, from_payout))
        self._tick()

    def schedule(self, due_ms: int, org: str, resource: str, resource_id: str, kind: str, params: dict | None) -> None:
        self._pending.append(
            (due_ms, org, resource, resource_id, kind, json.dumps(params) if params else None)
        )
        self._tick()

    def done(self, seq: int) -> None:
        self._done_pending.append((seq,))

    def remove(self, resource: str, record_id: str) -> None:
        self._removed.append((resource, record_id))

    def _tick(self) -> None:
        self._buffered += 1
        if self._buffered >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        with self.store.write() as conn:
            for resource, rows in self._rows.items():
                spec = RESOURCES[resource]
                columns = ["id", "org", "created_at", "body", *spec.columns, *spec.hidden]
                updates = [f"{c} = excluded.{c}" for c in ("created_at", "body", *spec.columns)]
                updates += [f"{c} = COALESCE(excluded.{c}, {spec.name}.{c})" for c in spec.hidden]
                conn.executemany(
                    f"INSERT INTO {spec.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT(id) DO UPDATE SET {', '.join(updates)}",
                    rows,
                )
            if self._items:
                conn.executemany("INSERT INTO payout_items (payout, org, body) VALUES (?, ?, ?)", self._items)
            if self._moved_items:
                conn.executemany("UPDATE payout_items SET payout = ? WHERE payout = ?", self._moved_items)
            if self._done_pending:
                conn.executemany("DELETE FROM pending WHERE seq = ?", self._done_pending)
            if self._pending:
                conn.executemany(
                    "INSERT INTO pending (due_at, org, resource, resource_id, kind, params) VALUES (?, ?, ?, ?, ?, ?)",
                    self._pending,
                )
            for resource, record_id in self._removed:
                conn.execute(f"UPDATE {RESOURCES[resource].name} SET removed = 1 WHERE id = ?", (record_id,))
        self._rows.clear()
        self._items.clear()
        self._moved_items.clear()
        self._pending.clear()
        self._done_pending.clear()
        self._removed.clear()
        self._buffered = 0

    def cancel_pending(self, resource_id: str) -> None:
        """Forget the planned future of a record (a scenario simulator takes over)."""
        self._pending = [row for row in self._pending if row[3] != resource_id]
        with self.store.write() as conn:
            conn.execute("DELETE FROM pending WHERE resource_id = ?", (resource_id,))
