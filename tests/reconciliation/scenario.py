"""One sandbox merchant's three days that exercise every row of the mapping table.

Clock starts at ``PINNED_NOW`` (2026-11-01 00:00 UTC). Scenario simulators act at the clock's
instant, so what is simulated on day N lands in period N:

* **D1** (2026-11-01): payments confirmed, failed, cancelled, approval denied, charged back,
  late failure settled, paid out (charged back on D2), confirmed (refunded on D3); mandates
  cancelled, failed, expired, and cancelled / failed again to be reinstated / resubmitted on D2.
* **D2**: the mandates reinstated and resubmitted; the paid-out payment charged back.
* **D3**: two refunds of the confirmed payment, one paid and one settled; a payment confirmed
  and a mandate cancelled that the warehouse will not know (:data:`NOT_LANDED`).

:func:`land` then syncs the account and builds the commerce model, as the merchant DAG would,
and forgets the records of :data:`NOT_LANDED`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from gocardless_commerce.extract import sync
from gocardless_commerce.model import stages
from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.reconciliation import job
from gocardless_commerce.reconciliation.period import Period
from gocardless_commerce.reconciliation.store import seed_payment_methods
from gocardless_commerce.registry import DataConnection
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.sandbox import PINNED_NOW

USER, DC = "recon-user", "dc-recon"
D1, D2, D3 = (Period(date(2026, 11, 1) + timedelta(days=n)) for n in range(3))
GB_IBAN = "GB82WEST12345698765432"
PAYMENT_AMOUNT = 2000  # pence
REFUND_AMOUNT = 500
#: simulated only after the sync: not in the warehouse
NOT_LANDED = ("payment_unlanded", "mandate_unlanded")


def connection(user_id: str = USER, dc: str = DC, conn_id: str = "gocardless_dc_recon") -> DataConnection:
    return DataConnection(dc, user_id, f"Merchant {user_id}", "CONNECTED", None, conn_id, ())


class Merchant:
    """Writes and scenario simulators through the project's own client."""

    def __init__(self, client: GoCardlessClient) -> None:
        self.client = client
        self.ids: dict[str, str] = {}

    def create(self, resource: str, name: str | None = None, **data: Any) -> dict[str, Any]:
        record = self.client.post(f"/{resource}", {resource: data})[resource]
        if name:
            self.ids[name] = record["id"]
        return record

    def mandate(self, name: str, **options: Any) -> str:
        customer = self.create("customers", email=f"{name}@example.com", given_name="Ada", family_name=name, country_code="GB")
        account = self.create("customer_bank_accounts", iban=GB_IBAN, account_holder_name="Ada", links={"customer": customer["id"]})
        return self.create("mandates", name, links={"customer_bank_account": account["id"]}, **options)["id"]

    def payment(self, name: str, mandate: str, amount: int = PAYMENT_AMOUNT) -> str:
        return self.create("payments", name, amount=amount, currency="GBP", links={"mandate": mandate})["id"]

    def simulate(self, scenario: str, name: str) -> None:
        self.client.post(f"/scenario_simulators/{scenario}/actions/run", {"data": {"links": {"resource": self.ids[name]}}})


