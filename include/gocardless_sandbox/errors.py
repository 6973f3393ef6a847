"""GoCardless-shaped error bodies for the sandbox.

Every error the sandbox returns, from a route, the rate limiter or the fault injector, goes
through :func:`error_body` so that clients see exactly the envelope the real API sends:
``{"error": {"type", "code", "message", "documentation_url", "request_id", "errors": [...]}}``.
"""

from __future__ import annotations

import uuid
from typing import Any

DOCS_BASE = "https://developer.gocardless.com/api-reference"

# HTTP status -> (error type, default message) as the real API pairs them.
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_api_usage", "Invalid request"),
    401: ("invalid_api_usage", "Authentication failed"),
    403: ("invalid_api_usage", "Insufficient permissions"),
    404: ("invalid_api_usage", "Resource not found"),
    409: ("invalid_state", "Conflict"),
    410: ("invalid_api_usage", "Gone"),
    422: ("validation_failed", "Validation failed"),
    429: ("invalid_api_usage", "Rate limit exceeded"),
    500: ("gocardless", "Uh-oh! Something went wrong. Please try again later."),
}


def new_request_id() -> str:
    """A request id shaped like GoCardless' (opaque, unique per response)."""
    return uuid.uuid4().hex.upper()[:26]


def error_body(
    status: int,
    *,
    type_: str | None = None,
    message: str | None = None,
    reason: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Build the JSON body of a GoCardless API error.

    ``reason`` is the machine-readable reason of the first (only) item in ``errors``,
    e.g. ``unauthorized``, ``rate_limit_exceeded``, ``invalid_state``; it also names the
    documentation anchor, as the real API does.
    """
    default_type, default_message = DEFAULT_ERRORS.get(status, DEFAULT_ERRORS[500])
    type_ = type_ or default_type
    message = message or default_message
    if errors is None:
        errors = [{"reason": reason or type_, "message": message}]
    anchor = reason or type_
    return {
        "error": {
            "documentation_url": f"{DOCS_BASE}#{anchor}",
            "message": message,
            "type": type_,
            "code": status,
            "request_id": request_id or new_request_id(),
            "errors": errors,
        }
    }
