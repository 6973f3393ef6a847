"""A reconciliation job: one period, every connected merchant, each merchant its own part.

``start_job`` opens the job (``Processing``) and lists its merchants; ``reconcile_merchant``
does one merchant's part (API → match → apply, one warehouse transaction) and can be retried
alone; ``mark_merchant_error`` records why a part failed; ``finish_job`` closes the job
(``Completed``, or ``Error`` when any part is not completed). The Airflow DAG maps the middle
step over the merchants; these functions know nothing about Airflow.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.reconciliation import store
from gocardless_commerce.reconciliation.apply import SINGULAR, Merchant, Options, Outcome, reconcile, related_id
from gocardless_commerce.reconciliation.fetch import fetch_period_events
from gocardless_commerce.reconciliation.period import Period
from gocardless_commerce.warehouse.engine import transaction

log = logging.getLogger(__name__)

PROCESSING, COMPLETED, ERROR = "Processing", "Completed", "Error"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class MerchantTarget:
    """One merchant's part of a job; plain values, so it can travel through XCom."""

    data_connection_id: str
    user_id: str
    user_name: str
    airflow_conn_id: str
    period: str  # ISO date
    reversal_refunds: bool = True

    @property
    def job_number(self) -> int:
        return Period.of(self.period).job_number

    @property
    def label(self) -> str:
        return f"{self.user_name} ({self.user_id})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobReport:
    """A finished job, as the notifier and the logs see it."""

    job_number: int
    period: str
    status: str
    error: str | None
    merchants: list[dict[str, Any]] = field(default_factory=list)
    events_total: int = 0
    events_unmatched: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.status != COMPLETED or self.events_unmatched > 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "needs_attention": self.needs_attention}


# -- the job ---------------------------------------------------------------------------------------
def start_job(engine: Engine, period: Period, merchants: list, *, run_id: str | None = None,
              reversal_refunds: bool = True) -> list[MerchantTarget]:
    """Open (or reopen) the period's job as ``Processing`` and list its merchants' parts.

    ``merchants`` are registry data connections (anything with ``id``, ``user_id``,
    ``user_name`` and ``airflow_conn_id``). A merchant part of an earlier run of the period that
    is no longer connected is dropped from the job (its rows for the period stay).
    """
    targets = [
        MerchantTarget(m.id, m.user_id, m.user_name, m.airflow_conn_id, str(period), reversal_refunds) for m in merchants
    ]
    now = _now()
    with transaction(engine) as conn:
        attempts = conn.execute(
            sa.text("SELECT attempts FROM reconciliation.jobs WHERE job_number = :job"), {"job": period.job_number}
        ).scalar_one_or_none()
        store.write_rows(conn, store.JOBS, [{
            "job_number": period.job_number, "period_start": period.start, "period_end": period.end, "status": PROCESSING,
            "run_id": run_id, "attempts": (attempts or 0) + 1, "started_at": now, "merchants_total": len(targets),
            "merchants_completed": 0, "merchants_error": 0, "events_total": 0, "events_unmatched": 0,
            "reversal_refunds": reversal_refunds,
        }])
        conn.execute(sa.text("DELETE FROM reconciliation.merchant_summaries WHERE job_number = :job"), {"job": period.job_number})
        store.write_rows(conn, store.MERCHANT_SUMMARIES, [_summary_row(t, PROCESSING, attempts=0, started_at=now) for t in targets])
    log.info("Reconciliation job %s (%s) started for %d merchant(s)", period.job_number, period, len(targets))
    return targets


def _summary_row(target: MerchantTarget, status: str, *, attempts: int, started_at: datetime, **values: Any) -> dict[str, Any]:
    empty = {"events_total": 0, "events_matched": 0, "events_unmatched": 0, "events_by_gateway_event": {},
             "settled_amounts": {}, "refunds_settled_amounts": {}, "rejected_amounts": {}, "reversed_amounts": {},
             "external_refunds": 0, "payment_methods_changed": 0, "api_requests": 0}
    return {
        **empty, "job_number": target.job_number, "data_connection_id": target.data_connection_id,
        "user_id": target.user_id, "user_name": target.user_name, "period_start": Period.of(target.period).start,
        "status": status, "attempts": attempts, "started_at": started_at, **values,
    }


