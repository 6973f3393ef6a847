"""Every row of the mapping table, driven through the sandbox, reconciled into DuckDB and PostgreSQL.

One sandbox merchant lives three days (``scenario.py``); each day is reconciled as its own
period, in order, then the tests read what the job wrote.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.reconciliation import job, mapping
from gocardless_commerce.reconciliation.mapping import Action
from gocardless_sandbox import SandboxServer
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.sandbox import put_faults, small_config
from tests.reconciliation import scenario
from tests.reconciliation.scenario import D1, D2, D3, DC

# The issue's table, written out: (object, GoCardless action, gateway event, action), and where
# the scenario makes it happen: (period, record) and what it must leave behind.
ISSUE_TABLE = [
    ("Mandate", "reinstated", "MandateReinstated", Action.REACTIVATE_PAYMENT_METHOD),
    ("Mandate", "cancelled", "MandateCanceled", Action.CLOSE_PAYMENT_METHOD),
    ("Mandate", "failed", "MandateRejected", Action.CLOSE_PAYMENT_METHOD),
    ("Mandate", "expired", "MandateExpired", Action.CLOSE_PAYMENT_METHOD),
    ("Mandate", "resubmission_requested", "MandateReinstated", Action.REACTIVATE_PAYMENT_METHOD),
    ("Payment", "customer_approval_denied", "TransactionRejected", Action.FAIL_TO_SETTLE),
    ("Payment", "confirmed", "TransactionSettled", Action.SETTLE),
    ("Payment", "cancelled", "TransactionRejected", Action.FAIL_TO_SETTLE),
    ("Payment", "failed", "TransactionRejected", Action.FAIL_TO_SETTLE),
    ("Payment", "charged_back", "TransactionReversed", Action.EXTERNAL_REFUND),
    ("Payment", "late_failure_settled", "TransactionReversed", Action.EXTERNAL_REFUND),
    ("Refund", "paid", "TransactionSettled", Action.SETTLE),
    ("Refund", "refund_settled", "TransactionSettled", Action.SETTLE),
]
REVERSAL = "20.00 GBP Payment Reversal"
#: GoCardless action → (period, record, state after the job, changes logged for the event)
#: state: payment method (status, reason) or transaction (gateway_state, settled_on)
EXPECTED = {
    ("Mandate", "reinstated"): (D2, "mandate_reinstated", ("Active", "MandateReinstated (mandate_reinstated)"),
                                [("status", "Closed", "Active")]),
    ("Mandate", "cancelled"): (D1, "mandate_cancelled", ("Closed", "MandateCanceled (mandate_cancelled)"),
                               [("status", "Active", "Closed")]),
    ("Mandate", "failed"): (D1, "mandate_failed", ("Closed", "MandateRejected (invalid_bank_details)"),
                            [("status", "Active", "Closed")]),
    ("Mandate", "expired"): (D1, "mandate_expired", ("Closed", "MandateExpired (mandate_expired)"),
                             [("status", "Active", "Closed")]),
    ("Mandate", "resubmission_requested"): (D2, "mandate_resubmitted", ("Active", "MandateReinstated (resubmission_requested)"),
                                            [("status", "Closed", "Active")]),
    ("Payment", "customer_approval_denied"): (D1, "payment_denied", ("FailedToSettle", None),
                                              [("gateway_state", "NotSubmitted", "FailedToSettle")]),
    ("Payment", "confirmed"): (D1, "payment_confirmed", ("Settled", D1.day),
                               [("gateway_state", "Submitted", "Settled"), ("settled_on", None, "2026-11-01")]),
    ("Payment", "cancelled"): (D1, "payment_cancelled", ("FailedToSettle", None),
                               [("gateway_state", "NotSubmitted", "FailedToSettle")]),
    ("Payment", "failed"): (D1, "payment_failed", ("FailedToSettle", None),
                            [("gateway_state", "Submitted", "FailedToSettle")]),
    # settled first (confirmed, same day), then reversed: stays Settled, gets its refund
    ("Payment", "charged_back"): (D1, "payment_charged_back", ("Settled", D1.day), [("external_refund", None, REVERSAL)]),
    # a late failure is a `failed` event (FailedToSettle) and then the settled reversal
    ("Payment", "late_failure_settled"): (D1, "payment_late_failure_settled", ("FailedToSettle", D1.day),
                                          [("external_refund", None, REVERSAL)]),
    ("Refund", "paid"): (D3, "refund_paid", ("Settled", D3.day),
                         [("gateway_state", None, "Settled"), ("settled_on", None, "2026-11-03")]),
    # its `paid` event (same day) settled it already: the action finds nothing to change
    ("Refund", "refund_settled"): (D3, "refund_settled", ("Settled", D3.day),
                                   [("gateway_state", "Settled", "Settled"), ("settled_on", "2026-11-03", "2026-11-03")]),
}
RECONCILIATION_TABLES = ("reconciliation.gateway_events", "reconciliation.log", "reconciliation.external_refunds")


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory):
    """The scenario played on a private sandbox, landed, and D1-D3 reconciled in order."""
    engine = scenario.migrated_warehouse(request, tmp_path_factory, "recon")
    with SandboxServer(small_config(merchants=1, payments_per_merchant=40)) as server:
        ids = scenario.play(server, before_simulations=lambda: scenario.land_raw(server, engine))
        scenario.land(server, engine, ids)
        reports = {period: scenario.reconcile(server, engine, period) for period in (D1, D2, D3)}
        yield server, engine, ids, reports


def rows(engine, sql: str, **params) -> list[dict]:
    with transaction(engine) as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings().all()]


def gateway_events(engine, gocardless_id: str) -> list[dict]:
    return rows(engine, "SELECT * FROM reconciliation.gateway_events WHERE related_gocardless_id = :id ORDER BY event_time, event_id",
                id=gocardless_id)


def changes(engine, event_id: str) -> list[tuple]:
    return [(r["change"], r["before_value"], r["after_value"]) for r in rows(
        engine, "SELECT change, before_value, after_value FROM reconciliation.log WHERE event_id = :e ORDER BY change", e=event_id)]


def state_of(engine, obj: str, gocardless_id: str) -> tuple:
    if obj == "Mandate":
        (row,) = rows(engine, "SELECT status, reason FROM commerce.payment_methods WHERE data_connection_id = :dc AND source_id = :id",
                      dc=DC, id=gocardless_id)
        return row["status"], row["reason"]
    (row,) = rows(engine, "SELECT gateway_state, settled_on FROM commerce.transactions WHERE source_id = :id", id=gocardless_id)
    return row["gateway_state"], row["settled_on"]


def test_the_mapping_is_exactly_the_issue_table():
    as_table = [(mapping.object_name(rt), action, rule.gateway_event, rule.action) for (rt, action), rule in mapping.MAPPING.items()]
    assert as_table == ISSUE_TABLE
    assert mapping.rule_for("payments", "paid_out") == mapping.Rule("Unknown", Action.NONE)
    assert mapping.rule_for("subscriptions", "cancelled") == mapping.Rule("Unknown", Action.NONE)


@pytest.mark.parametrize(("obj", "gocardless_action", "gateway_event", "action"), ISSUE_TABLE,
                         ids=[f"{o}-{a}" for o, a, _, _ in ISSUE_TABLE])
def test_each_mapping_row_through_the_sandbox(world, obj, gocardless_action, gateway_event, action):
    server, engine, ids, _ = world
    period, record, state, logged = EXPECTED[(obj, gocardless_action)]
    (event,) = [e for e in gateway_events(engine, ids[record]) if e["gocardless_action"] == gocardless_action]
    assert (event["object"], event["gateway_event"], event["action"]) == (obj, gateway_event, action.value)
    assert event["matched"] is True and event["unmatched_reason"] is None
    assert event["job_number"] == period.job_number and event["event_time"].date() == period.day
    raw_event = json.loads(event["raw_event"]) if isinstance(event["raw_event"], str) else event["raw_event"]
    assert (raw_event["id"], raw_event["action"]) == (event["event_id"], gocardless_action)
    if obj == "Mandate":
        assert event["matched_payment_method_id"] == commerce_id(DC, "mandate", ids[record])
    else:
        assert event["matched_transaction_id"] == commerce_id(DC, obj.lower(), ids[record])
        assert (event["amount"], event["currency"]) == (Decimal("20.00") if obj == "Payment" else Decimal("5.00"), "GBP")
    assert state_of(engine, obj, ids[record]) == state
    assert changes(engine, event["event_id"]) == sorted(logged)


def test_reversals_create_external_refunds_with_the_reason_code(world):
    server, engine, ids, _ = world
    refunds = rows(engine, "SELECT * FROM reconciliation.external_refunds ORDER BY created_at, payment_gocardless_id")
    assert sorted((r["payment_gocardless_id"], r["job_number"]) for r in refunds) == sorted([
        (ids["payment_charged_back"], D1.job_number),
        (ids["payment_late_failure_settled"], D1.job_number),
        (ids["payment_settled_then_charged_back"], D2.job_number),
    ])
    for refund in refunds:
        assert (refund["amount"], refund["currency"], refund["reason_code"]) == (Decimal("20.0000"), "GBP", "Payment Reversal")
        assert refund["payment_transaction_id"] == commerce_id(DC, "payment", refund["payment_gocardless_id"])
        (event,) = rows(engine, "SELECT * FROM reconciliation.gateway_events WHERE event_id = :e", e=refund["event_id"])
        assert event["gateway_event"] == "TransactionReversed" and refund["created_at"] == event["event_time"]
        (log,) = rows(engine, "SELECT * FROM reconciliation.log WHERE event_id = :e", e=refund["event_id"])
        assert log["created_object_id"] == refund["id"]


def test_settled_then_charged_back_on_a_later_day_gets_its_external_refund(world):
    server, engine, ids, _ = world
    events = gateway_events(engine, ids["payment_settled_then_charged_back"])
    assert [(e["gocardless_action"], e["gateway_event"], e["job_number"]) for e in events if e["gateway_event"] != "Unknown"] == [
        ("confirmed", "TransactionSettled", D1.job_number),
        ("charged_back", "TransactionReversed", D2.job_number),
    ]
    assert changes(engine, events[-1]["event_id"]) == [("external_refund", None, REVERSAL)]
    assert events[-1]["outcome"] == f"external refund {REVERSAL}"
    assert state_of(engine, "Payment", ids["payment_settled_then_charged_back"]) == ("Settled", D1.day)


def test_unknown_actions_are_kept_with_no_action(world):
    server, engine, ids, _ = world
    unknown = rows(engine, "SELECT * FROM reconciliation.gateway_events WHERE gateway_event = 'Unknown'")
    mapped = {(mapping.object_name(rt), a) for rt, a in mapping.MAPPING}
    assert unknown and all((e["object"], e["gocardless_action"]) not in mapped for e in unknown)
    assert {e["action"] for e in unknown} == {"none"}
    # e.g. the paid_out of a payment: matched, nothing changed
    (paid_out,) = [e for e in gateway_events(engine, ids["payment_settled_then_charged_back"]) if e["gocardless_action"] == "paid_out"]
    assert (paid_out["gateway_event"], paid_out["matched"], paid_out["outcome"]) == ("Unknown", True, "no action")
    assert changes(engine, paid_out["event_id"]) == []
    # the only thing an Unknown event may record is a payment's progress before settlement
    logged = rows(engine, "SELECT l.change, l.after_value FROM reconciliation.log l JOIN reconciliation.gateway_events e "
                          "ON e.event_id = l.event_id WHERE e.gateway_event = 'Unknown'")
    assert {(r["change"], r["after_value"]) for r in logged} <= {("gateway_state", "NotSubmitted"), ("gateway_state", "Submitted")}


def test_an_event_whose_payment_is_not_in_the_warehouse_is_kept_unmatched(world):
    server, engine, ids, reports = world
    (confirmed,) = [e for e in gateway_events(engine, ids["payment_unlanded"]) if e["gocardless_action"] == "confirmed"]
    assert (confirmed["gateway_event"], confirmed["matched"], confirmed["matched_transaction_id"]) == ("TransactionSettled", False, None)
    assert confirmed["unmatched_reason"] == "payment transaction not in warehouse"
    assert (confirmed["amount"], confirmed["currency"]) == (Decimal("20.00"), "GBP")  # from the API (include=payment)
    assert changes(engine, confirmed["event_id"]) == []
    assert reports[D3].events_unmatched == 1


def test_a_mandate_the_warehouse_lacks_becomes_a_payment_method_from_the_api(world):
    server, engine, ids, _ = world
    (cancelled,) = [e for e in gateway_events(engine, ids["mandate_unlanded"]) if e["gocardless_action"] == "cancelled"]
    assert cancelled["matched"] is True
    assert changes(engine, cancelled["event_id"]) == [("status", None, "Closed")]
    (method,) = rows(engine, "SELECT * FROM commerce.payment_methods WHERE source_id = :id", id=ids["mandate_unlanded"])
    assert (method["status"], method["scheme"], method["source_status"], method["user_id"]) == ("Closed", "bacs", "cancelled", scenario.USER)
    assert method["updated_at"] == cancelled["event_time"]


def test_daily_summaries_and_job_status(world):
    server, engine, ids, reports = world
    assert {p: r.status for p, r in reports.items()} == {D1: "Completed", D2: "Completed", D3: "Completed"}
    (summary,) = job.merchant_summaries(engine, D1)
    assert summary["status"] == "Completed" and summary["error"] is None and summary["attempts"] == 1
    assert {k: v for k, v in summary["events_by_gateway_event"].items() if k != "Unknown"} == {
        "MandateCanceled": 2, "MandateExpired": 1, "MandateRejected": 2, "TransactionRejected": 4,
        "TransactionReversed": 2, "TransactionSettled": 5,
    }
    assert summary["events_total"] == sum(summary["events_by_gateway_event"].values())
    assert (summary["settled_amounts"], summary["rejected_amounts"], summary["reversed_amounts"]) == (
        {"GBP": "100.00"}, {"GBP": "80.00"}, {"GBP": "40.00"})
    assert (summary["events_unmatched"], summary["external_refunds"], summary["payment_methods_changed"]) == (0, 2, 5)
    assert summary["api_requests"] >= 4
    (d3,) = job.merchant_summaries(engine, D3)
    assert d3["refunds_settled_amounts"] == {"GBP": "10.00"}  # two refunds, each counted once
    (jobs,) = rows(engine, "SELECT * FROM reconciliation.jobs WHERE job_number = :j", j=D3.job_number)
    assert (jobs["status"], jobs["merchants_total"], jobs["merchants_completed"], jobs["events_unmatched"]) == ("Completed", 1, 1, 1)
    assert (jobs["period_start"], jobs["period_end"]) == (datetime(2026, 11, 3), datetime(2026, 11, 4))
    lines = job.summary_lines(engine, "2026-11-03")
    assert lines[0].startswith("Gateway reconciliation 2026-11-03 (job 20261103): Completed - 1 merchant(s), 0 in Error")
    assert "1 unmatched" in lines[1] and "refunds settled 10.00 GBP" in lines[1]


def _dump(engine) -> dict[str, list]:
    """Everything a period's run writes, minus the job bookkeeping times."""
    tables = {table: f"SELECT * FROM {table}" for table in RECONCILIATION_TABLES}
    tables["commerce.payment_methods"] = "SELECT * FROM commerce.payment_methods"
    tables["commerce.transactions"] = "SELECT id, gateway_state, settled_on FROM commerce.transactions"
    tables["reconciliation.merchant_summaries"] = (
        "SELECT job_number, data_connection_id, status, events_total, events_matched, events_unmatched, "
        "CAST(events_by_gateway_event AS VARCHAR), CAST(settled_amounts AS VARCHAR), CAST(reversed_amounts AS VARCHAR), "
        "external_refunds, payment_methods_changed FROM reconciliation.merchant_summaries")
    with transaction(engine) as conn:
        return {name: sorted((tuple(str(v) for v in r) for r in conn.execute(sa.text(sql)).all())) for name, sql in tables.items()}


