"""The error tree: built from the envelope, status first then type, readable ``str()``."""

from __future__ import annotations

import pickle

import pytest

from gocardless_commerce.client import (
    ApiError,
    AuthenticationError,
    GoCardlessError,
    GoneError,
    InternalError,
    InvalidApiUsageError,
    InvalidStateError,
    MalformedResponseError,
    NotFoundError,
    PermissionsError,
    RateLimitError,
    TransportError,
    ValidationFailedError,
    is_transient,
)
from gocardless_commerce.client.errors import error_from_envelope
from gocardless_commerce.sandbox.errors import error_body


def _error(status: int, **kwargs) -> ApiError:
    return error_from_envelope(status, error_body(status, request_id="RQ1", **kwargs)["error"])


@pytest.mark.parametrize(
    ("status", "kwargs", "cls", "transient"),
    [
        (401, {"reason": "unauthorized"}, AuthenticationError, False),
        (403, {"reason": "insufficient_permissions"}, PermissionsError, False),
        (404, {}, NotFoundError, False),
        (410, {}, GoneError, False),
        (429, {"reason": "rate_limit_exceeded"}, RateLimitError, True),
        (422, {}, ValidationFailedError, False),
        (422, {"type_": "invalid_state", "reason": "mandate_not_inactive"}, InvalidStateError, False),
        (409, {}, InvalidStateError, False),
        (400, {}, InvalidApiUsageError, False),
        (500, {}, InternalError, True),
        (503, {}, InternalError, True),
    ],
)
def test_status_first_then_type(status, kwargs, cls, transient):
    error = _error(status, **kwargs)
    assert type(error) is cls and isinstance(error, ApiError) and isinstance(error, GoCardlessError)
    assert is_transient(error) is transient
    assert error.status == status and error.code == status and error.request_id == "RQ1"
    assert error.documentation_url.startswith("https://developer.gocardless.com/api-reference#")


def test_exact_messages():
    assert str(_error(401, reason="unauthorized")) == (
        "401 invalid_api_usage: Authentication failed (request_id=RQ1)"
    )
    assert str(_error(429, reason="rate_limit_exceeded", message="Rate limit exceeded")) == (
        "429 invalid_api_usage: Rate limit exceeded (request_id=RQ1)"
    )
    field_error = _error(422, errors=[
        {"field": "amount", "message": "must be greater than 0"},
        {"field": "currency", "message": "is not supported"},
    ])
    assert str(field_error) == (
        "422 validation_failed: Validation failed "
        "[amount must be greater than 0; currency is not supported] (request_id=RQ1)"
    )
    assert str(ApiError(418, {})) == "418 error: no message"
    html = "<html><head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 400
    malformed = MalformedResponseError(502, html.encode(), "text/html")
    assert str(malformed) == (
        "502 malformed response (text/html): <html><head><title>502 Bad Gateway</title></head> <body>"
        + "x" * 144 + "…"  # 200 characters kept
    )
    assert str(MalformedResponseError(200, b"")) == "200 malformed response (no content type): <empty body>"


def test_reasons_and_sub_errors():
    error = _error(401, reason="unauthorized")
    assert error.reasons == ["unauthorized"]
    assert error.errors == [{"reason": "unauthorized", "message": "Authentication failed"}]


def test_transience_of_non_api_errors():
    assert is_transient(TransportError("timeout"))
    assert not is_transient(TransportError("bad url", transient=False))
    assert is_transient(MalformedResponseError(502, b"<html>"))
    assert is_transient(MalformedResponseError(200, b'{"payments": ['))
    assert not is_transient(MalformedResponseError(403, b"<html>Forbidden</html>"))
    assert not is_transient(ValueError("not ours"))


@pytest.mark.parametrize(
    "error",
    [
        _error(404),
        RateLimitError(429, {"message": "Rate limit exceeded"}, retry_after=12.0),
        MalformedResponseError(502, b"<html>", "text/html"),
        TransportError("GET /payments: read timeout after 30.0s"),
    ],
    ids=["api", "rate-limit", "malformed", "transport"],
)
def test_errors_survive_pickling(error):
    """Airflow may ship a task's exception across processes."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert is_transient(copy) == is_transient(error)
    if isinstance(error, RateLimitError):
        assert copy.retry_after == 12.0
