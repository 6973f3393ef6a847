"""``…/users/{user_id}/data-connections`` and ``…/callback/gocardless``: connecting a merchant
through GoCardless OAuth.

1. ``POST`` creates an ``AUTH_REQUIRED`` connection and answers a ``redirect_url``: this API's
   ``…/connect/gocardless?state=…``, carrying a signed, expiring ``state`` whose nonce the
   registry holds.
2. Opening it sets ``CONNECTING`` and redirects (303) to the OAuth authorize page of the
   provider's host (GoCardless live or sandbox per ``is_sandbox``, or the credentials'
   ``base_url``) with the same state.
3. GoCardless sends the merchant back to the callback with ``code`` and ``state``. A state we did
   not sign, an expired one, or one already used is refused (400) and changes nothing. Otherwise
   the nonce is consumed, the connection is ``CONNECTING`` while the code is exchanged, then
   ``CONNECTED`` (token in its Airflow connection, DAG published, first sync started when
   ``auto_connect``) or ``AUTH_ERROR`` with the reason (merchant denied, exchange failed).
   A browser (``Accept: text/html``) is then sent back to the Merchants page in the Airflow UI,
   which shows the outcome; an API client gets the data connection as JSON.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from gocardless_commerce.api import models
from gocardless_commerce.api.app import API_PREFIX
from gocardless_commerce.api.access import READ, WRITE_METHODS, CurrentUser, oauth_state_secret
from gocardless_commerce.api.deps import data_connection_view, existing_user, registry, user_connection
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.oauth_state import InvalidStateError, new_nonce, sign_state, verify_state
from gocardless_commerce.api.providers import ProviderConnection
from gocardless_commerce.api.ui import MOUNT_POINT, url_route
from gocardless_commerce.client import oauth
from gocardless_commerce.model.data_docs import delete_connection_docs
from gocardless_commerce.model.validation import default_docs_dir
from gocardless_commerce.client.errors import GoCardlessError
from gocardless_commerce.orchestration.connections import delete_connection, load_connection, save_connection
from gocardless_commerce.orchestration.hook import provider_oauth_root
from gocardless_commerce.orchestration.merchant_dags import publish_merchant_dag, retire_merchant_dag
from gocardless_commerce.orchestration.pools import delete_merchant_pool, ensure_pools
from gocardless_commerce.registry import SYNCED_STATUSES, DataConnection, RegistryConflict
from gocardless_commerce.settings import ConfigurationError

log = logging.getLogger(__name__)
router = APIRouter(tags=["data connections"])
CALLBACK_PATH = "/callback/gocardless"
CONNECT_PATH = "/connect/gocardless"


def _route_url(request: Request, route: str, query: str = "") -> str:
    """The URL of one of this API's routes, from this request's own URL: every route sits under
    API_PREFIX, and the mount point above it (/commerce) is Airflow's to choose (url_for would
    search Airflow's router, which does not know the plugin's routes)."""
    path = request.url.path
    api_root = path[: path.index(API_PREFIX) + len(API_PREFIX)]
    return str(request.url.replace(path=f"{api_root}{route}", query=query))


def redirect_uri(request: Request) -> str:
    """Where GoCardless sends merchants back: ``GC_COMMERCE_OAUTH_REDIRECT_URI`` (as registered
    with the partner app, e.g. behind a proxy), else this server's callback route."""
    return os.environ.get("GC_COMMERCE_OAUTH_REDIRECT_URI") or _route_url(request, CALLBACK_PATH)


def _answer_callback(request: Request, view: models.DataConnection) -> models.DataConnection | Response:
    """The callback's answer: the data connection, or for a person's browser (which asked for
    HTML) a redirect to the Merchants page inside the Airflow UI, whose base is what lies above
    the plugin's mount point in this request's path."""
    if "text/html" not in request.headers.get("accept", ""):
        return view
    mount_root = request.url.path[: request.url.path.index(API_PREFIX)]
    airflow_root = mount_root.removesuffix(MOUNT_POINT)
    return RedirectResponse(f"{airflow_root}/plugin/{url_route('merchants')}", status_code=303)


def _connect_url(request: Request, connection: DataConnection, nonce: str) -> str:
    """The ``redirect_url`` handed out: this API's connect route, with a fresh signed state."""
    return _route_url(request, CONNECT_PATH, urlencode({"state": sign_state(oauth_state_secret(), connection.id, nonce)}))


