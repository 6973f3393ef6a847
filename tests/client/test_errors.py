"""The error tree: built from the envelope, status first then type, readable ``str()``.

Inputs are the contract fixtures in ``tests/contract/errors`` (written from the API reference).
"""

from __future__ import annotations

import pickle

import pytest
import requests

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
from gocardless_commerce.client.transport import malformed_response
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
    malformed = MalformedResponseError(502, content_type="text/html", size=412, request_id="8c1f2a")
    assert str(malformed) == "502 malformed response (text/html, 412 bytes, request_id=8c1f2a)"
    assert str(MalformedResponseError(200, size=0)) == "200 malformed response (no content type, empty body)"
    assert str(MalformedResponseError(200, detail="list response without a 'payments' array")) == (
        "200 malformed response (no content type): list response without a 'payments' array"
    )


def test_malformed_responses_keep_nothing_of_the_body(make_client, stub):
    """A body may hold customers' personal data: the error (and so every log) names the
    response by status, content type, size and request id, never by its content."""
    client = make_client(max_retries=0)
    stub.script.push("truncate")
    with pytest.raises(MalformedResponseError) as excinfo:
        client.get("payments", "PM00042")
    error = excinfo.value
    text = str(error) + repr(error) + repr(error.__reduce__())
    assert "PM00042" not in text and "GBP" not in text and "amount" not in text
    assert error.status == 200 and error.content_type == "application/json" and error.size > 0
    assert str(error) == f"200 malformed response (application/json, {error.size} bytes)"
    assert not hasattr(error, "body_preview")


def test_a_broken_error_envelope_still_names_its_request_id():
    response = requests.Response()
    response.status_code = 502
    response.headers["Content-Type"] = "application/json"
    response._content = b'{"error": {"code": 502, "request_id": "RQ77", "message": "Jane Doe, 12 Mill Ro'
    error = malformed_response(response)
    assert str(error) == f"502 malformed response (application/json, {len(response.content)} bytes, request_id=RQ77)"
    response.headers["X-Request-Id"] = "RQ-HEADER"
    assert malformed_response(response).request_id == "RQ-HEADER"


def test_reasons_and_sub_errors():
    error = _error("unauthorized")
    assert error.reasons == ["unauthorized"]
    assert error.errors == [{"reason": "unauthorized", "message": "Authentication failed"}]


def test_transience_of_non_api_errors():
    assert is_transient(TransportError("timeout"))
    assert not is_transient(TransportError("bad url", transient=False))
    assert is_transient(MalformedResponseError(502, content_type="text/html"))
    assert is_transient(MalformedResponseError(200, size=14))
    assert not is_transient(MalformedResponseError(403, content_type="text/html"))
    assert not is_transient(ValueError("not ours"))


@pytest.mark.parametrize(
    "error",
    [
        _error("resource_not_found"),
        RateLimitError(429, {"message": "Rate limit exceeded"}, retry_after=12.0),
        MalformedResponseError(502, content_type="text/html", size=6, request_id="RQ9", retry_after=3.0),
        InternalError(503, {"message": "unavailable"}, retry_after=2.0),
        TransportError("GET /payments: read timeout after 30.0s"),
    ],
    ids=["api", "rate-limit", "malformed", "unavailable", "transport"],
)
def test_errors_survive_pickling(error):
    """Airflow may ship a task's exception across processes."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert is_transient(copy) == is_transient(error)
    assert getattr(copy, "retry_after", None) == getattr(error, "retry_after", None)
