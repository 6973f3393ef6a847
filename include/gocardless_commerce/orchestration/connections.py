"""Store secrets where they belong: in Airflow connections, encrypted with the Fernet key.

Used by the CLI and the demo (processes that run beside Airflow with its metadata database
configured). Nothing here prints or logs a secret: connection URIs are never rendered.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)


def save_connection(
    conn_id: str,
    *,
    conn_type: str = "gocardless",
    login: str | None = None,
    password: str | None = None,
    host: str | None = None,
    extra: dict | None = None,
    description: str | None = None,
) -> None:
    """Create or replace an Airflow connection in the metadata database."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        existing = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        if existing is not None:
            session.delete(existing)
            session.flush()
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=conn_type,
                login=login,
                password=password,
                host=host,
                extra=json.dumps(extra or {}),
                description=description,
            )
        )
    log.info("Saved Airflow connection %s (secret encrypted in the metadata database)", conn_id)


def delete_connection(conn_id: str) -> bool:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        return session.execute(delete(Connection).where(Connection.conn_id == conn_id)).rowcount > 0


def load_connection(conn_id: str):
    """Read a connection from outside a task: secrets backends and env vars first, then the
    metadata database (the Task SDK's lookup only reaches the database from inside tasks)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        pass
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        if found is None:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        session.expunge(found)
        return found