def _attempt(engine: Engine, target: MerchantTarget) -> tuple[int, datetime]:
    """Count one more attempt at the merchant's part; returns it and when it started."""
    started = _now()
    with transaction(engine) as conn:
        attempts = conn.execute(
            sa.text("SELECT attempts FROM reconciliation.merchant_summaries WHERE job_number = :job AND data_connection_id = :dc"),
            {"job": target.job_number, "dc": target.data_connection_id},
        ).scalar_one_or_none()
        attempt = (attempts or 0) + 1
        conn.execute(
            sa.text("DELETE FROM reconciliation.merchant_summaries WHERE job_number = :job AND data_connection_id = :dc"),
            {"job": target.job_number, "dc": target.data_connection_id},
        )
        store.write_rows(conn, store.MERCHANT_SUMMARIES, [_summary_row(target, PROCESSING, attempts=attempt, started_at=started)])
    return attempt, started


def reconcile_merchant(engine: Engine, client: GoCardlessClient, target: MerchantTarget) -> dict[str, Any]:
    """Reconcile one merchant's period; returns its summary. Raises on API errors (after noting the attempt).

    Everything the period changes is written in one transaction that replaces an earlier
    run's result for this merchant and period.
    """
    attempt, started = _attempt(engine, target)
    period = Period.of(target.period)
    requests_before = client.request_count
    found = fetch_period_events(client, period)
    merchant = Merchant(target.user_id, target.data_connection_id, target.job_number)
    transaction_ids, mandate_ids = _referenced_ids(target.data_connection_id, found.events)
    with transaction(engine) as conn:
        store.seed_payment_methods(conn, target.user_id, target.data_connection_id)
        state = store.read_state(conn, merchant, transaction_ids, mandate_ids)
        outcome = reconcile(found.events, found.linked, merchant, state, Options(reversal_refunds=target.reversal_refunds))
        store.replace_period(conn, merchant, outcome)
        summary = outcome.summary()
        summary["api_requests"] = client.request_count - requests_before
        conn.execute(
            sa.text("DELETE FROM reconciliation.merchant_summaries WHERE job_number = :job AND data_connection_id = :dc"),
            {"job": target.job_number, "dc": target.data_connection_id},
        )
        store.write_rows(conn, store.MERCHANT_SUMMARIES, [
            _summary_row(target, COMPLETED, attempts=attempt, started_at=started, completed_at=_now(), error=None, **summary)
        ])
    _log_outcome(target, outcome, summary)
    return summary


def _referenced_ids(data_connection_id: str, events: list[dict]) -> tuple[list[str], list[str]]:
    """Commerce ids of the payments/refunds and the mandate ids the events are about."""
    transaction_ids, mandate_ids = [], []
    for event in events:
        resource_type, gocardless_id = event["resource_type"], related_id(event)
        if not gocardless_id:
            continue
        if resource_type in ("payments", "refunds"):
            transaction_ids.append(commerce_id(data_connection_id, SINGULAR[resource_type], gocardless_id))
        elif resource_type == "mandates":
            mandate_ids.append(gocardless_id)
    return transaction_ids, mandate_ids


def _log_outcome(target: MerchantTarget, outcome: Outcome, summary: dict[str, Any]) -> None:
    log.info("Reconciled %s for %s: %s", target.label, target.period, json.dumps(summary, sort_keys=True))
    for event in outcome.gateway_events:
        if not event["matched"] and event["gateway_event"] != "Unknown":
            log.warning("Unmatched %s %s %s (%s): %s", event["object"], event["gocardless_action"],
                        event["related_gocardless_id"], event["event_id"], event["unmatched_reason"])


