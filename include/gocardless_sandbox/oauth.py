"""GoCardless Connect (OAuth 2) for partner apps, auto-approving like a logged-in merchant.

``GET /oauth/authorize`` redirects straight back with a code for the organisation whose email
(``prefill[email]``) or name (``prefill[organisation_name]``) matches, else the first one.
``POST /oauth/access_token`` exchanges a code once; ``POST /oauth/revoke`` disconnects. Client
errors follow RFC 6749: an unknown client or unregistered redirect URI never redirects (400),
a wrong secret is 401 ``invalid_client``, a bad or used code 400 ``invalid_grant``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from gocardless_sandbox.config import SandboxConfig
from gocardless_sandbox.store import SandboxStore

router = APIRouter(prefix="/oauth", tags=["oauth"])
SCOPES = ("read_write", "read_only")


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@router.get("/authorize", response_model=None)
def authorize(request: Request) -> RedirectResponse | JSONResponse:
    config: SandboxConfig = request.app.state.config
    store: SandboxStore = request.app.state.store
    query = request.query_params
    if query.get("client_id") != config.oauth_client_id:
        return oauth_error(400, "invalid_client", "Unknown client_id.")
    redirect_uri = query.get("redirect_uri")
    if redirect_uri not in config.oauth_redirect_uris:
        return oauth_error(400, "invalid_request", "redirect_uri does not match a registered redirect URI.")
    state = {"state": query["state"]} if query.get("state") is not None else {}
    if query.get("response_type") != "code":
        return RedirectResponse(with_query(redirect_uri, {"error": "unsupported_response_type", **state}), status_code=302)
    scope = query.get("scope") or "read_write"
    if scope not in SCOPES:
        return RedirectResponse(with_query(redirect_uri, {"error": "invalid_scope", **state}), status_code=302)
    organisations = store.organisations()
    email = (query.get("prefill[email]") or "").lower()
    name = (query.get("prefill[organisation_name]") or "").lower()
    chosen = next((o for o in organisations if email and o.email.lower() == email), None) or next(
        (o for o in organisations if name and o.name.lower() == name), organisations[0]
    )
    code = secrets.token_urlsafe(24)
    store.add_code(code, config.oauth_client_id, redirect_uri, chosen.id, scope)
    return RedirectResponse(with_query(redirect_uri, {"code": code, **state}), status_code=302)


async def client_form(request: Request) -> tuple[dict[str, str], str | None, str | None]:
    """The form fields and client credentials (form fields or HTTP Basic, per RFC 6749 §2.3)."""
    form: dict[str, Any] = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            pass
    return form, client_id, client_secret


def client_is_valid(config: SandboxConfig, client_id: str | None, client_secret: str | None) -> bool:
    return client_id == config.oauth_client_id and client_secret is not None and secrets.compare_digest(
        client_secret, config.oauth_client_secret
    )


@router.post("/access_token")
async def access_token(request: Request) -> JSONResponse:
    config: SandboxConfig = request.app.state.config
    store: SandboxStore = request.app.state.store
    form, client_id, client_secret = await client_form(request)
    if not client_is_valid(config, client_id, client_secret):
        return oauth_error(401, "invalid_client", "Client authentication failed.")
    if form.get("grant_type") != "authorization_code":
        return oauth_error(400, "unsupported_grant_type", "Only grant_type=authorization_code is supported.")
    if not form.get("code"):
        return oauth_error(400, "invalid_request", "code is required.")
    granted = store.redeem_code(form["code"], client_id, form.get("redirect_uri") or "")
    if granted is None:
        return oauth_error(400, "invalid_grant", "The authorization code is invalid, expired, used or for another redirect_uri.")
    organisation_id, scope = granted
    token = "sandbox_" + secrets.token_urlsafe(32)
    store.add_token(token, organisation_id, scope, client_id)
    organisation = store.organisation(organisation_id)
    return JSONResponse(
        {"access_token": token, "token_type": "bearer", "scope": scope, "organisation_id": organisation_id,
         "email": organisation.email if organisation else None},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/revoke")
async def revoke(request: Request) -> JSONResponse:
    config: SandboxConfig = request.app.state.config
    store: SandboxStore = request.app.state.store
    form, client_id, client_secret = await client_form(request)
    if not client_is_valid(config, client_id, client_secret):
        return oauth_error(401, "invalid_client", "Client authentication failed.")
    if not form.get("token"):
        return oauth_error(400, "invalid_request", "token is required.")
    store.revoke_token(form["token"], client_id)
    return JSONResponse({})  # RFC 7009: 200 whether or not the token was known
