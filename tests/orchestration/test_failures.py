"""Retry or fail, decided in one place for every task: one case per class of error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from gocardless_commerce.client.errors import (
    AuthenticationError,
    GoneError,
    InternalError,
    InvalidApiUsageError,
    MalformedResponseError,
    NotFoundError,
    PermissionsError,
    RateLimitError,
    TransportError,
    ValidationFailedError,
)
from gocardless_commerce.model import BatchValidationError
from gocardless_commerce.names import InvalidNameError
from gocardless_commerce.orchestration.failures import retry_or_fail
from gocardless_commerce.registry import RegistryError
from gocardless_commerce.settings import ConfigurationError
from gocardless_commerce.warehouse.engine import WarehouseUnavailableError
from gocardless_commerce.warehouse.migrations import MigrationError


def _envelope(kind: str, message: str) -> dict:
    return {"type": kind, "message": message, "request_id": "RQ1", "errors": []}


TRANSIENT = [
    InternalError(500, _envelope("gocardless", "Internal server error")),
    InternalError(503, _envelope("gocardless", "Service unavailable")),
    RateLimitError(429, _envelope("invalid_api_usage", "Rate limit exceeded"), retry_after=30),
    MalformedResponseError(502, content_type="text/html", size=24),
    TransportError("Connection refused"),
    WarehouseUnavailableError("The warehouse cancelled a statement after statement_timeout=900 s"),
    sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
    RuntimeError("an error nobody classified"),  # unknown: retried, as Airflow would
]
PERMANENT = [
    (AuthenticationError(401, _envelope("invalid_api_usage", "Authentication failed")), "reconnect the merchant"),
    (PermissionsError(403, _envelope("invalid_api_usage", "Forbidden")), "reconnect the merchant"),
    (NotFoundError(404, _envelope("invalid_api_usage", "Resource not found")), "404/410"),
    (GoneError(410, _envelope("invalid_api_usage", "Gone")), "404/410"),
    (ValidationFailedError(422, _envelope("validation_failed", "Validation failed")), "client error"),
    (InvalidApiUsageError(400, _envelope("invalid_api_usage", "Bad cursor")), "client error"),
    (RegistryError("Unknown data connection 'x'"), "registry entry"),
    (InvalidNameError("User id 'a b' has characters an Airflow DAG id cannot hold"), "registry entry"),
    (ConfigurationError("Connection 'gocardless_x' has no access token (password)"), "setting or Airflow connection"),
    (AirflowNotFoundException("The conn_id `gocardless_x` isn't defined"), "configuration error"),
    (BatchValidationError("transactions: amount_minor must be > 0"), "nothing was loaded"),
    (MigrationError("Migration 002_raw.sql changed after it was applied"), "needs an operator"),
]


def _raising(error: BaseException):
    @retry_or_fail
    def task() -> None:
        raise error

    return task


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_raised_as_they_are_so_airflow_retries(error):
    with pytest.raises(type(error)) as raised:
        _raising(error)()
    assert raised.value is error and not isinstance(raised.value, AirflowFailException)


@pytest.mark.parametrize("error, advice", PERMANENT, ids=lambda e: type(e).__name__ if isinstance(e, Exception) else "")
def test_permanent_errors_fail_at_once_with_what_to_do(error, advice):
    with pytest.raises(AirflowFailException) as raised:
        _raising(error)()
    message = str(raised.value)
    assert message.startswith(f"Permanent error, not retried: {type(error).__name__}: ")
    assert advice in message
    assert raised.value.__cause__ is error


def test_a_deliberate_failure_passes_through_unchanged():
    error = AirflowFailException("Reconciliation job 20261101 ended in Error")
    with pytest.raises(AirflowFailException) as raised:
        _raising(error)()
    assert raised.value is error
