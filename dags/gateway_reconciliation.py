"""Daily gateway reconciliation of every connected merchant (Airflow): wiring only.

The logic is ``gocardless_commerce.reconciliation``; task bodies import it when they run, so
parsing this file touches no database, network or heavy import.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param, TriggerRule, task

from gocardless_commerce.orchestration.defaults import PARAM_SCHEMA, TASK_ARGS

SCHEDULE = os.environ.get("GC_RECONCILIATION_SCHEDULE", "30 6 * * *")  # cron, UTC
CATCHUP = os.environ.get("GC_RECONCILIATION_CATCHUP", "false").lower() in {"1", "true", "yes"}
REVERSAL_REFUNDS = os.environ.get("GC_RECONCILIATION_REVERSAL_REFUNDS", "true").lower() in {"1", "true", "yes"}
MAX_PARALLEL_MERCHANTS = int(os.environ.get("GC_RECONCILIATION_MAX_PARALLEL", "8"))


def _on_failure(context) -> None:
    """Failure callback (task and run): one line naming the task, merchant, run and error."""
    from gocardless_commerce.orchestration.reconciliation_tasks import log_task_failure

    log_task_failure(context)


TASK = {**TASK_ARGS, "on_failure_callback": _on_failure}

DOC_MD = """\
### Gateway reconciliation (daily)

Every morning, for the **previous UTC day** (the *period*), reads every GoCardless event of
every `CONNECTED` merchant straight from the API (it does not wait for the sync DAGs), turns
each into a **gateway event** as Zuora's GoCardless reconciliation does, matches it with its
`commerce.transactions` row or `commerce.payment_methods` row, and applies the action:
`Settled` + `settled_on`, `FailedToSettle`, an external refund ("Payment Reversal") for
chargebacks and settled late failures, or closing / reactivating the payment method.
Anything else is kept as `Unknown` with no action.

* **start_job** opens job `YYYYMMDD` (`reconciliation.jobs`, status `Processing`) and lists
  the merchants from the registry at run time.
* **reconcile_merchant** (mapped, one per merchant) writes the period's
  `reconciliation.gateway_events`, `reconciliation.log`, `reconciliation.external_refunds` and
  `reconciliation.merchant_summaries` in one transaction. A merchant whose API fails is marked
  `Error` with the reason and retried with backoff (a rejected token fails at once); the
  others carry on.
* **finish_job** sets the job `Completed` or `Error`, logs the summary per merchant and sends
  it to the notifier (`GC_RECONCILIATION_NOTIFIER`: the log by default, Slack or email by
  configuration). The run fails when a merchant is in `Error`.

**Rerun a period**: trigger with `period_date` (or clear a past run). A rerun replaces that
period's results; when nothing changed at GoCardless it changes nothing.
`reversal_refunds` switches the external refunds of reversals off. See `docs/reconciliation.md`.
"""

with DAG(
    dag_id="gateway_reconciliation",
    dag_display_name="Gateway reconciliation (daily)",
    description="GoCardless events of the previous day → gateway events, matched and applied (Zuora-style)",
    doc_md=DOC_MD,
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=CATCHUP,
    max_active_runs=1,
    on_failure_callback=_on_failure,
    tags=["gocardless", "reconciliation"],
    params={
        "period_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Period (UTC day)",
            description="The day to reconcile (YYYY-MM-DD); empty: the day before the run's logical date.",
            **PARAM_SCHEMA,
        ),
        "reversal_refunds": Param(
            REVERSAL_REFUNDS,
            type="boolean",
            title="External refunds for reversals",
            description='Create a "Payment Reversal" refund for chargebacks and settled late failures.',
            **PARAM_SCHEMA,
        ),
    },
) as dag:

    @task(task_display_name="Start the job", **TASK)
    def start_job(**context) -> list[dict]:
        from gocardless_commerce.orchestration.reconciliation_tasks import run_start_job

        return run_start_job(context)

    @task(
        task_display_name="Reconcile merchant",
        map_index_template="{{ merchant_label }}",
        max_active_tis_per_dag=MAX_PARALLEL_MERCHANTS,
        **TASK,
    )
    def reconcile_merchant(target: dict, **context) -> dict:
        from gocardless_commerce.orchestration.reconciliation_tasks import run_reconcile_merchant

        return run_reconcile_merchant(target, context)

    @task(task_display_name="Finish the job and notify", trigger_rule=TriggerRule.ALL_DONE, **{**TASK, "retries": 0})
    def finish_job(**context) -> dict:
        from gocardless_commerce.orchestration.reconciliation_tasks import run_finish_job

        return run_finish_job(context)

    reconcile_merchant.expand(target=start_job()) >> finish_job()
