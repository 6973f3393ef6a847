"""The error tree: built from the envelope, status first then type, readable ``str()``.

Inputs are the contract fixtures in ``tests/contract/errors`` (written from the API reference).
"""

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
from tests.contract import error_fixture


def _error(fixture: str, **overrides) -> ApiError:
    body = error_fixture(fixture, request_id="RQ1", **overrides)["error"]
    return error_from_envelope(body["code"], body)


@pytest.mark.parametrize(
    ("fixture", "overrides", "cls", "transient"),
    [
        ("unauthorized", {}, AuthenticationError, False),
        ("insufficient_permissions", {}, PermissionsError, False),
        ("resource_not_found", {}, NotFoundError, False),
        ("gone", {}, GoneError, False),
        ("rate_limit_exceeded", {}, RateLimitError, True),
        ("validation_failed", {}, ValidationFailedError, False),
        ("invalid_state", {}, InvalidStateError, False),
        ("idempotent_creation_conflict", {}, InvalidStateError, False),
        ("invalid_api_usage", {}, InvalidApiUsageError, False),
        ("gocardless", {}, InternalError, True),
        ("gocardless", {"code": 503}, InternalError, True),
    ],
)
def test_status_first_then_type(fixture, overrides, cls, transient):
    error = _error(fixture, **overrides)
    status = overrides.get("code") or error_fixture(fixture)["error"]["code"]
    assert type(error) is cls and isinstance(error, ApiError) and isinstance(error, GoCardlessError)
    assert is_transient(error) is transient
    assert error.status == status and error.code == status and error.request_id == "RQ1"
    assert error.documentation_url.startswith("https://developer.gocardless.com/api-reference#")


def test_exact_messages():
    assert str(_error("unauthorized")) == (
        "401 invalid_api_usage: Authentication failed (request_id=RQ1)"
    )
    assert str(_error("rate_limit_exceeded")) == (
        "429 invalid_api_usage: Rate limit exceeded (request_id=RQ1)"
    )
    field_error = _error("validation_failed")
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
    error = _error("unauthorized")
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
        _error("resource_not_found"),
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
