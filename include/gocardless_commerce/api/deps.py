"""What the routes share: the registry on a migrated warehouse, the provider connection, and
the registry's objects turned into API shapes."""

from __future__ import annotations

import threading
from functools import lru_cache

from sqlalchemy.engine import Engine

from gocardless_commerce import settings
from gocardless_commerce.api import models
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.names import DAG_ID_PREFIX
from gocardless_commerce.registry import SYNCED_STATUSES, DataConnection, Registry, RegistryError
from gocardless_commerce.warehouse.engine import get_engine
from gocardless_commerce.warehouse.migrations import apply_migrations


_MIGRATING = threading.Lock()


@lru_cache(maxsize=4)
def _migrated_engine_once(url: str) -> Engine:
    engine = get_engine(url)
    apply_migrations(engine)  # once per API server process and warehouse
    return engine


def _migrated_engine(url: str) -> Engine:
    # The first requests arrive together (a page asks for several things at once): one thread
    # migrates, the others wait for it, instead of each creating the schemas at the same time.
    with _MIGRATING:
        return _migrated_engine_once(url)


def warehouse() -> Engine:
    return _migrated_engine(settings.warehouse_url())


def registry() -> Registry:
    return Registry(warehouse())


def existing_user(user_id: str) -> models.User:
    """The user as the API shows it, or 404."""
    reg = registry()
    try:
        user = reg.user(user_id)
    except RegistryError:
        raise ApiError(404, f"No user {user_id!r}") from None
    connections = [data_connection_view(c) for c in reg.data_connections(user_id=user_id)]
    return models.User(
        id=user.id, name=user.name, siren=user.legal_identifiers.get("siren"),
        country=user.legal_identifiers.get("country"), created_at=user.created_at, updated_at=user.updated_at,
        data_connections=connections,
    )


def user_connection(user_id: str, data_connection_id: str) -> DataConnection:
    """One data connection of this user, or 404 (another user's id is not found here either)."""
    existing_user(user_id)
    found = registry().data_connections(data_connection_id=data_connection_id, user_id=user_id)
    if not found:
        raise ApiError(404, f"User {user_id!r} has no data connection {data_connection_id!r}")
    return found[0]


def data_connection_view(connection: DataConnection, redirect_url: str | None = None) -> models.DataConnection:
    return models.DataConnection(
        id=connection.id, user_id=connection.user_id, status=connection.status,
        status_reason=connection.status_reason, requested_data_types=list(connection.requested_data_types),
        organisation_id=connection.organisation_id,
        dag_id=f"{DAG_ID_PREFIX}{connection.user_id}" if connection.status in SYNCED_STATUSES else None,
        redirect_url=redirect_url,
    )
