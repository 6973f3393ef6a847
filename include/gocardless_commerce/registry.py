"""The merchant registry: users and their GoCardless data connections (Qard's model).

The registry lives in the warehouse (``meta.users``, ``meta.data_connections``); access tokens
never do — each data connection names the Airflow connection that holds its token. Every change
rewrites the registry snapshot that the DAG factory reads at parse time, so parsing DAGs needs
no database.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gocardless_commerce import settings
from gocardless_commerce.data_types import DATA_TYPES
from gocardless_commerce.names import InvalidNameError, validate_merchant_name, validate_user_id
from gocardless_commerce.warehouse.engine import transaction

log = logging.getLogger(__name__)

STATUSES = ("AUTH_REQUIRED", "CONNECTING", "CONNECTED", "AUTH_ERROR", "DISCONNECTED")
#: Statuses that get a sync DAG. AUTH_ERROR keeps its DAG so the failed run stays visible.
SYNCED_STATUSES = ("CONNECTED", "AUTH_ERROR")


class RegistryError(ValueError):
    """A registry request that cannot be carried out (unknown user, bad status, bad id or name...)."""


class RegistryConflict(RegistryError):
    """The request clashes with what the registry holds (the user exists, a connection is live...)."""


_INSERT_DATA_CONNECTION = (
    "INSERT INTO meta.data_connections (id, user_id, provider_name, requested_data_types, status, "
    "status_reason, organisation_id, airflow_conn_id, schedule, created_at, updated_at) VALUES "
    "(:id, :user_id, 'gocardless', CAST(:types AS JSON), :status, NULL, :org, :conn, :schedule, :now, :now)"
)


@dataclass(frozen=True)
class User:
    id: str
    name: str
    legal_identifiers: dict
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DataConnection:
    id: str
    user_id: str
    user_name: str
    status: str
    organisation_id: str | None
    airflow_conn_id: str
    requested_data_types: tuple[str, ...]
    schedule: str | None = None
    status_reason: str | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Registry:
    """Reads and changes the registry; keeps the DAG snapshot in step with it."""

    def __init__(self, engine: Engine, snapshot_path: Path | None = None) -> None:
        self.engine = engine
        self.snapshot_path = snapshot_path or settings.registry_snapshot_path()

    # -- reads -------------------------------------------------------------------------------
    def data_connections(self, *, statuses: tuple[str, ...] | None = None, data_connection_id: str | None = None,
                         user_id: str | None = None) -> list[DataConnection]:
        """The data connections, optionally only those with this id or of this user (filtered in
        SQL: connecting one merchant must not read every other merchant's row)."""
        filters = {"dc.id": data_connection_id, "dc.user_id": user_id}
        where = " AND ".join(f"{column} = :{column.split('.')[1]}" for column, value in filters.items() if value is not None)
        query = (
            "SELECT dc.id, dc.user_id, u.name, dc.status, dc.organisation_id, dc.airflow_conn_id, "
            "CAST(dc.requested_data_types AS VARCHAR), dc.schedule, dc.status_reason "
            "FROM meta.data_connections dc JOIN meta.users u ON u.id = dc.user_id "
            + (f"WHERE {where} " if where else "") + "ORDER BY dc.user_id, dc.id"
        )
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.text(query), {"id": data_connection_id, "user_id": user_id}).all()
        connections = [
            DataConnection(
                id=r[0], user_id=r[1], user_name=r[2], status=r[3], organisation_id=r[4],
                airflow_conn_id=r[5], requested_data_types=tuple(json.loads(r[6])), schedule=r[7],
                status_reason=r[8],
            )
            for r in rows
        ]
        return [c for c in connections if statuses is None or c.status in statuses]

    def get(self, data_connection_id: str) -> DataConnection:
        for connection in self.data_connections(data_connection_id=data_connection_id):
            return connection
        raise RegistryError(f"Unknown data connection {data_connection_id!r}")

    def for_user(self, user_id: str) -> DataConnection | None:
        """The user's live GoCardless data connection (one per user), if any."""
        live = [c for c in self.data_connections(user_id=user_id) if c.status != "DISCONNECTED"]
        return live[0] if live else None

    def users(self, user_id: str | None = None) -> list[User]:
        """Every user (or the one with this id), by id."""
        query = "SELECT id, name, CAST(legal_identifiers AS VARCHAR), created_at, updated_at FROM meta.users"
        with transaction(self.engine) as conn:
            rows = conn.execute(
                sa.text(query + (" WHERE id = :id" if user_id is not None else "") + " ORDER BY id"), {"id": user_id}
            ).all()
        return [User(r[0], r[1], json.loads(r[2] or "{}") or {}, r[3], r[4]) for r in rows]

    def user(self, user_id: str) -> User:
        for found in self.users(user_id):
            return found
        raise RegistryError(f"Unknown user {user_id!r}")

    # -- changes -----------------------------------------------------------------------------
    def create_user(self, user_id: str, name: str, legal_identifiers: dict | None = None) -> User:
        """Register a user without a data connection yet (the REST API's ``POST /users/legal``)."""
        try:
            user_id, name = validate_user_id(user_id), validate_merchant_name(name)
        except InvalidNameError as error:
            raise RegistryError(str(error)) from None
        now = _now()
        with transaction(self.engine) as conn:
            if conn.execute(sa.text("SELECT 1 FROM meta.users WHERE id = :id"), {"id": user_id}).first():
                raise RegistryConflict(f"User {user_id!r} already exists")
            conn.execute(
                sa.text("INSERT INTO meta.users VALUES (:id, :name, CAST(:li AS JSON), :now, :now)"),
                {"id": user_id, "name": name, "li": json.dumps(legal_identifiers or {}), "now": now},
            )
        log.info("User %s registered", user_id)
        return self.user(user_id)

    def request_connection(self, user_id: str, requested_data_types: tuple[str, ...], oauth_nonce: str) -> DataConnection:
        """A new AUTH_REQUIRED data connection for a user without a live one, waiting for the
        OAuth state whose nonce is ``oauth_nonce``."""
        self.user(user_id)
        _check_data_types(requested_data_types)
        if self.for_user(user_id) is not None:
            raise RegistryConflict(f"User {user_id!r} already has a live GoCardless data connection")
        dc_id = str(uuid.uuid4())
        with transaction(self.engine) as conn:
            conn.execute(sa.text(_INSERT_DATA_CONNECTION), {
                "id": dc_id, "user_id": user_id, "types": json.dumps(list(requested_data_types)),
                "status": "AUTH_REQUIRED", "org": None, "conn": settings.merchant_conn_id(dc_id), "schedule": None,
                "now": _now(),
            })
            conn.execute(sa.text("UPDATE meta.data_connections SET oauth_nonce = :n WHERE id = :id"),
                         {"n": oauth_nonce, "id": dc_id})
        log.info("Data connection %s of user %s waits for OAuth (AUTH_REQUIRED)", dc_id, user_id)
        return self.get(dc_id)

    def require_auth(self, data_connection_id: str, oauth_nonce: str) -> DataConnection:
        """Ask an existing data connection to reconnect: AUTH_REQUIRED, waiting for a new state
        (any earlier state stops working). Its DAG disappears until the callback succeeds."""
        with transaction(self.engine) as conn:
            conn.execute(sa.text("UPDATE meta.data_connections SET oauth_nonce = :n WHERE id = :id"),
                         {"n": oauth_nonce, "id": data_connection_id})
        self.set_status(data_connection_id, "AUTH_REQUIRED", "reconnection requested")
        return self.get(data_connection_id)

    def consume_oauth_nonce(self, data_connection_id: str, oauth_nonce: str) -> bool:
        """True once for the nonce the connection waits for (compare and clear in one UPDATE,
        so two callbacks racing with one state cannot both win)."""
        return self._update_one(
            "UPDATE meta.data_connections SET oauth_nonce = NULL, updated_at = :now "
            "WHERE id = :id AND oauth_nonce = :n AND status <> 'DISCONNECTED'",
            data_connection_id, oauth_nonce,
        )

    def mark_connecting(self, data_connection_id: str, oauth_nonce: str) -> bool:
        """The merchant opened the consent page: ``CONNECTING``, if the connection still waits
        for this nonce (not used, not replaced); False otherwise, and nothing changes."""
        return self._update_one(
            "UPDATE meta.data_connections SET status = 'CONNECTING', status_reason = NULL, updated_at = :now "
            "WHERE id = :id AND oauth_nonce = :n AND status IN ('AUTH_REQUIRED', 'CONNECTING')",
            data_connection_id, oauth_nonce,
        )

    def _update_one(self, sql: str, data_connection_id: str, oauth_nonce: str) -> bool:
        """Run a compare-and-set UPDATE of one data connection (``:id``, ``:n``, ``:now``);
        True if it matched, in one statement so two racing requests cannot both win."""
        with transaction(self.engine) as conn:
            return conn.execute(sa.text(sql), {"id": data_connection_id, "n": oauth_nonce, "now": _now()}).rowcount == 1

    def set_requested_data_types(self, data_connection_id: str, requested_data_types: tuple[str, ...]) -> DataConnection:
        _check_data_types(requested_data_types)
        with transaction(self.engine) as conn:
            conn.execute(
                sa.text("UPDATE meta.data_connections SET requested_data_types = CAST(:types AS JSON), "
                        "updated_at = :now WHERE id = :id"),
                {"types": json.dumps(list(requested_data_types)), "now": _now(), "id": data_connection_id},
            )
        self.write_snapshot()
        return self.get(data_connection_id)

    def connect(
        self,
        user_id: str,
        name: str,
        *,
        organisation_id: str | None,
        requested_data_types: tuple[str, ...] = DATA_TYPES,
        legal_identifiers: dict | None = None,
        schedule: str | None = None,
    ) -> DataConnection:
        """Register (or update) a user and give it a CONNECTED GoCardless data connection.

        Reconnecting a user reuses its live data connection, so its history and DAG id stay.
        The caller stores the access token in the Airflow connection named ``airflow_conn_id``.
        The user id must fit an Airflow DAG id and the name be one line of text
        (:mod:`gocardless_commerce.names`); anything else is refused before it is stored.
        """
        try:
            user_id, name = validate_user_id(user_id), validate_merchant_name(name)
        except InvalidNameError as error:
            raise RegistryError(str(error)) from None
        _check_data_types(requested_data_types)
        now = _now()
        existing = self.for_user(user_id)
        dc_id = existing.id if existing else str(uuid.uuid4())
        with transaction(self.engine) as conn:
            params = {"id": user_id, "name": name, "li": json.dumps(legal_identifiers or {}), "now": now}
            if conn.execute(sa.text("SELECT 1 FROM meta.users WHERE id = :id"), params).first():
                conn.execute(
                    sa.text("UPDATE meta.users SET name = :name, legal_identifiers = CAST(:li AS JSON), updated_at = :now WHERE id = :id"),
                    params,
                )
            else:
                conn.execute(
                    sa.text("INSERT INTO meta.users VALUES (:id, :name, CAST(:li AS JSON), :now, :now)"), params
                )
            dc = {
                "id": dc_id, "user_id": user_id, "types": json.dumps(list(requested_data_types)),
                "org": organisation_id, "conn": settings.merchant_conn_id(dc_id), "schedule": schedule, "now": now,
            }
            if existing:
                conn.execute(
                    sa.text(
                        "UPDATE meta.data_connections SET status = 'CONNECTED', status_reason = NULL, "
                        "organisation_id = :org, requested_data_types = CAST(:types AS JSON), "
                        "schedule = :schedule, updated_at = :now WHERE id = :id"
                    ),
                    dc,
                )
            else:
                conn.execute(sa.text(_INSERT_DATA_CONNECTION), {**dc, "status": "CONNECTED"})
        log.info("Data connection %s of user %s is CONNECTED", dc_id, user_id)
        self.write_snapshot()
        return self.get(dc_id)

    def set_status(self, data_connection_id: str, status: str, reason: str | None = None) -> None:
        if status not in STATUSES:
            raise RegistryError(f"Unknown status {status!r}; choose from {list(STATUSES)}")
        with transaction(self.engine) as conn:
            updated = conn.execute(
                sa.text(
                    "UPDATE meta.data_connections SET status = :status, status_reason = :reason, "
                    "updated_at = :now WHERE id = :id"
                ),
                {"status": status, "reason": reason, "now": _now(), "id": data_connection_id},
            ).rowcount
        if updated == 0:
            raise RegistryError(f"Unknown data connection {data_connection_id!r}")
        log.info("Data connection %s is now %s%s", data_connection_id, status, f" ({reason})" if reason else "")
        self.write_snapshot()

    def disconnect(self, user_id: str) -> DataConnection:
        """Disconnect the user's data connection: its DAG disappears, its data stays."""
        connection = self.for_user(user_id)
        if connection is None:
            raise RegistryError(f"User {user_id!r} has no live GoCardless data connection")
        self.set_status(connection.id, "DISCONNECTED", "disconnected by an operator")
        return self.get(connection.id)

    def delete(self, user_id: str) -> DataConnection:
        """Delete the user's data connection and **all its rows in every schema** (Qard's rule).

        One transaction: raw records, commerce tables, quarantine, sync state and the registry
        row go together. The caller removes the Airflow connection holding the token.
        """
        connection = self.for_user(user_id) or next(iter(self.data_connections(user_id=user_id)), None)
        if connection is None:
            raise RegistryError(f"User {user_id!r} has no GoCardless data connection")
        return self.delete_connection(connection.id)

    def delete_user(self, user_id: str) -> list[DataConnection]:
        """Delete a user, each of its data connections and all their rows; returns the connections
        (the caller removes their Airflow connections)."""
        self.user(user_id)
        deleted = [self.delete_connection(c.id) for c in self.data_connections(user_id=user_id)]
        with transaction(self.engine) as conn:
            conn.execute(sa.text("DELETE FROM meta.users WHERE id = :id"), {"id": user_id})
        log.info("Deleted user %s", user_id)
        return deleted

    def delete_connection(self, data_connection_id: str) -> DataConnection:
        """Delete one data connection and all its rows in every schema, in one transaction."""
        connection = self.get(data_connection_id)
        user_id = connection.user_id
        with transaction(self.engine) as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.columns "
                    "WHERE column_name = 'data_connection_id' AND table_schema IN ('raw', 'commerce', 'reconciliation', 'meta') "
                    "AND table_name IN (SELECT table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' AND table_schema = information_schema.columns.table_schema)"
                )
            ).all()
            deleted = {}
            for schema, table in sorted(tables):
                deleted[f"{schema}.{table}"] = conn.execute(
                    sa.text(f"DELETE FROM {schema}.{table} WHERE data_connection_id = :dc"), {"dc": connection.id}
                ).rowcount
            conn.execute(sa.text("DELETE FROM meta.data_connections WHERE id = :dc"), {"dc": connection.id})
        log.info("Deleted data connection %s of user %s and its rows: %s", connection.id, user_id, deleted)
        self.write_snapshot()
        return connection

    # -- the snapshot the DAG factory reads ----------------------------------------------------
    def write_snapshot(self) -> Path:
        """Atomically rewrite the snapshot of data connections that get a sync DAG."""
        merchants = [asdict(c) for c in self.data_connections(statuses=SYNCED_STATUSES)]
        body = json.dumps({"version": 1, "merchants": merchants}, indent=2, sort_keys=True)
        self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.snapshot_path.parent, prefix=".merchants-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
        os.replace(tmp, self.snapshot_path)
        return self.snapshot_path


def _check_data_types(requested_data_types: tuple[str, ...]) -> None:
    unknown = set(requested_data_types) - set(DATA_TYPES)
    if unknown:
        raise RegistryError(f"Unknown data types {sorted(unknown)}; choose from {list(DATA_TYPES)}")