def test_rerunning_periods_changes_nothing_even_after_later_days(world):
    server, engine, ids, _ = world
    before = _dump(engine)
    for period in (D1, D3, D2):  # D1 again after D2 reinstated what D1 closed
        assert scenario.reconcile(server, engine, period).status == "Completed"
    after = _dump(engine)
    for name in before:
        assert set(after[name]) ^ set(before[name]) == set(), name
    assert after == before
    assert state_of(engine, "Mandate", ids["mandate_reinstated"])[0] == "Active"
    (jobs,) = rows(engine, "SELECT attempts FROM reconciliation.jobs WHERE job_number = :j", j=D1.job_number)
    assert jobs["attempts"] == 2


def test_reversal_refunds_can_be_switched_off(world):
    server, engine, ids, _ = world
    scenario.reconcile(server, engine, D2, reversal_refunds=False)
    (charged_back,) = [e for e in gateway_events(engine, ids["payment_settled_then_charged_back"])
                       if e["gocardless_action"] == "charged_back"]
    assert (charged_back["gateway_event"], charged_back["outcome"]) == (
        "TransactionReversed", "no action (reversal refunds are switched off)")
    assert rows(engine, "SELECT id FROM reconciliation.external_refunds WHERE job_number = :j", j=D2.job_number) == []
    scenario.reconcile(server, engine, D2)
    assert len(rows(engine, "SELECT id FROM reconciliation.external_refunds WHERE job_number = :j", j=D2.job_number)) == 1


