"""Exceptions raised by the GoCardless client, built from the API's error envelope.

The tree mirrors gocardless-pro-python (status first, then the envelope ``type``) so code
written against either reads the same. Whether a failure is worth retrying is decided here,
once, by :func:`is_transient`; the client's retry loop and the Airflow tasks both ask it.
No exception text ever includes a request header, so tokens cannot leak through ``str()``.
"""

from __future__ import annotations

from typing import Any

BODY_PREVIEW_CHARS = 200


class GoCardlessError(Exception):
    """Base class for everything the client raises."""

    transient: bool = False


class ApiError(GoCardlessError):
    """The API answered with a GoCardless error envelope (``{"error": {...}}``).

    :param status: HTTP status of the response.
    :param envelope: the inner ``error`` object: ``type``, ``code``, ``message``,
        ``request_id``, ``errors``, ``documentation_url``.
    """

    def __init__(self, status: int, envelope: dict[str, Any] | None = None) -> None:
        envelope = envelope or {}
        self.status = status
        self.type: str | None = envelope.get("type")
        self.code: int = envelope.get("code") or status
        self.message: str = envelope.get("message") or ""
        self.request_id: str | None = envelope.get("request_id")
        self.errors: list[dict[str, Any]] = list(envelope.get("errors") or [])
        self.documentation_url: str | None = envelope.get("documentation_url")
        super().__init__(str(self))

    @property
    def reasons(self) -> list[str]:
        """Machine-readable ``reason`` of each sub-error (``unauthorized``, ``rate_limit_exceeded``…)."""
        return [e["reason"] for e in self.errors if e.get("reason")]

    def _details(self) -> str:
        """Sub-error messages that add something to the top-level message (field errors)."""
        parts = []
        for item in self.errors:
            text = item.get("message") or ""
            if item.get("field"):
                text = f"{item['field']} {text}".strip()
            if text and text != self.message:
                parts.append(text)
        return "; ".join(parts)

    def __str__(self) -> str:
        text = f"{self.status} {self.type or 'error'}: {self.message or 'no message'}"
        details = self._details()
        if details:
            text += f" [{details}]"
        if self.request_id:
            text += f" (request_id={self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the envelope so the error survives pickling (Airflow task processes).
        envelope = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "errors": self.errors,
            "documentation_url": self.documentation_url,
        }
        return (self.__class__, (self.status, envelope))


class AuthenticationError(ApiError):
    """401: the access token is missing, wrong or revoked."""


class PermissionsError(ApiError):
    """403: the token may not see this resource (e.g. a read-only token writing)."""


class NotFoundError(ApiError):
    """404: no such resource for this token's organisation."""


class GoneError(ApiError):
    """410: the resource is no longer served (e.g. old payout items)."""


class RateLimitError(ApiError):
    """429: the per-token request budget is spent; retry once the window resets.

    ``retry_after`` is the number of seconds until then, worked out by the transport from
    ``RateLimit-Reset`` (or ``Retry-After``), or None when the response gave no hint.
    """

    transient = True

    def __init__(
        self,
        status: int,
        envelope: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, envelope)

    def __reduce__(self) -> tuple[Any, ...]:
        cls, args = super().__reduce__()
        return (cls, (*args, self.retry_after))


class ValidationFailedError(ApiError):
    """422 ``validation_failed``: the request body or parameters are invalid."""


class InvalidStateError(ApiError):
    """``invalid_state``: the action does not apply to the resource as it is now."""


class InvalidApiUsageError(ApiError):
    """``invalid_api_usage``: a malformed request (bad parameter, bad cursor…)."""


class InternalError(ApiError):
    """5xx or ``gocardless`` type: a fault on GoCardless' side, usually temporary."""

    transient = True


class MalformedResponseError(GoCardlessError):
    """The body is not the JSON the API promises: an HTML 502, a truncated or empty body.

    Only a short preview of the body is kept, enough to recognise a proxy page.
    """

    def __init__(self, status: int | None, body: bytes | str, content_type: str | None = None):
        self.status = status
        self.content_type = content_type
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        text = " ".join(text.split())
        if len(text) > BODY_PREVIEW_CHARS:
            text = text[:BODY_PREVIEW_CHARS] + "…"
        self.body_preview = text
        self.transient = status is None or status < 400 or status >= 500 or status == 429
        super().__init__(str(self))

    def __str__(self) -> str:
        kind = self.content_type or "no content type"
        return f"{self.status} malformed response ({kind}): {self.body_preview or '<empty body>'}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.status, self.body_preview, self.content_type))


class TransportError(GoCardlessError):
    """No usable HTTP response: timeout, refused or dropped connection, broken body stream."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        self.transient = transient
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transport_error, (str(self), self.transient))


def _rebuild_transport_error(message: str, transient: bool) -> TransportError:
    return TransportError(message, transient=transient)


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    403: PermissionsError,
    404: NotFoundError,
    410: GoneError,
    429: RateLimitError,
}

#: Statuses whose meaning does not depend on the body: classified even without an envelope.
STATUS_ONLY_ERRORS: dict[int, type[ApiError]] = {401: AuthenticationError, 403: PermissionsError}

_BY_TYPE: dict[str, type[ApiError]] = {
    "validation_failed": ValidationFailedError,
    "invalid_state": InvalidStateError,
    "invalid_api_usage": InvalidApiUsageError,
    "gocardless": InternalError,
}


def error_class_for(status: int, error_type: str | None) -> type[ApiError]:
    """Pick the exception class: HTTP status first, then the envelope ``type``."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return InternalError
    return _BY_TYPE.get(error_type or "", ApiError)


def error_from_envelope(
    status: int, envelope: dict[str, Any], *, retry_after: float | None = None
) -> ApiError:
    """Build the typed exception for an error response's decoded ``error`` object."""
    cls = error_class_for(status, envelope.get("type"))
    if cls is RateLimitError:
        return RateLimitError(status, envelope, retry_after=retry_after)
    return cls(status, envelope)


def is_transient(error: BaseException) -> bool:
    """True when the same request may succeed later: 5xx, 429, timeouts, broken bodies.

    Client errors (400/401/403/404/410/422) are permanent: retrying only burns rate limit
    and task retries, so callers should fail fast on them.
    """
    return isinstance(error, GoCardlessError) and bool(error.transient)