def _authorize_url(request: Request, provider: ProviderConnection, state: str) -> str:
    try:
        root = provider_oauth_root(provider.extra)
    except ConfigurationError as error:
        raise ApiError(409, f"The provider's credentials are unusable: {error}") from None
    return oauth.authorize_url(root, provider.client_id or "", redirect_uri(request), state=state)


@router.post("/users/{user_id}/data-connections", status_code=201, dependencies=[WRITE_METHODS["POST"]])
def create_data_connection(user_id: models.UserIdPath, body: models.DataConnectionRequest, request: Request) -> models.DataConnection:
    existing_user(user_id)
    provider = ProviderConnection()
    provider.require_usable()
    nonce = new_nonce()
    try:
        connection = registry().request_connection(user_id, tuple(body.requested_data_types), nonce)
    except RegistryConflict as error:
        raise ApiError(409, str(error)) from None
    return data_connection_view(connection, _connect_url(request, connection, nonce))


@router.get("/users/{user_id}/data-connections", dependencies=[READ])
def list_data_connections(user_id: models.UserIdPath) -> list[models.DataConnection]:
    return existing_user(user_id).data_connections


@router.get("/users/{user_id}/data-connections/{data_connection_id}", dependencies=[READ])
def get_data_connection(user_id: models.UserIdPath, data_connection_id: models.DataConnectionIdPath) -> models.DataConnection:
    return data_connection_view(user_connection(user_id, data_connection_id))


@router.patch("/users/{user_id}/data-connections/{data_connection_id}", dependencies=[WRITE_METHODS["PUT"]])
def patch_data_connection(
    user_id: models.UserIdPath, data_connection_id: models.DataConnectionIdPath, body: models.DataConnectionPatch, request: Request
) -> models.DataConnection:
    connection = user_connection(user_id, data_connection_id)
    reg = registry()
    if connection.status == "DISCONNECTED" and body.status != "AUTH_REQUIRED":
        raise ApiError(409, "The data connection is DISCONNECTED: PATCH its status to AUTH_REQUIRED to reconnect")
    if body.requested_data_types is not None:
        connection = reg.set_requested_data_types(connection.id, tuple(body.requested_data_types))
        if connection.status in SYNCED_STATUSES and body.status is None:
            publish_merchant_dag(user_id)  # the trigger form's default data types follow
    redirect_url = None
    if body.status == "DISCONNECTED":
        _revoke_and_forget_token(connection)
        reg.set_status(connection.id, "DISCONNECTED", "disconnected through the API")
        retire_merchant_dag(user_id)
    elif body.status == "AUTH_REQUIRED":
        provider = ProviderConnection()
        provider.require_usable()
        nonce = new_nonce()
        connection = reg.require_auth(connection.id, nonce)
        retire_merchant_dag(user_id)
        redirect_url = _connect_url(request, connection, nonce)
    return data_connection_view(reg.get(connection.id), redirect_url)


@router.delete("/users/{user_id}/data-connections/{data_connection_id}", status_code=204,
               dependencies=[WRITE_METHODS["DELETE"]])
def delete_data_connection(user_id: models.UserIdPath, data_connection_id: models.DataConnectionIdPath) -> Response:
    release_connection(user_connection(user_id, data_connection_id))
    return Response(status_code=204)


def release_connection(connection: DataConnection) -> None:
    """Delete a data connection everywhere: token revoked and removed, its rows in every schema,
    its Data Docs pages, its pool, its DAG."""
    _revoke_and_forget_token(connection)
    registry().delete_connection(connection.id)
    delete_connection_docs(default_docs_dir(), connection.id)
    if not registry().data_connections(user_id=connection.user_id):
        delete_merchant_pool(connection.user_id)
    retire_merchant_dag(connection.user_id)


