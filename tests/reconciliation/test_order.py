"""The reconciliation's final state does not depend on the order days are reconciled in.

One sandbox merchant lives three days in which the order matters if the job applies a day on top
of whatever state the warehouse holds: a payment fails on day 1 and GoCardless is asked to retry
it on day 3; a mandate is cancelled on day 1 and reinstated on day 2; a payment is confirmed on
day 2 and charged back on day 3. Every order of the three days, each followed by a rerun of the
first one (a catch-up after later days), must leave the same transactions, payment methods and
external refunds as reconciling the days in calendar order.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
import sqlalchemy as sa

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.reconciliation.store import PERIOD_TABLES, seed_payment_methods
from gocardless_commerce.warehouse.engine import transaction
from gocardless_sandbox import SandboxServer
from tests.fixtures.sandbox import PINNED_NOW, small_config
from tests.reconciliation import scenario
from tests.reconciliation.scenario import D1, D2, D3, DC, USER

DAYS = (D1, D2, D3)


def play(server) -> dict[str, str]:
    assert server.now == PINNED_NOW
    with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url) as client:
        m = scenario.Merchant(client)
        paying = m.mandate("mandate_paying")
        m.mandate("mandate_closed_then_reinstated")
        m.payment("payment_failed_then_retried", paying)
        m.payment("payment_confirmed_then_charged_back", paying)
        m.simulate("payment_failed", "payment_failed_then_retried")
        m.simulate("mandate_cancelled", "mandate_closed_then_reinstated")
        server.advance(days=1)
        m.simulate("mandate_reinstated", "mandate_closed_then_reinstated")
        m.simulate("payment_confirmed", "payment_confirmed_then_charged_back")
        server.advance(days=1)
        client.post(f"/payments/{m.ids['payment_failed_then_retried']}/actions/retry", {"data": {}})
        m.simulate("payment_charged_back", "payment_confirmed_then_charged_back")
        server.advance(days=1)
        return m.ids


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def landed(request, tmp_path_factory):
    engine = scenario.migrated_warehouse(request, tmp_path_factory, "order")
    with SandboxServer(small_config(merchants=1, payments_per_merchant=20)) as server:
        ids = play(server)
        scenario.land(server, engine, ids)
        yield server, engine, ids


def _forget_reconciliation(engine) -> None:
    """Back to the state before any day was reconciled (payment methods seeded from raw)."""
    with transaction(engine) as conn:
        for table in (*PERIOD_TABLES, "reconciliation.merchant_summaries", "reconciliation.jobs"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE commerce.transactions SET gateway_state = NULL, settled_on = NULL"))
        conn.execute(sa.text("DELETE FROM commerce.payment_methods"))
        seed_payment_methods(conn, USER, DC)


def _final_state(engine) -> dict[str, list[tuple]]:
    queries = {
        "transactions": "SELECT source_id, gateway_state, settled_on FROM commerce.transactions "
                        "WHERE gateway_state IS NOT NULL OR settled_on IS NOT NULL",
        "payment_methods": "SELECT * FROM commerce.payment_methods",
        "external_refunds": "SELECT * FROM reconciliation.external_refunds",
        "gateway_events": "SELECT event_id, gateway_event, matched, matched_transaction_id, matched_payment_method_id "
                          "FROM reconciliation.gateway_events",
    }
    with transaction(engine) as conn:
        return {name: sorted(tuple(str(v) for v in row) for row in conn.execute(sa.text(sql)).all())
                for name, sql in queries.items()}


def _reconcile(server, engine, order) -> dict[str, list[tuple]]:
    _forget_reconciliation(engine)
    for period in (*order, order[0]):  # and the first day again, after the later ones
        assert scenario.reconcile(server, engine, period).status == "Completed"
    return _final_state(engine)


def test_every_order_of_days_and_reruns_ends_in_the_same_state(landed):
    server, engine, ids = landed
    expected = _reconcile(server, engine, DAYS)
    states = {row[0]: row[1:] for row in expected["transactions"]}
    assert states[ids["payment_failed_then_retried"]] == ("FailedToSettle", "None")  # failed, retry asked later
    assert states[ids["payment_confirmed_then_charged_back"]] == ("Settled", str(D2.day))
    assert len(expected["external_refunds"]) == 1
    methods = {row[4]: row[6] for row in expected["payment_methods"]}  # source_id → status
    assert methods[ids["mandate_closed_then_reinstated"]] == "Active"
    # payment methods are dated by the data (the mandate's events), never by the wall clock
    assert all(datetime.fromisoformat(row[-1]) <= D3.end for row in expected["payment_methods"])
    for order in itertools.permutations(DAYS):
        assert _reconcile(server, engine, order) == expected, [str(p) for p in order]
