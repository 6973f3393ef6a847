"""Task bodies of the ``gateway_reconciliation`` DAG: Airflow's context in, plain calls out.

Imported lazily from inside the tasks (never at DAG parse time): it pulls in the client,
SQLAlchemy and the warehouse layer.
"""

from __future__ import annotations

import logging
from typing import Any

from gocardless_commerce.orchestration.failures import retry_or_fail
from gocardless_commerce.orchestration.hook import GoCardlessHook
from gocardless_commerce.reconciliation import job
from gocardless_commerce.reconciliation.job import MerchantTarget
from gocardless_commerce.reconciliation.notify import notify
from gocardless_commerce.reconciliation.period import Period
from gocardless_commerce.registry import Registry
from gocardless_commerce.warehouse.engine import get_engine
from gocardless_commerce.warehouse.migrations import apply_migrations

log = logging.getLogger(__name__)


def period_of(context: dict[str, Any]) -> Period:
    """The ``period_date`` param, else the UTC day before the run's logical date."""
    chosen = (context.get("params") or {}).get("period_date")
    if chosen:
        return Period.of(chosen)
    moment = context.get("logical_date") or context["dag_run"].run_after
    return Period.before(moment)


@retry_or_fail
def run_start_job(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Open the period's job; the merchants come from the registry now, not at parse time."""
    engine = get_engine()
    apply_migrations(engine)
    merchants = Registry(engine).data_connections(statuses=("CONNECTED",))
    targets = job.start_job(
        engine, period_of(context), merchants, run_id=context.get("run_id"),
        reversal_refunds=bool(context["params"].get("reversal_refunds", True)),
    )
    return [t.as_dict() for t in targets]


@retry_or_fail
def run_reconcile_merchant(target: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """One merchant's part; a failure is recorded as ``Error`` with its reason, then raised.

    :func:`retry_or_fail` decides: a permanent error (a rejected token…) fails at once, a
    transient one is retried with backoff, while the other merchants carry on.
    """
    from airflow.sdk import get_current_context

    merchant = MerchantTarget(**target)
    get_current_context()["merchant_label"] = merchant.label  # the mapped task's label (map_index_template)
    engine = get_engine()
    try:
        with GoCardlessHook(merchant_conn_id=merchant.airflow_conn_id).get_client() as client:
            return job.reconcile_merchant(engine, client, merchant)
    except Exception as error:
        job.mark_merchant_error(engine, merchant, error)
        raise


@retry_or_fail
def run_finish_job(context: dict[str, Any]) -> dict[str, Any]:
    """Close the job, log and send its summary; fail the run when a merchant is in ``Error``."""
    from airflow.sdk.exceptions import AirflowFailException

    engine = get_engine()
    period = period_of(context)
    report = job.finish_job(engine, period)
    lines = job.summary_lines(engine, period)
    notify(lines, report.as_dict())
    if report.status == job.ERROR:
        raise AirflowFailException(f"Reconciliation job {report.job_number} ({period}) ended in Error: {report.error}")
    return {"job_number": report.job_number, "status": report.status, "events_total": report.events_total,
            "events_unmatched": report.events_unmatched}


def log_task_failure(context: dict[str, Any]) -> None:
    """Failure callback (task and run): one line naming the task, the merchant (map index), run and error."""
    ti = context.get("task_instance") or context.get("ti")
    exception = context.get("exception")
    log.error(
        "Gateway reconciliation FAILED: task=%s map_index=%s run=%s try=%s error=%s: %s",
        getattr(ti, "task_id", "?"), getattr(ti, "map_index", "?"), context.get("run_id"),
        getattr(ti, "try_number", "?"), type(exception).__name__ if exception else "unknown", exception,
    )