def _revoke_and_forget_token(connection: DataConnection) -> None:
    """Revoke the merchant's token at GoCardless (best effort: a provider that cannot be reached
    must not keep a merchant connected here) and delete the Airflow connection holding it."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        token = load_connection(connection.airflow_conn_id).password
    except AirflowNotFoundException:
        return
    provider = ProviderConnection()
    if token and provider.configured:
        try:
            oauth.revoke_token(provider_oauth_root(provider.extra), client_id=provider.client_id,
                               client_secret=provider.client_secret, token=token)
        except (GoCardlessError, ConfigurationError) as error:
            log.warning("Could not revoke the token of data connection %s: %s", connection.id, type(error).__name__)
    delete_connection(connection.airflow_conn_id)


class ConnectQuery(models.Request):
    state: str = Field(min_length=1, max_length=2000)


@router.get(CONNECT_PATH, status_code=303, dependencies=[WRITE_METHODS["PUT"]], response_class=RedirectResponse,
            responses={303: {"description": "To the provider's consent page"}})
def open_consent_page(query: Annotated[ConnectQuery, Query()], request: Request) -> RedirectResponse:
    """The ``redirect_url`` of a data connection: marks it ``CONNECTING`` and sends the browser
    on to GoCardless's consent page with the same state. A forged or expired state, or one no
    longer awaited (used, or replaced by a newer request), is refused (400) and changes nothing."""
    try:
        state = verify_state(oauth_state_secret(), query.state)
    except InvalidStateError as error:
        raise ApiError(400, f"Invalid OAuth state: {error}", code="INVALID_STATE") from None
    provider = ProviderConnection()
    provider.require_usable()
    if not registry().mark_connecting(state.data_connection_id, state.nonce):
        raise ApiError(400, "Invalid OAuth state: already used, or replaced by a newer connection request",
                       code="INVALID_STATE")
    return RedirectResponse(_authorize_url(request, provider, query.state), status_code=303)


class CallbackQuery(models.Request):
    state: str = Field(min_length=1, max_length=2000)
    code: str | None = Field(None, max_length=2000)
    error: str | None = Field(None, max_length=200)
    error_description: str | None = Field(None, max_length=1000)


@router.get(CALLBACK_PATH, dependencies=[WRITE_METHODS["PUT"]], response_model=models.DataConnection,
            responses={303: {"description": "For a browser (Accept: text/html): back to the Merchants page"}})
def gocardless_callback(query: Annotated[CallbackQuery, Query()], request: Request, user: CurrentUser) -> models.DataConnection | Response:
    return _answer_callback(request, _handle_callback(query, request, user))


def _handle_callback(query: CallbackQuery, request: Request, user) -> models.DataConnection:
    try:
        state = verify_state(oauth_state_secret(), query.state)
    except InvalidStateError as error:
        raise ApiError(400, f"Invalid OAuth state: {error}", code="INVALID_STATE") from None
    reg = registry()
    if not reg.consume_oauth_nonce(state.data_connection_id, state.nonce):
        raise ApiError(400, "Invalid OAuth state: already used, or replaced by a newer connection request",
                       code="INVALID_STATE")
    connection = reg.get(state.data_connection_id)
    if query.error or not query.code:
        reason = f"GoCardless did not grant access: {query.error or 'no code'}"
        reg.set_status(connection.id, "AUTH_ERROR", reason + (f" ({query.error_description})" if query.error_description else ""))
        return data_connection_view(reg.get(connection.id))
    reg.set_status(connection.id, "CONNECTING")
    provider = ProviderConnection()
    try:
        provider.require_usable()
        grant = oauth.exchange_code(provider_oauth_root(provider.extra), client_id=provider.client_id,
                                    client_secret=provider.client_secret, code=query.code,
                                    redirect_uri=redirect_uri(request))
    except (GoCardlessError, ConfigurationError, ApiError) as error:
        reg.set_status(connection.id, "AUTH_ERROR", f"The code exchange failed: {error}")
        return data_connection_view(reg.get(connection.id))
    return _connected(connection, grant, provider, user.get_name())


def _connected(connection: DataConnection, grant: dict, provider: ProviderConnection, by: str) -> models.DataConnection:
    """Store the token, mark the connection CONNECTED, publish its DAG, maybe start its first sync."""
    organisation_id = grant.get("organisation_id")
    save_connection(connection.airflow_conn_id, password=grant["access_token"],
                    extra={"organisation_id": organisation_id}, description=f"GoCardless access token of user {connection.user_id}")
    reg = registry()
    user = reg.user(connection.user_id)
    connected = reg.connect(user.id, user.name, organisation_id=organisation_id,
                            requested_data_types=connection.requested_data_types,
                            legal_identifiers=user.legal_identifiers, schedule=connection.schedule)
    ensure_pools([user.id])
    publish_merchant_dag(user.id, first_sync=list(connected.requested_data_types) if provider.auto_connect else None,
                         triggered_by_user=by)
    return data_connection_view(connected)
