"""The sandbox's HTTP API: GoCardless' resource endpoints, OAuth and the ``/sandbox/`` admin.

Paths, envelopes, cursors, filters and errors follow the real API (``api.gocardless.com``):
lists are newest first (``created_at`` desc, then ``id`` desc) and page with ``after``/``before``
cursors that are record ids; ``limit`` defaults to 50 and above 500 is a 422.

Request checks, in order:

1. ``Authorization: Bearer <token>``: missing, unknown or revoked → 401 ``invalid_api_usage``
   with reason ``unauthorized``. A token sees one organisation only; another organisation's
   record is a 404.
2. ``GoCardless-Version: 2015-07-06``: missing → 400 ``invalid_api_usage`` with reason
   ``missing_version_header``; any other value → 400 with reason ``version_not_found``. (The
   real API's behaviour is not documented; every official client always sends the header.)

Read-only tokens (OAuth ``scope=read_only``) get 403 ``insufficient_permissions`` on writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gocardless_sandbox import admin, oauth
from gocardless_sandbox.config import SandboxConfig
from gocardless_sandbox.errors import error_body
from gocardless_sandbox.middleware import SHIFT_STATE, FaultConfig, FaultInjectionMiddleware, RateLimitMiddleware
from gocardless_sandbox.odd_records import OddRecords
from gocardless_sandbox.problems import ApiProblem, not_found, validation_failed
from gocardless_sandbox.security import new_admin_secret
from gocardless_sandbox.simulation import Simulation
from gocardless_sandbox.store import RESOURCES, CursorNotFound, Page, SandboxStore, encode
from gocardless_sandbox.timeutil import add_months, iso, parse_timestamp, to_datetime

log = logging.getLogger(__name__)

API_VERSION = "2015-07-06"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
RANGE_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

#: Equality filters of each list endpoint (comma-separated values match any of them).
LIST_FILTERS: dict[str, tuple[str, ...]] = {
    "creditors": (),
    "customers": (),
    "customer_bank_accounts": ("customer", "enabled"),
    "mandates": ("customer", "creditor", "customer_bank_account", "status", "scheme", "reference"),
    "subscriptions": ("customer", "mandate", "status"),
    "payments": ("subscription", "mandate", "status", "customer", "creditor", "currency", "scheme"),
    "refunds": ("payment", "mandate"),
    "payouts": ("creditor", "currency", "status", "payout_type", "reference"),
    "events": ("resource_type", "action", "parent_event"),
}
DATE_FILTERS = {"payments": ("charge_date",)}

EVENT_RESOURCE_TYPES = (
    "billing_requests", "creditors", "customers", "exports", "instalment_schedules", "mandates", "organisations",
    "outbound_payments", "payer_authorisations", "payments", "payment_account_transactions", "payouts", "refunds",
    "scheme_identifiers", "subscriptions",
)
#: Per-resource id filters of ``GET /events`` (cannot be combined with ``resource_type``).
EVENT_ID_FILTERS = {
    "billing_request": "billing_requests", "creditor": "creditors", "export": "exports",
    "instalment_schedule": "instalment_schedules", "mandate": "mandates", "payer_authorisation": "payer_authorisations",
    "payment": "payments", "payout": "payouts", "refund": "refunds", "scheme_identifier": "scheme_identifiers",
    "subscription": "subscriptions", "outbound_payment": "outbound_payments",
    "payment_account_transaction": "payment_account_transactions",
}
#: ``include`` values of ``GET /events`` and the table behind them (None: never linked here).
EVENT_INCLUDES = {
    "billing_request": None, "creditor": "creditors", "customer": "customers", "instalment_schedule": None,
    "mandate": "mandates", "outbound_payment": None, "payer_authorisation": None, "payment": "payments",
    "payment_account_transaction": None, "payout": "payouts", "refund": "refunds", "scheme_identifier": None,
    "subscription": "subscriptions",
}
WRITABLE = ("customers", "customer_bank_accounts", "mandates", "payments", "subscriptions", "refunds")


@dataclass(frozen=True)
class Principal:
    organisation_id: str
    scope: str


def json_response(body: Any, status: int = 200) -> Response:
    return Response(encode(body), status_code=status, media_type="application/json")


def problem_response(problem: ApiProblem) -> JSONResponse:
    body = error_body(problem.status, type_=problem.type_, message=problem.message, reason=problem.reason, errors=problem.errors)
    return JSONResponse(body, status_code=problem.status)


def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    found = request.app.state.store.token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if found is None:
        raise ApiProblem(401, type_="invalid_api_usage", reason="unauthorized", message="Authentication failed")
    version = request.headers.get("gocardless-version")
    if version is None:
        raise ApiProblem(400, type_="invalid_api_usage", reason="missing_version_header",
                         message=f"The GoCardless-Version header is required (use {API_VERSION}).")
    if version != API_VERSION:
        raise ApiProblem(400, type_="invalid_api_usage", reason="version_not_found",
                         message=f"GoCardless-Version {version} is not a valid API version (use {API_VERSION}).")
    return Principal(*found)


def writer_principal(principal: Principal = Depends(authenticate)) -> Principal:
    if principal.scope != "read_write":
        raise ApiProblem(403, type_="invalid_api_usage", reason="insufficient_permissions",
                         message="Your access token does not have permission to perform this action.")
    return principal


# -- list parsing ----------------------------------------------------------------------------
def parse_limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise validation_failed("limit", "must be a number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise validation_failed("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def range_conditions(query: Any, column: str, *, is_date: bool) -> list[tuple[str, tuple[Any, ...]]]:
    conditions = []
    for operator, sql in RANGE_OPERATORS.items():
        name = f"{column}[{operator}]"
        raw = query.get(name)
        if raw is None:
            continue
        try:
            value = date.fromisoformat(raw[:10]).isoformat() if is_date else iso(parse_timestamp(raw))
        except ValueError:
            raise validation_failed(name, "must be a valid ISO 8601 " + ("date" if is_date else "timestamp")) from None
        conditions.append((f"{column} {sql} ?", (value,)))
    return conditions


def equality_conditions(query: Any, names: tuple[str, ...]) -> list[tuple[str, tuple[Any, ...]]]:
    conditions = []
    for name in names:
        raw = query.get(name)
        if raw is None or raw == "":
            continue
        values = tuple(v for v in raw.split(",") if v)
        conditions.append((f"{name} IN ({', '.join('?' * len(values))})", values))
    return conditions


def event_conditions(query: Any) -> tuple[list[tuple[str, tuple[Any, ...]]], str | None]:
    resource_type = query.get("resource_type")
    if resource_type is not None and resource_type not in EVENT_RESOURCE_TYPES:
        raise validation_failed("resource_type", f"must be one of {', '.join(EVENT_RESOURCE_TYPES)}")
    conditions = []
    id_filters = [name for name in EVENT_ID_FILTERS if query.get(name)]
    if id_filters and resource_type is not None:
        raise validation_failed(id_filters[0], "cannot be used together with resource_type")
    if len(id_filters) > 1:
        raise validation_failed(id_filters[1], f"cannot be used together with {id_filters[0]}")
    for name in id_filters:
        conditions.append(("resource_type = ? AND resource_id = ?", (EVENT_ID_FILTERS[name], query[name])))
    include = query.get("include")
    if include is not None:
        if resource_type is None:
            raise validation_failed("include", "can only be used together with resource_type")
        if include not in EVENT_INCLUDES:
            raise validation_failed("include", f"must be one of {', '.join(EVENT_INCLUDES)}")
    return conditions, include


def page_response(key: str, page: Page, limit: int, linked: dict[str, list[bytes]] | None = None) -> Response:
    parts = [b'{"', key.encode(), b'":[', b",".join(page.bodies), b"]"]
    if linked is not None:
        parts.append(b',"linked":{' + b",".join(b'"' + k.encode() + b'":[' + b",".join(v) + b"]" for k, v in linked.items()) + b"}")
    parts.append(b',"meta":' + encode({"cursors": {"before": page.before, "after": page.after}, "limit": limit}) + b"}")
    return Response(b"".join(parts), media_type="application/json")


def linked_records(store: SandboxStore, organisation_id: str, include: str, page: Page) -> dict[str, list[bytes]]:
    table = EVENT_INCLUDES[include]
    if table is None:
        return {f"{include}s": []}
    ids = list(dict.fromkeys(i for i in (json.loads(body)["links"].get(include) for body in page.bodies) if i))
    if not ids:
        return {table: []}
    rows = store.conn.execute(
        f"SELECT body FROM {table} WHERE org = ? AND removed = 0 AND id IN ({', '.join('?' * len(ids))})",
        (organisation_id, *ids),
    ).fetchall()
    return {table: [row[0] for row in rows]}


# -- routers ---------------------------------------------------------------------------------
def resource_router(resource: str) -> APIRouter:
    """``GET /<resource>`` and ``GET /<resource>/{id}``."""
    router = APIRouter(tags=[resource])

    def list_records(request: Request, principal: Principal = Depends(authenticate)) -> Response:
        query = request.query_params
        store: SandboxStore = request.app.state.store
        limit = parse_limit(query)
        conditions = range_conditions(query, "created_at", is_date=False)
        for column in DATE_FILTERS.get(resource, ()):
            conditions += range_conditions(query, column, is_date=True)
        conditions += equality_conditions(query, LIST_FILTERS[resource])
        if query.get("after") and getattr(request.state, SHIFT_STATE, False):
            request.app.state.simulation.arrive_during_listing(principal.organisation_id)
        include = None
        if resource == "events":
            extra, include = event_conditions(query)
            conditions += extra
        try:
            page = store.list_page(resource, principal.organisation_id, conditions, limit, query.get("after"), query.get("before"))
        except CursorNotFound:
            raise ApiProblem(400, type_="invalid_api_usage", reason="cursor_invalid", message="The cursor is not valid.") from None
        linked = linked_records(store, principal.organisation_id, include, page) if include else None
        odd: OddRecords = request.app.state.odd_records
        if odd.active:
            page = Page(odd.apply(resource, page.bodies), page.before, page.after)
            linked = {name: odd.apply(name, bodies) for name, bodies in (linked or {}).items()} if include else None
        return page_response(resource, page, limit, linked)

    def get_record(record_id: str, request: Request, principal: Principal = Depends(authenticate)) -> Response:
        raw = request.app.state.store.get_raw(principal.organisation_id, resource, record_id)
        if raw is None:
            raise not_found()
        raw = request.app.state.odd_records.apply(resource, [raw], listing=False)[0]
        return Response(b'{"' + resource.encode() + b'":' + raw + b"}", media_type="application/json")

    router.add_api_route(f"/{resource}", list_records, methods=["GET"], name=f"list_{resource}")
    router.add_api_route(f"/{resource}/{{record_id}}", get_record, methods=["GET"], name=f"get_{resource}")
    return router


def payout_items_router() -> APIRouter:
    router = APIRouter(tags=["payout_items"])

    @router.get("/payout_items")
    def list_payout_items(request: Request, principal: Principal = Depends(authenticate)) -> Response:
        query = request.query_params
        payout_id = query.get("payout")
        if not payout_id:
            raise validation_failed("payout", "can't be blank")
        limit = parse_limit(query)
        store: SandboxStore = request.app.state.store
        payout = store.get(principal.organisation_id, "payouts", payout_id)
        if payout is None:
            raise not_found()
        cutoff = add_months(to_datetime(request.app.state.simulation.now).date(), -6).isoformat()
        if payout["created_at"][:10] < cutoff:
            raise ApiProblem(410, type_="invalid_api_usage", reason="gone",
                             message="Payout items are only available for payouts created in the last 6 months.")
        page = store.payout_items_page(payout_id, limit, query.get("after"))
        odd: OddRecords = request.app.state.odd_records
        if odd.active:
            page = Page(odd.apply("payout_items", page.bodies, payout_id=payout_id), page.before, page.after)
        return page_response("payout_items", page, limit)

    return router


async def read_envelope(request: Request, key: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        document = json.loads(raw or b"{}") or {}  # action calls may send no body or null
    except ValueError:
        raise ApiProblem(400, type_="invalid_api_usage", reason="invalid_json", message="The request body is not valid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get(key, {}), dict):
        raise ApiProblem(400, type_="invalid_api_usage", reason="invalid_document_structure",
                         message=f"The request body must be an object with a {key} key.")
    return document.get(key) or {}


def write_router() -> APIRouter:
    """Creates, customer removal, payment cancellation and scenario simulators."""
    router = APIRouter(tags=["writes"])
    creators = {
        "customers": Simulation.create_customer,
        "customer_bank_accounts": Simulation.create_bank_account,
        "mandates": Simulation.create_mandate,
        "payments": Simulation.create_payment,
        "subscriptions": Simulation.create_subscription,
        "refunds": Simulation.create_refund,
    }

    def creator(resource: str):
        async def create(request: Request, principal: Principal = Depends(writer_principal)) -> Response:
            data = await read_envelope(request, resource)
            simulation: Simulation = request.app.state.simulation
            store: SandboxStore = request.app.state.store
            key = request.headers.get("idempotency-key")
            meta_key = f"idempotency:{principal.organisation_id}:{resource}:{key}"
            if key and (existing := store.get_meta(meta_key)):
                raise ApiProblem(409, type_="invalid_state", reason="idempotent_creation_conflict",
                                 message="A resource has already been created with this idempotency key",
                                 errors=[{"reason": "idempotent_creation_conflict",
                                          "message": "A resource has already been created with this idempotency key",
                                          "links": {"conflicting_resource_id": existing}}])
            body = await run_in_threadpool(creators[resource], simulation, principal.organisation_id, data)
            if key:
                store.set_meta(meta_key, body["id"])
            return json_response({resource: body}, 201)

        return create

    for resource in WRITABLE:
        router.add_api_route(f"/{resource}", creator(resource), methods=["POST"], name=f"create_{resource}")

    @router.delete("/customers/{customer_id}")
    def remove_customer(customer_id: str, request: Request, principal: Principal = Depends(writer_principal)) -> Response:
        body = request.app.state.simulation.remove_customer(principal.organisation_id, customer_id)
        return json_response({"customers": body})

    @router.post("/payments/{payment_id}/actions/cancel")
    async def cancel_payment(payment_id: str, request: Request, principal: Principal = Depends(writer_principal)) -> Response:
        data = await read_envelope(request, "data")
        body = await run_in_threadpool(request.app.state.simulation.cancel_payment, principal.organisation_id, payment_id, data)
        return json_response({"payments": body})

    @router.post("/payments/{payment_id}/actions/retry")
    async def retry_payment(payment_id: str, request: Request, principal: Principal = Depends(writer_principal)) -> Response:
        data = await read_envelope(request, "data")
        body = await run_in_threadpool(request.app.state.simulation.retry_payment, principal.organisation_id, payment_id, data)
        return json_response({"payments": body})

    @router.post("/scenario_simulators/{name}/actions/run")
    async def run_scenario(name: str, request: Request, principal: Principal = Depends(writer_principal)) -> Response:
        # The official clients wrap action bodies in "data"; accept the resource envelope too.
        data = await read_envelope(request, "data") or await read_envelope(request, "scenario_simulators")
        resource_id = (data.get("links") or {}).get("resource")
        if not resource_id:
            raise validation_failed("links[resource]", "can't be blank", "scenario_simulators")
        result = await run_in_threadpool(request.app.state.simulation.run_scenario, principal.organisation_id, name, resource_id)
        return json_response({"scenario_simulators": result})

    return router


# -- app ---------------------------------------------------------------------------------------
def install_error_handlers(app: FastAPI) -> None:
    """Every error, including FastAPI's own 404/405/422/500, in GoCardless' envelope."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = "resource_not_found" if exc.status_code == 404 else None
        message = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(ApiProblem(exc.status_code, type_="invalid_api_usage" if exc.status_code < 500 else None,
                                           reason=reason, message=message))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "request", "message": e.get("msg", "is invalid")}
                  for e in exc.errors()]
        return problem_response(ApiProblem(422, type_="validation_failed", message="Validation failed", errors=errors))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("sandbox error on %s %s", request.method, request.url.path)
        return problem_response(ApiProblem(500))


