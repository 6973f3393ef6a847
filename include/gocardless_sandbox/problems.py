"""The exception routes raise to answer with a GoCardless error (see :mod:`.errors`)."""

from __future__ import annotations

from typing import Any


class ApiProblem(Exception):
    """An API error response: status, GoCardless ``type``, message and ``errors`` items."""

    def __init__(
        self,
        status: int,
        *,
        type_: str | None = None,
        message: str | None = None,
        reason: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message or reason or str(status))
        self.status = status
        self.type_ = type_
        self.message = message
        self.reason = reason
        self.errors = errors


def validation_failed(field: str, message: str, resource: str | None = None) -> ApiProblem:
    pointer = f"/{resource}/{field}" if resource else f"/{field}"
    return ApiProblem(
        422,
        type_="validation_failed",
        message="Validation failed",
        errors=[{"field": field, "message": message, "request_pointer": pointer}],
    )


def invalid_state(reason: str, message: str) -> ApiProblem:
    return ApiProblem(422, type_="invalid_state", reason=reason, message=message)


def not_found() -> ApiProblem:
    return ApiProblem(404, type_="invalid_api_usage", reason="resource_not_found", message="Resource not found")
