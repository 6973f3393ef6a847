"""What keeps a running sandbox from handing out access: random tokens, an admin secret.

The sandbox is a development tool, but it listens on a port: its pre-issued merchant tokens
are drawn at random each time a server starts (never derived from the seed, so nobody can
compute them), and its ``/sandbox/`` admin routes, which move the clock and break responses,
answer only to the ``Sandbox-Admin-Secret`` header. The secret is random per instance unless
configured (``SandboxConfig.admin_secret`` or the CLI's ``GC_SANDBOX_ADMIN_SECRET``).
"""

from __future__ import annotations

import secrets

from fastapi import Request

from gocardless_sandbox.config import ADMIN_SECRET_ENV, ADMIN_SECRET_HEADER
from gocardless_sandbox.problems import ApiProblem
from gocardless_sandbox.store import SandboxStore

__all__ = ["ADMIN_SECRET_ENV", "ADMIN_SECRET_HEADER", "issue_merchant_tokens", "new_access_token",
           "new_admin_secret", "require_admin_secret"]


def new_admin_secret() -> str:
    return secrets.token_urlsafe(32)


def new_access_token() -> str:
    """A token shaped like GoCardless' sandbox tokens (``sandbox_`` + 40 random characters)."""
    return "sandbox_" + secrets.token_hex(20)


def issue_merchant_tokens(store: SandboxStore) -> dict[str, str]:
    """A fresh read-write token per organisation; those a previous instance issued stop working.

    Returns organisation id -> token. Tokens granted through OAuth are kept: a connected
    partner app stays connected across restarts, as with GoCardless.
    """
    tokens = {organisation.id: new_access_token() for organisation in store.organisations()}
    store.replace_preissued_tokens(tokens)
    return tokens


def require_admin_secret(request: Request) -> None:
    """FastAPI dependency of every ``/sandbox/`` route: 401 unless the header holds the secret."""
    given = request.headers.get(ADMIN_SECRET_HEADER, "")
    if not secrets.compare_digest(given.encode(), request.app.state.admin_secret.encode()):
        raise ApiProblem(401, type_="invalid_api_usage", reason="admin_secret_required",
                         message=f"Sandbox admin routes need the {ADMIN_SECRET_HEADER} header.")