def create_app(store: SandboxStore, config: SandboxConfig, simulation: Simulation | None = None) -> FastAPI:
    """The sandbox ASGI app over a generated store.

    ``app.state`` holds ``store``, ``config``, ``admin_secret`` (what ``/sandbox/`` routes
    require), ``simulation`` (clock and writes), ``faults``
    (the :class:`FaultConfig` the fault injector reads; change it via ``PUT /sandbox/faults``),
    ``faults_injected`` (how many responses each fault broke) and ``odd_records``
    (:class:`OddRecords`; ``PUT /sandbox/odd_records``).
    """
    app = FastAPI(title="GoCardless sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.config = config
    app.state.simulation = simulation or Simulation(store, config)
    app.state.admin_secret = config.admin_secret or new_admin_secret()
    app.state.faults = FaultConfig()
    app.state.faults_injected = {}  # fault name -> responses it broke
    app.state.odd_records = OddRecords()
    install_error_handlers(app)
    for resource in RESOURCES:
        app.include_router(resource_router(resource))
    app.include_router(payout_items_router())
    app.include_router(write_router())
    app.include_router(oauth.router)
    app.include_router(admin.router)
    app.add_middleware(FaultInjectionMiddleware, faults=app.state.faults, rate_limit_per_minute=config.rate_limit_per_minute,
                       injected=app.state.faults_injected)
    app.add_middleware(RateLimitMiddleware, limit_per_minute=config.rate_limit_per_minute)
    return app
