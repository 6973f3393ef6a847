"""One error format for every 4xx/5xx the API answers, secrets never echoed.

``{"error": {"status": 422, "code": "VALIDATION_ERROR", "message": "...", "details": [...]}}``.
Validation details name the field and the rule broken but never the value sent: a rejected
``client_secret`` must not come back in the response (FastAPI's default echoes the input).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
         409: "CONFLICT", 422: "VALIDATION_ERROR", 500: "INTERNAL_ERROR", 502: "PROVIDER_ERROR",
         503: "UNAVAILABLE"}


class ApiError(Exception):
    """An error the API reports as is: its status, a stable code and a message for people."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details: list | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "ERROR")
        self.details = details or []


def error_body(status: int, message: str, code: str | None = None, details: list | None = None) -> dict:
    return {"error": {"status": status, "code": code or CODES.get(status, "ERROR"), "message": message,
                      "details": details or []}}


def _respond(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.status, error.message, error.code, error.details), status_code=error.status)


def _validation_details(exc: RequestValidationError) -> list[dict]:
    return [{"location": [str(part) for part in e.get("loc", ())], "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _respond(ApiError(422, "The request is not valid", details=_validation_details(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Airflow's auth dependencies raise these: 401 not authenticated, 403 forbidden.
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "Error")
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return _respond(ApiError(500, "Internal error; the API server's log has the details"))


#: What the OpenAPI document says every route may answer with.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["status", "code", "message", "details"], "properties": {
        "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}},
}
ERROR_RESPONSES = {
    status: {"description": CODES[status].replace("_", " ").capitalize(),
             "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for status in (400, 401, 403, 404, 409, 422)
}
