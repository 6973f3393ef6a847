"""Task bodies of the sync DAGs: turn Airflow's context into plain calls into the pipeline.

Imported lazily from inside tasks (never at DAG parse time): it pulls in the client,
SQLAlchemy and the warehouse layer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gocardless_commerce import settings
from gocardless_commerce.model import stages
from gocardless_commerce.client.errors import AuthenticationError, PermissionsError
from gocardless_commerce.orchestration.failures import retry_or_fail
from gocardless_commerce.orchestration.hook import GoCardlessHook
from gocardless_commerce.model.stages import ModelRun
from gocardless_commerce.registry import Registry
from gocardless_commerce.extract.sync import SyncRequest, sync_data_connection
from gocardless_commerce.warehouse.engine import describe, get_engine
from gocardless_commerce.warehouse.migrations import apply_migrations

log = logging.getLogger(__name__)


def run_now(context) -> datetime:
    """The run's "now": the end of its data interval (so reruns of a run see the same window)."""
    moment = context.get("data_interval_end") or context.get("logical_date") or datetime.now(UTC)
    return datetime.fromtimestamp(moment.timestamp(), UTC)


@retry_or_fail
def run_extract_and_land(merchant: dict, context) -> dict:
    """Extract the merchant's account into ``raw``; a rejected token fails once, as AUTH_ERROR."""
    engine = get_engine()
    apply_migrations(engine)
    params = context["params"]
    request = SyncRequest(
        user_id=merchant["user_id"],
        data_connection_id=merchant["id"],
        run_id=context["run_id"],
        now=run_now(context),
        full_refresh=bool(params.get("full_refresh", False)),
        history_months=int(params.get("history_months", 12)),
    )
    log.info("Syncing %s (data connection %s) into %s", merchant["user_name"], merchant["id"], describe(engine))
    registry = Registry(engine)
    try:
        with GoCardlessHook(merchant_conn_id=merchant["airflow_conn_id"]).get_client() as client:
            result = sync_data_connection(client, engine, request)
    except (AuthenticationError, PermissionsError) as error:
        # The data connection shows AUTH_ERROR until the merchant is reconnected; retry_or_fail
        # fails the task at once (a revoked token will not come back by itself).
        registry.set_status(merchant["id"], "AUTH_ERROR", str(error))
        raise
    if merchant.get("status") == "AUTH_ERROR":
        registry.set_status(merchant["id"], "CONNECTED")
    return result.as_dict()


def _model_run(merchant: dict, context) -> ModelRun:
    """The run as every stage sees it, on whichever worker: staging through object storage,
    opened as an ``ObjectStoragePath`` so ``s3://<conn_id>@bucket`` uses that Airflow connection."""
    from airflow.sdk import ObjectStoragePath

    params = context["params"]
    return ModelRun(
        user_id=merchant["user_id"],
        data_connection_id=merchant["id"],
        run_id=context["run_id"],
        now=run_now(context),
        history_months=int(params.get("history_months", 12)),
        data_types=tuple(params.get("data_types") or ()),
        staging_root=ObjectStoragePath(settings.staging_url()),
        full_refresh=bool(params.get("full_refresh", False)),
        incremental=settings.model_incremental(),
    )


def _stage_task(stage):
    """A model stage as a task body (a batch that breaks its expectations fails once, loads nothing)."""

    @retry_or_fail
    def run(merchant: dict, context) -> dict:
        return stage(get_engine(), _model_run(merchant, context))

    run.__name__ = f"run_{stage.__name__}"
    return run


run_transform = _stage_task(stages.transform)
run_validate = _stage_task(stages.validate)
run_build_insights = _stage_task(stages.build_insights)
run_load = _stage_task(stages.load)