def test_a_failing_api_marks_the_merchant_error_and_a_retry_completes_it(world):
    server, engine, ids, _ = world
    from gocardless_commerce.client import GoCardlessClient
    from gocardless_commerce.client.errors import InternalError

    before = _dump(engine)
    (target,) = job.start_job(engine, D3, [scenario.connection()])
    put_faults(server, error_rate=1.0)
    try:
        with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(InternalError) as failure:
                job.reconcile_merchant(engine, client, target)
        job.mark_merchant_error(engine, target, failure.value)
    finally:
        put_faults(server, error_rate=0.0)
    report = job.finish_job(engine, D3)
    assert report.status == "Error" and report.error.startswith(f"Merchant {scenario.USER} ({DC}): InternalError")
    (part,) = job.merchant_summaries(engine, D3)
    assert (part["status"], part["attempts"]) == ("Error", 1)
    assert _dump(engine)["reconciliation.gateway_events"] == before["reconciliation.gateway_events"]  # the last result stays

    with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url) as client:  # Airflow's retry
        job.reconcile_merchant(engine, client, target)
    assert job.finish_job(engine, D3).status == "Completed"
    (part,) = job.merchant_summaries(engine, D3)
    assert (part["status"], part["error"], part["attempts"]) == ("Completed", None, 2)
    assert _dump(engine) == before


def test_deleting_the_data_connection_deletes_its_reconciliation_rows(world, registry_snapshot):
    server, engine, ids, _ = world
    from gocardless_commerce.registry import Registry

    now = datetime(2026, 11, 4)
    with transaction(engine) as conn:
        conn.execute(sa.text("INSERT INTO meta.users (id, name, legal_identifiers, created_at, updated_at) "
                             "VALUES (:u, 'Recon', CAST('{}' AS JSON), :now, :now)"), {"u": scenario.USER, "now": now})
        conn.execute(sa.text(
            "INSERT INTO meta.data_connections (id, user_id, provider_name, requested_data_types, status, airflow_conn_id, "
            "created_at, updated_at) VALUES (:dc, :u, 'gocardless', CAST('[]' AS JSON), 'CONNECTED', 'gocardless_dc_recon', :now, :now)"),
            {"dc": DC, "u": scenario.USER, "now": now})
    Registry(engine, registry_snapshot).delete(scenario.USER)
    for table in (*RECONCILIATION_TABLES, "reconciliation.merchant_summaries", "commerce.payment_methods"):
        assert rows(engine, f"SELECT count(*) AS n FROM {table} WHERE data_connection_id = :dc", dc=DC) == [{"n": 0}]
