"""Who may call what: Airflow's auth manager decides, through its own FastAPI dependencies.

Airflow does not authenticate a plugin's FastAPI app, so every route takes one of these:

* ``READ``: may read DAGs (Airflow's *viewer* role and up): the registry, syncs, commerce data;
* ``TRIGGER``: may trigger DAG runs (*user* and up): ``POST …/sync``;
* ``WRITE``: may change connections (*op* and up): provider credentials, users, data
  connections and the OAuth callback, since they create, change or delete Airflow connections
  holding secrets.

A missing or invalid token is 401 (the JWT of ``POST /auth/token`` as a Bearer header, or the
UI's cookie), a role below the route's is 403.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    requires_access_connection,
    requires_access_dag,
)
from fastapi import Depends

from gocardless_commerce.api.errors import ApiError

READ = Depends(requires_access_dag("GET"))
TRIGGER = Depends(requires_access_dag("POST", DagAccessEntity.RUN))
WRITE_METHODS = {method: Depends(requires_access_connection(method)) for method in ("POST", "PUT", "DELETE")}
CurrentUser = GetUserDep


def oauth_state_secret() -> bytes:
    """The key that signs OAuth states: ``GC_COMMERCE_OAUTH_STATE_SECRET``, else one derived from
    Airflow's JWT secret (shared by every API server process, as the state must be)."""
    explicit = os.environ.get("GC_COMMERCE_OAUTH_STATE_SECRET")
    if explicit:
        return explicit.encode()
    from airflow.configuration import conf

    base = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("core", "fernet_key", fallback="")
    if not base:
        raise ApiError(500, "No secret to sign OAuth states: set GC_COMMERCE_OAUTH_STATE_SECRET")
    return hmac.new(base.encode(), b"gocardless-commerce oauth state", hashlib.sha256).digest()
