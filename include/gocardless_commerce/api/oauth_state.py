"""The OAuth ``state``: signed, expiring, and tied to a nonce the registry holds once.

``state = <payload>.<signature>``, both base64url: the payload names the data connection, a
random nonce and an expiry; the signature is HMAC-SHA256 over the payload with a server secret.
A forged or altered state fails the signature, an old one the expiry, and a replayed one the
registry's compare-and-clear of the nonce (:meth:`Registry.consume_oauth_nonce`). Pure: no
Airflow, no database, so it is tested alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

#: How long a merchant has to finish GoCardless's consent page.
STATE_TTL_SECONDS = 15 * 60


class InvalidStateError(ValueError):
    """The state was not signed by us, is malformed, or has expired."""


@dataclass(frozen=True)
class OAuthState:
    data_connection_id: str
    nonce: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def sign_state(secret: bytes, data_connection_id: str, nonce: str, *, now: float | None = None,
               ttl: int = STATE_TTL_SECONDS) -> str:
    if not secret:
        raise ValueError("the OAuth state secret is empty")
    expires = int((time.time() if now is None else now) + ttl)
    payload = _b64(json.dumps({"dc": data_connection_id, "n": nonce, "exp": expires}, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_state(secret: bytes, state: str, *, now: float | None = None) -> OAuthState:
    """The state's content if we signed it and it has not expired; else :class:`InvalidStateError`."""
    payload, dot, signature = (state or "").partition(".")
    if not dot or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidStateError("the state is not one this server signed")
    try:
        body = json.loads(_unb64(payload))
        parsed = OAuthState(str(body["dc"]), str(body["n"]), int(body["exp"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidStateError("the state is malformed") from None
    if parsed.expires_at < (time.time() if now is None else now):
        raise InvalidStateError("the state has expired: start the connection again")
    return parsed