def mark_merchant_error(engine: Engine, target: MerchantTarget, error: BaseException | str) -> None:
    """Record why the merchant's part failed; its previous results for the period stay."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE reconciliation.merchant_summaries SET status = :status, error = :error, completed_at = :now "
                "WHERE job_number = :job AND data_connection_id = :dc"
            ),
            {"status": ERROR, "error": reason[:2000], "now": _now(), "job": target.job_number, "dc": target.data_connection_id},
        )
    log.error("Reconciliation of %s for %s: Error: %s", target.label, target.period, reason)


def finish_job(engine: Engine, period: Period) -> JobReport:
    """Close the job: ``Completed`` when every merchant's part completed, else ``Error``."""
    merchants = merchant_summaries(engine, period)
    failed = [m for m in merchants if m["status"] != COMPLETED]
    status = ERROR if failed else COMPLETED
    error = "; ".join(f"{m['user_name']} ({m['data_connection_id']}): {m['error'] or m['status']}" for m in failed) or None
    report = JobReport(
        job_number=period.job_number, period=str(period), status=status, error=error, merchants=merchants,
        events_total=sum(m["events_total"] for m in merchants),
        events_unmatched=sum(m["events_unmatched"] for m in merchants),
    )
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "UPDATE reconciliation.jobs SET status = :status, error = :error, completed_at = :now, "
                "merchants_total = :total, merchants_completed = :completed, merchants_error = :failed, "
                "events_total = :events, events_unmatched = :unmatched WHERE job_number = :job"
            ),
            {"status": status, "error": error, "now": _now(), "total": len(merchants),
             "completed": len(merchants) - len(failed), "failed": len(failed), "events": report.events_total,
             "unmatched": report.events_unmatched, "job": period.job_number},
        )
    return report


# -- reading results --------------------------------------------------------------------------------
def merchant_summaries(engine: Engine, period: Period) -> list[dict[str, Any]]:
    """The period's summary rows, JSON columns decoded, by user."""
    with transaction(engine) as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT {', '.join(store.MERCHANT_SUMMARIES.column_names)} FROM reconciliation.merchant_summaries "
                "WHERE job_number = :job ORDER BY user_id, data_connection_id"
            ),
            {"job": period.job_number},
        ).mappings().all()
    json_columns = [c.name for c in store.MERCHANT_SUMMARIES.columns if c.sql_type == "JSON"]
    return [{**row, **{c: _json(row[c]) for c in json_columns}} for row in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def summary_lines(engine: Engine, period: Period | str) -> list[str]:
    """The job's summary for people: one line for the job, one per merchant ([] if it never ran)."""
    period = period if isinstance(period, Period) else Period.of(period)
    with transaction(engine) as conn:
        job = conn.execute(
            sa.text("SELECT status, error, events_total, events_unmatched, merchants_total, merchants_error "
                    "FROM reconciliation.jobs WHERE job_number = :job"),
            {"job": period.job_number},
        ).mappings().one_or_none()
    if job is None:
        return []
    lines = [
        f"Gateway reconciliation {period} (job {period.job_number}): {job['status']} - {job['merchants_total']} merchant(s), "
        f"{job['merchants_error']} in Error, {job['events_total']} event(s), {job['events_unmatched']} unmatched"
        + (f" - {job['error']}" if job["error"] else "")
    ]
    for m in merchant_summaries(engine, period):
        if m["status"] != COMPLETED:
            lines.append(f"  {m['user_name']} ({m['user_id']}): {m['status']}" + (f" - {m['error']}" if m["error"] else ""))
            continue
        events = ", ".join(f"{name} {count}" for name, count in m["events_by_gateway_event"].items()) or "none"
        amounts = "; ".join(
            f"{label} {_amounts(m[column])}"
            for label, column in (("settled", "settled_amounts"), ("refunds settled", "refunds_settled_amounts"),
                                  ("rejected", "rejected_amounts"), ("reversed", "reversed_amounts"))
            if m[column]
        )
        lines.append(
            f"  {m['user_name']} ({m['user_id']}): Completed - {m['events_total']} event(s) [{events}], "
            f"{m['events_unmatched']} unmatched, {m['external_refunds']} external refund(s), "
            f"{m['payment_methods_changed']} payment method(s) changed" + (f"; {amounts}" if amounts else "")
        )
    return lines


def _amounts(by_currency: dict[str, str]) -> str:
    return ", ".join(f"{amount} {currency}" for currency, amount in by_currency.items())
