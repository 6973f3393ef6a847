"""The partner-app OAuth endpoints: where to send merchants, and the code-for-token exchange.

Used by the hook (and the UI plugin through it) when a merchant connects their GoCardless
account. The exchange is not retried: an authorization code is single-use, so a second
attempt after an ambiguous failure could only fail with ``invalid_grant``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import requests

from gocardless_commerce.client.errors import TransportError, error_from_envelope
from gocardless_commerce.client.transport import malformed_response

CONNECT_URLS = {
    "live": "https://connect.gocardless.com",
    "sandbox": "https://connect-sandbox.gocardless.com",
}


#: How ``is_sandbox`` may be written in a connection's extra (the UI's form and JSON both say
#: ``true``/``false``; a hand-written extra may say ``"false"``, which must not mean sandbox).
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def parse_is_sandbox(value: Any) -> bool:
    """The one reading of ``is_sandbox`` (hook, CLI and REST API): booleans as they are, the
    strings true/false/yes/no/on/off/1/0 in any case; anything else is an error, not a guess."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"is_sandbox must be true or false, not {value!r}")


def environment_of(extra: dict[str, Any], default_sandbox: bool = True) -> Literal["live", "sandbox"]:
    """``live`` or ``sandbox`` from a connection extra's ``is_sandbox`` (absent: ``default_sandbox``)."""
    return "sandbox" if parse_is_sandbox(extra.get("is_sandbox", default_sandbox)) else "live"


def connect_url(environment: Literal["live", "sandbox"] | None = None, base_url: str | None = None) -> str:
    """The OAuth host: our sandbox serves OAuth on its API ``base_url``; GoCardless on connect."""
    if base_url:
        return base_url.rstrip("/")
    if environment not in CONNECT_URLS:
        raise ValueError("pass environment='live' or 'sandbox', or a base_url")
    return CONNECT_URLS[environment]


def oauth_urls(
    environment: Literal["live", "sandbox"] | None = None, base_url: str | None = None
) -> dict[str, str]:
    """``authorize``, ``access_token`` and ``revoke`` endpoint URLs."""
    root = connect_url(environment, base_url)
    return {name: f"{root}/oauth/{name}" for name in ("authorize", "access_token", "revoke")}


def authorize_url(
    root: str,
    client_id: str,
    redirect_uri: str,
    *,
    scope: Literal["read_only", "read_write"] = "read_only",
    state: str | None = None,
    initial_view: Literal["login", "signup"] | None = None,
    prefill_email: str | None = None,
) -> str:
    """The URL to send a merchant to; an extract pipeline only needs ``read_only``."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "scope": scope}
    if state:
        query["state"] = state
    if initial_view:
        query["initial_view"] = initial_view
    if prefill_email:
        query["prefill[email]"] = prefill_email
    return f"{root.rstrip('/')}/oauth/authorize?{urlencode(query)}"


def exchange_code(
    root: str,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    timeout: tuple[float, float] = (5.0, 30.0),
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Swap an authorization code for ``{"access_token", "organisation_id", "scope", …}``.

    Errors become the client's exceptions: an OAuth error ``{"error": "invalid_grant",
    "error_description": …}`` maps like an API error with that ``type``.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    http = session or requests
    url = f"{root.rstrip('/')}/oauth/access_token"
    try:
        response = http.post(url, data=form, headers={"Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise TransportError(f"POST /oauth/access_token: {type(exc).__name__}") from None
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise malformed_response(response) from None
    if not isinstance(body, dict):
        raise malformed_response(response)
    if response.status_code < 400 and "access_token" in body:
        return body
    error = body.get("error")
    if isinstance(error, dict):
        raise error_from_envelope(response.status_code, error)
    reason = str(error or "invalid_response")
    raise error_from_envelope(
        response.status_code,
        {"type": reason, "message": body.get("error_description") or reason,
         "errors": [{"reason": reason, "message": body.get("error_description") or reason}]},
    )


def revoke_token(
    root: str,
    *,
    client_id: str,
    client_secret: str,
    token: str,
    timeout: tuple[float, float] = (5.0, 30.0),
) -> None:
    """Tell GoCardless to revoke a merchant's access token (RFC 7009: 200 whether or not it was
    known). Raises the client's errors; the token is never part of an error message."""
    try:
        response = requests.post(
            f"{root.rstrip('/')}/oauth/revoke", data={"token": token, "client_id": client_id,
                                                      "client_secret": client_secret},
            headers={"Accept": "application/json"}, timeout=timeout,
        )
    except requests.RequestException as exc:
        raise TransportError(f"POST /oauth/revoke: {type(exc).__name__}") from None
    if response.status_code >= 400:
        reason = "revoke_failed"
        try:
            body = msgspec.json.decode(response.content)
            reason = str(body.get("error") or reason) if isinstance(body, dict) else reason
        except msgspec.DecodeError:
            pass
        raise error_from_envelope(response.status_code, {"type": reason, "message": reason,
                                                         "errors": [{"reason": reason, "message": reason}]})
