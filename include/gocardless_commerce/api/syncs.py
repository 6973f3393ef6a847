"""``…/users/{user_id}/sync``: start a sync of a merchant, and its syncs as Qard's DataSync.

A DataSync is one run of the merchant's sync DAG: its state says QUEUED / FETCHING / SUCCESS;
a failed run is AUTH_ERROR or FETCH_ERROR when the extraction failed (AUTH_ERROR when the token
was rejected, which marks the data connection AUTH_ERROR), INTERNAL_ERROR when a later stage
did. The counts come from ``meta.sync_runs`` (written when the extraction finished).
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from gocardless_commerce.api import models
from gocardless_commerce.api.access import READ, TRIGGER, CurrentUser
from gocardless_commerce.api.deps import existing_user, registry, warehouse
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.paging import page_body, page_window
from gocardless_commerce.orchestration.merchant_dags import SyncAlreadyActiveError, SyncRun, sync_runs, trigger_sync
from gocardless_commerce.orchestration.pools import SYNC_API_TASK
from gocardless_commerce.registry import DataConnection
from gocardless_commerce.warehouse.engine import transaction

router = APIRouter(tags=["sync"])


def sync_status(airflow_state: str, failed_tasks: tuple[str, ...], connection_status: str) -> str:
    """Qard's sync status of a DAG run (pure: tested alone)."""
    if airflow_state == "queued":
        return "QUEUED"
    if airflow_state == "running":
        return "FETCHING"
    if airflow_state == "success":
        return "SUCCESS"
    if SYNC_API_TASK in failed_tasks:
        return "AUTH_ERROR" if connection_status == "AUTH_ERROR" else "FETCH_ERROR"
    return "INTERNAL_ERROR"


def _connection(user_id: str) -> DataConnection:
    existing_user(user_id)
    connection = registry().for_user(user_id)
    if connection is None:
        raise ApiError(404, f"User {user_id!r} has no live data connection")
    return connection


def _counts(data_connection_id: models.DataConnectionIdPath, run_ids: list[str]) -> dict[str, models.SyncCounts]:
    if not run_ids:
        return {}
    with transaction(warehouse()) as conn:
        rows = conn.execute(
            sa.text("SELECT run_id, api_requests, records_landed, records_changed, records_quarantined "
                    "FROM meta.sync_runs WHERE data_connection_id = :dc AND run_id IN :runs")
            .bindparams(sa.bindparam("runs", expanding=True)),
            {"dc": data_connection_id, "runs": run_ids},
        ).all()
    return {r[0]: models.SyncCounts(api_requests=r[1], records_landed=r[2], records_changed=r[3],
                                    records_quarantined=r[4] or 0) for r in rows}


def _data_syncs(connection: DataConnection, runs: list[SyncRun]) -> list[models.DataSync]:
    counts = _counts(connection.id, [run.run_id for run in runs])
    return [
        models.DataSync(
            id=run.run_id, user_id=connection.user_id, data_connection_id=connection.id,
            status=sync_status(run.state, run.failed_tasks, connection.status),
            data_types=list(run.conf.get("data_types") or connection.requested_data_types),
            created_at=run.queued_at, started_at=run.start_date, finished_at=run.end_date,
            failed_tasks=list(run.failed_tasks), counts=counts.get(run.run_id),
        )
        for run in runs
    ]


@router.post("/users/{user_id}/sync", status_code=202, dependencies=[TRIGGER])
def start_sync(user_id: models.UserIdPath, body: models.SyncRequest, user: CurrentUser) -> models.DataSync:
    connection = _connection(user_id)
    if connection.status != "CONNECTED":
        raise ApiError(409, f"The data connection is {connection.status}, not CONNECTED")
    try:
        run = trigger_sync(user_id, list(body.data_types), triggered_by_user=user.get_name())
    except SyncAlreadyActiveError as error:
        raise ApiError(409, str(error), code="SYNC_IN_PROGRESS") from None
    return _data_syncs(connection, [run])[0]


@router.get("/users/{user_id}/sync", dependencies=[READ])
def list_syncs(user_id: models.UserIdPath, query: Annotated[models.Paging, Query()]) -> models.SyncPage:
    connection = _connection(user_id)
    runs = sync_runs(user_id, limit=1000)
    limit, offset = page_window(query.page, query.per_page)
    return models.SyncPage(**page_body(_data_syncs(connection, runs[offset:offset + limit]), page=query.page,
                                       per_page=query.per_page, total=len(runs)))


@router.get("/users/{user_id}/sync/latest", dependencies=[READ])
def latest_sync(user_id: models.UserIdPath) -> models.DataSync:
    connection = _connection(user_id)
    runs = sync_runs(user_id, limit=1)
    if not runs:
        raise ApiError(404, f"User {user_id!r} has no sync yet")
    return _data_syncs(connection, runs)[0]
