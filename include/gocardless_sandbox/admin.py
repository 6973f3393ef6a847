"""Sandbox-only admin endpoints under ``/sandbox/``: health, the simulated clock, faults and
odd records.

Every one needs the admin secret in the ``Sandbox-Admin-Secret`` header (see
:mod:`gocardless_sandbox.security`), and none returns access tokens (those come from OAuth
or, in-process, from :attr:`SandboxServer.merchants`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gocardless_sandbox.problems import ApiProblem, validation_failed
from gocardless_sandbox.security import require_admin_secret

router = APIRouter(prefix="/sandbox", tags=["sandbox"], dependencies=[Depends(require_admin_secret)])


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", **request.app.state.simulation.clock()}


@router.get("/clock")
def clock(request: Request) -> dict[str, Any]:
    return request.app.state.simulation.clock()


@router.post("/clock/advance")
async def advance(request: Request) -> JSONResponse:
    raw = await request.body()
    try:
        data = (await request.json()) if raw else {}
        days = int(data.get("days", 1))
        fraction = float(data.get("change_fraction", 0.0))
    except (ValueError, TypeError, AttributeError):
        raise validation_failed("days", "days must be an integer and change_fraction a number") from None
    if days < 0 or days > 3660 or not 0.0 <= fraction <= 1.0:
        raise validation_failed("days", "days must be 0-3660 and change_fraction between 0 and 1")
    summary = await run_in_threadpool(request.app.state.simulation.advance, days=days, change_fraction=fraction)
    return JSONResponse(summary)


@router.get("/faults")
def get_faults(request: Request) -> dict[str, Any]:
    return request.app.state.faults.to_dict()


@router.put("/faults")
async def put_faults(request: Request) -> dict[str, Any]:
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        request.app.state.faults.update(**changes)
    except (ValueError, TypeError) as exc:
        raise ApiProblem(422, type_="validation_failed", message="Validation failed",
                         errors=[{"field": "faults", "message": str(exc)}]) from None
    return request.app.state.faults.to_dict()


@router.get("/odd_records")
def get_odd_records(request: Request) -> dict[str, Any]:
    return request.app.state.odd_records.to_dict()


@router.put("/odd_records")
async def put_odd_records(request: Request) -> dict[str, Any]:
    """Replace the odd-record configuration (``{}`` clears it); see ``gocardless_sandbox.odd_records``."""
    try:
        config = await request.json()
        if not isinstance(config, dict):
            raise ValueError("the body must be a JSON object")
        request.app.state.odd_records.replace(config)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ApiProblem(422, type_="validation_failed", message="Validation failed",
                         errors=[{"field": "odd_records", "message": str(exc)}]) from None
    return request.app.state.odd_records.to_dict()


@router.get("/merchants")
def merchants(request: Request) -> dict[str, Any]:
    """The generated organisations (ids, names, emails; never tokens)."""
    return {"merchants": [
        {"organisation_id": o.id, "creditor_id": o.creditor_id, "name": o.name, "email": o.email}
        for o in request.app.state.store.organisations()
    ]}