def play(server, before_simulations: Callable[[], None] = lambda: None) -> dict[str, str]:
    """Play the three days on the sandbox (clock ends at D3 + 1 day); returns name → GoCardless id.

    ``before_simulations`` runs once D1's records exist, before anything happens to them (to
    land the mandates as active payment methods, as a sync at that moment would).
    """
    assert server.now == PINNED_NOW
    with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url) as client:
        m = Merchant(client)
        # D1
        paying = m.mandate("mandate_paying")
        approval = m.mandate("mandate_approval", payments_require_approval=True)
        for name in ("mandate_cancelled", "mandate_failed", "mandate_expired", "mandate_reinstated", "mandate_resubmitted"):
            m.mandate(name)
        for name in ("payment_confirmed", "payment_failed", "payment_cancelled", "payment_charged_back",
                     "payment_late_failure_settled", "payment_settled_then_charged_back", "payment_refunded"):
            m.payment(name, paying)
        m.payment("payment_denied", approval)
        before_simulations()
        for scenario, name in (
            ("payment_confirmed", "payment_confirmed"), ("payment_failed", "payment_failed"),
            ("payment_cancelled", "payment_cancelled"), ("payment_customer_approval_denied", "payment_denied"),
            ("payment_charged_back", "payment_charged_back"), ("payment_late_failure_settled", "payment_late_failure_settled"),
            ("payment_paid_out", "payment_settled_then_charged_back"), ("payment_confirmed", "payment_refunded"),
            ("mandate_cancelled", "mandate_cancelled"), ("mandate_failed", "mandate_failed"),
            ("mandate_expired", "mandate_expired"), ("mandate_cancelled", "mandate_reinstated"),
            ("mandate_failed", "mandate_resubmitted"),
        ):
            m.simulate(scenario, name)
        server.advance(days=1)
        # D2
        m.simulate("mandate_reinstated", "mandate_reinstated")
        m.simulate("mandate_resubmission_requested", "mandate_resubmitted")
        m.simulate("payment_charged_back", "payment_settled_then_charged_back")
        server.advance(days=1)
        # D3
        m.create("refunds", "refund_paid", amount=REFUND_AMOUNT, links={"payment": m.ids["payment_refunded"]})
        m.create("refunds", "refund_settled", amount=REFUND_AMOUNT, links={"payment": m.ids["payment_refunded"]})
        m.simulate("refund_paid", "refund_paid")
        m.simulate("refund_settled", "refund_settled")
        m.payment("payment_unlanded", paying)
        m.simulate("payment_confirmed", "payment_unlanded")
        m.mandate("mandate_unlanded")
        m.simulate("mandate_cancelled", "mandate_unlanded")
        server.advance(days=1)
        return m.ids


def land_raw(server, engine, *, user_id: str = USER, dc: str = DC, merchant_index: int = 0) -> None:
    """Sync the merchant into ``raw`` and seed its payment methods (what the sync DAG does)."""
    request = sync.SyncRequest(user_id=user_id, data_connection_id=dc, run_id=f"sync-{server.now:%Y%m%d}",
                               now=server.now, history_months=18)
    with GoCardlessClient(server.merchants[merchant_index].access_token, base_url=server.base_url) as client:
        sync.sync_data_connection(client, engine, request)
    with transaction(engine) as conn:
        seed_payment_methods(conn, user_id, dc)


def land(server, engine, ids: dict[str, str], *, user_id: str = USER, dc: str = DC, merchant_index: int = 0) -> None:
    """Sync the merchant and build its commerce model; then forget the :data:`NOT_LANDED` records."""
    land_raw(server, engine, user_id=user_id, dc=dc, merchant_index=merchant_index)
    run = stages.ModelRun(user_id=user_id, data_connection_id=dc, run_id=f"model-{dc}", now=server.now,
                            history_months=18, data_types=("COMMERCE_TRANSACTION",))
    for stage in (stages.transform, stages.validate, stages.build_insights, stages.load):
        stage(engine, run)
    forget = [  # (record, table, its column holding the record's id, the id)
        ("payment_unlanded", "commerce.transactions", "id", commerce_id(dc, "payment", ids.get("payment_unlanded", ""))),
        ("mandate_unlanded", "raw.gocardless_mandates", "id", ids.get("mandate_unlanded")),
        ("mandate_unlanded", "commerce.payment_methods", "source_id", ids.get("mandate_unlanded")),
    ]
    with transaction(engine) as conn:
        for name, table, column, row_id in forget:
            if name in ids:
                conn.execute(sa.text(f"DELETE FROM {table} WHERE data_connection_id = :dc AND {column} = :id"), {"dc": dc, "id": row_id})

def reconcile(server, engine, period: Period, *, reversal_refunds: bool = True):
    """Run the period's job for the scenario's merchant, as the DAG's three tasks would."""
    targets = job.start_job(engine, period, [connection()], run_id=f"test-{period}", reversal_refunds=reversal_refunds)
    with GoCardlessClient(server.merchants[0].access_token, base_url=server.base_url) as client:
        job.reconcile_merchant(engine, client, targets[0])
    return job.finish_job(engine, period)


def migrated_warehouse(request, tmp_path_factory, name: str):
    """A fresh, migrated warehouse for a module fixture parametrised ``duckdb`` / ``postgres``."""
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations
    from tests.fixtures.warehouse import _reset_postgres

    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp(name) / 'warehouse.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(url)
    engine = get_engine(url)
    apply_migrations(engine)
    return engine
