"""Exceptions raised by the GoCardless client, built from the API's error envelope.

The tree mirrors gocardless-pro-python (status first, then the envelope ``type``) so code
written against either reads the same. Whether a failure is worth retrying is decided here,
once, by :func:`is_transient`; the client's retry loop and the Airflow tasks both ask it.
No exception text ever includes a request header, so tokens cannot leak through ``str()``,
nor a response body, which may hold customers' personal data (or, from OAuth, a token).
"""

from __future__ import annotations

from typing import Any


class GoCardlessError(Exception):
    """Base class for everything the client raises."""

    transient: bool = False


class ApiError(GoCardlessError):
    """The API answered with a GoCardless error envelope (``{"error": {...}}``).

    :param status: HTTP status of the response.
    :param envelope: the inner ``error`` object: ``type``, ``code``, ``message``,
        ``request_id``, ``errors``, ``documentation_url``.
    :param retry_after: seconds the server asked us to wait before retrying (``Retry-After``,
        or for a 429 the rate-limit reset), None when it gave no hint.
    """

    def __init__(
        self, status: int, envelope: dict[str, Any] | None = None, retry_after: float | None = None
    ) -> None:
        envelope = envelope or {}
        self.status = status
        self.retry_after = retry_after
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
        return (self.__class__, (self.status, envelope, self.retry_after))


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
    ``Retry-After`` or ``RateLimit-Reset``, or None when the response gave no hint.
    """

    transient = True


class ValidationFailedError(ApiError):
    """422 ``validation_failed``: the request body or parameters are invalid."""


class InvalidStateError(ApiError):
    """``invalid_state``: the action does not apply to the resource as it is now."""


class InvalidApiUsageError(ApiError):
    """``invalid_api_usage``: a malformed request (bad parameter, bad cursor…)."""


class InternalError(ApiError):
    """5xx or ``gocardless`` type: a fault on GoCardless' side, usually temporary.

    A 503 or 504 may say when to come back (``retry_after``, from ``Retry-After``).
    """

    transient = True


class MalformedResponseError(GoCardlessError):
    """The body is not the JSON the API promises: an HTML 502, a truncated or empty body.

    Nothing of the body is kept: it may hold customers' personal data. What identifies the
    response is enough to find it again: status, content type, size and request id.

    :param detail: our own description of what is wrong (never text from the body).
    :param retry_after: ``Retry-After`` of the response in seconds (a proxy's 503 page).
    """

    def __init__(
        self,
        status: int | None,
        *,
        content_type: str | None = None,
        size: int | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.size = size
        self.request_id = request_id
        self.detail = detail
        self.retry_after = retry_after
        self.transient = status is None or status < 400 or status >= 500 or status == 429
        super().__init__(str(self))

    def __str__(self) -> str:
        facts = [self.content_type or "no content type"]
        if self.size is not None:
            facts.append("empty body" if self.size == 0 else f"{self.size} bytes")
        if self.request_id:
            facts.append(f"request_id={self.request_id}")
        text = f"{self.status} malformed response ({', '.join(facts)})"
        return f"{text}: {self.detail}" if self.detail else text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_malformed, (self.status, self.content_type, self.size, self.request_id,
                                     self.detail, self.retry_after))


def _rebuild_malformed(
    status: int | None,
    content_type: str | None,
    size: int | None,
    request_id: str | None,
    detail: str | None,
    retry_after: float | None,
) -> MalformedResponseError:
    return MalformedResponseError(status, content_type=content_type, size=size, request_id=request_id,
                                  detail=detail, retry_after=retry_after)


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
    return error_class_for(status, envelope.get("type"))(status, envelope, retry_after=retry_after)


def is_transient(error: BaseException) -> bool:
    """True when the same request may succeed later: 5xx, 429, timeouts, broken bodies.

    Client errors (400/401/403/404/410/422) are permanent: retrying only burns rate limit
    and task retries, so callers should fail fast on them.
    """
    return isinstance(error, GoCardlessError) and bool(error.transient)
