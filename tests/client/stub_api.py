"""A small GoCardless-shaped API for client tests, independent of the full sandbox.

Deterministic data (``PM00000``… payments, events with linked payments), real envelopes and
error bodies from the contract fixtures (``tests/contract/errors``), wrapped in the sandbox's
rate-limit and fault middleware. :class:`ScriptedFaults` lets a test queue faults for the next N requests, so
"fail twice, then succeed" needs no server-side randomness.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gocardless_sandbox.middleware import (
    FaultConfig,
    FaultInjectionMiddleware,
    RateLimitMiddleware,
)
from tests.contract import error_fixture

TOKEN = "sandbox_stub_token_5ecret"
PAYMENT_COUNT = 1234
PAYMENTS = [
    {
        "id": f"PM{i:05d}",
        "amount": 1000 + i,
        "currency": "GBP",
        "status": "confirmed",
        "created_at": f"2026-{1 + i % 12:02d}-01T12:00:00.000Z",
        "links": {"mandate": f"MD{i % 50:05d}"},
    }
    for i in range(PAYMENT_COUNT)
]
EVENTS = [
    {"id": f"EV{i:05d}", "created_at": f"2026-11-01T12:{i:02d}:00.000Z", "action": "confirmed",
     "resource_type": "payments", "links": {"payment": f"PM{i:05d}"}}
    for i in range(30)
]


def _error(fixture: str, **overrides: Any) -> JSONResponse:
    body = error_fixture(fixture, **overrides)
    return JSONResponse(body, status_code=body["error"]["code"])


def _list(request: Request, resource: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    limit = int(request.query_params.get("limit", 50))
    after = request.query_params.get("after")
    start = 0
    if after:
        start = next(i for i, r in enumerate(records) if r["id"] == after) + 1
    page = records[start : start + limit]
    more = start + limit < len(records)
    return {
        resource: page,
        "meta": {"cursors": {"before": page[0]["id"] if start and page else None,
                             "after": page[-1]["id"] if more else None},
                 "limit": limit},
    }


def build_app() -> FastAPI:
    app = FastAPI()
    app.state.seen = []  # (method, path, query, headers) per request that reached a route
    lock = threading.Lock()

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        with lock:
            app.state.seen.append(
                (request.method, request.url.path, dict(request.query_params), dict(request.headers))
            )
        if not request.url.path.startswith("/oauth/") and (
            request.headers.get("authorization") != f"Bearer {TOKEN}"
        ):
            return _error("unauthorized", request_id="RQ401")
        return await call_next(request)

    @app.get("/payments")
    def list_payments(request: Request):
        limit = request.query_params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            message = "limit must be between 1 and 500"
            return _error("invalid_api_usage", code=422, message=message, request_id="RQ422",
                          errors=[{"reason": "invalid_limit", "message": message}])
        return _list(request, "payments", PAYMENTS)

    @app.get("/payments/{payment_id}")
    def get_payment(payment_id: str):
        for payment in PAYMENTS:
            if payment["id"] == payment_id:
                return {"payments": payment}
        return _error("resource_not_found", request_id="RQ404")

    @app.post("/payments")
    async def create_payment(request: Request):
        body = (await request.json()).get("payments", {})
        if body.get("amount", 0) <= 0:
            return _error("validation_failed", request_id="RQ422V")
        return JSONResponse({"payments": {"id": "PM99999", **body}}, status_code=201)

    @app.delete("/customers/{customer_id}")
    def remove_customer(customer_id: str):
        return Response(status_code=204)

    @app.get("/events")
    def list_events(request: Request):
        body = _list(request, "events", EVENTS)
        if request.query_params.get("include") == "payment":
            ids = {e["links"]["payment"] for e in body["events"]}
            body["linked"] = {"payments": [p for p in PAYMENTS if p["id"] in ids]}
        return body

    @app.get("/gateway_refusals/{shape}")
    def gateway_refusal(shape: str):
        """A proxy in front of the API refusing the request: ``<status>-html`` or ``<status>-empty``."""
        status, _, body = shape.partition("-")
        if body == "html":
            page = f"<html><body><h1>{status} Unauthorized</h1><hr>nginx</body></html>"
            return Response(page, status_code=int(status), media_type="text/html")
        return Response(status_code=int(status))

    @app.get("/payout_items")
    def gone():
        return _error("gone", request_id="RQ410")

    @app.post("/oauth/access_token")
    async def access_token(request: Request):
        form = await request.form()
        if form.get("client_secret") != "cs_secret" or form.get("code") != "good-code":
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "The authorization code is invalid"},
                                status_code=400)
        return {"access_token": TOKEN, "token_type": "bearer", "scope": "read_only",
                "organisation_id": "OR00001"}

    return app


class ScriptedFaults:
    """Puts the next queued fault into the request's ``Sandbox-Fault`` header."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.queue: deque[str] = deque()
        self._lock = threading.Lock()

    def push(self, *faults: str) -> None:
        with self._lock:
            self.queue.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self.queue.clear()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            with self._lock:
                fault = self.queue.popleft() if self.queue else None
            if fault:
                headers = [h for h in scope["headers"] if h[0] != b"sandbox-fault"]
                scope = {**scope, "headers": [*headers, (b"sandbox-fault", fault.encode())]}
        await self.app(scope, receive, send)


class StubStack:
    """The stub app wrapped like the sandbox: scripted faults → rate limit → faults → app."""

    def __init__(self) -> None:
        self.api = build_app()
        self.faults = FaultConfig(seed=1)
        self.injector = FaultInjectionMiddleware(self.api, self.faults)
        self.limiter = RateLimitMiddleware(self.injector, 1000, window_seconds=1, date_header=True)
        self.script = ScriptedFaults(self.limiter)

    @property
    def seen(self) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
        return self.api.state.seen

    def reset(self) -> None:
        self.script.clear()
        self.limiter.reset()
        self.limiter.limit_per_minute = 1000
        self.limiter.window_seconds = 1
        self.api.state.seen.clear()
        self.injector.injected.clear()
