"""Retry or fail: the one place that decides, for every task of every DAG of the project.

Transient errors (GoCardless 5xx and 429, transport errors, a warehouse that did not answer in
time or a DuckDB file another process holds) are raised as they are, so Airflow retries them
with backoff. Permanent ones (GoCardless 400/401/403/404/410/422, a registry or name error, a
configuration error, a batch that fails validation, an edited migration) would fail again on
every retry, so they become ``AirflowFailException``: the task fails at once, with a message
that says what happened and what to do. An error this module does not know is retried, as
Airflow would.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from gocardless_commerce.client.errors import (
    AuthenticationError,
    GoCardlessError,
    GoneError,
    NotFoundError,
    PermissionsError,
    is_transient,
)
from gocardless_commerce.model import BatchValidationError
from gocardless_commerce.names import InvalidNameError
from gocardless_commerce.registry import RegistryError
from gocardless_commerce.settings import ConfigurationError
from gocardless_commerce.warehouse.engine import WarehouseUnavailableError
from gocardless_commerce.warehouse.migrations import MigrationError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)


#: What to do about each permanent error, for the failure message.
_ADVICE: tuple[tuple[type[BaseException], str], ...] = (
    ((AuthenticationError, PermissionsError), "GoCardless rejected the access token; reconnect the merchant "
     "(gocardless-commerce merchants add …) to resume"),
    ((NotFoundError, GoneError), "GoCardless no longer has what was asked for (404/410); retrying cannot bring it back"),
    (GoCardlessError, "GoCardless refused the request itself (a client error); retrying would send the same request"),
    ((RegistryError, InvalidNameError), "fix the merchant registry entry"),
    (ConfigurationError, "fix the setting or Airflow connection named above"),
    (BatchValidationError, "the data breaks its expectations; nothing was loaded"),
    (MigrationError, "the warehouse schema needs an operator (see docs/warehouse.md)"),
)


def _airflow_config_errors() -> tuple[type[BaseException], ...]:
    from airflow.sdk.exceptions import AirflowNotFoundException

    return (AirflowNotFoundException,)


def is_permanent(error: BaseException) -> bool:
    """True when running the task again cannot succeed without someone changing something."""
    if isinstance(error, GoCardlessError):
        return not is_transient(error)
    if isinstance(error, (WarehouseUnavailableError, sa.exc.OperationalError)):
        return False  # the warehouse may answer again (lock released, server back)
    return isinstance(error, (RegistryError, InvalidNameError, ConfigurationError, BatchValidationError, MigrationError)
                      + _airflow_config_errors())


def advice(error: BaseException) -> str:
    for kinds, text in _ADVICE:
        if isinstance(error, kinds):
            return text
    return "a configuration error (the Airflow connection or setting it names)"


def retry_or_fail(task: F) -> F:
    """Run a task body; turn a permanent error into ``AirflowFailException`` (no retries).

    Every task goes through here, so it is also where a deployment that cannot work (a DuckDB
    warehouse with several workers) is refused before anything is written."""

    @functools.wraps(task)
    def run(*args, **kwargs):
        from gocardless_commerce.orchestration.pools import refuse_duckdb_with_several_workers

        try:
            refuse_duckdb_with_several_workers()
            return task(*args, **kwargs)
        except Exception as error:
            from airflow.sdk.exceptions import AirflowFailException

            if isinstance(error, AirflowFailException) or not is_permanent(error):
                if not isinstance(error, AirflowFailException):
                    log.warning("Transient error (Airflow retries it while tries remain): %s: %s", type(error).__name__, error)
                raise
            raise AirflowFailException(
                f"Permanent error, not retried: {type(error).__name__}: {error}. What to do: {advice(error)}."
            ) from error

    return run  # type: ignore[return-value]
