"""Proof of fidelity: the official ``gocardless_pro`` client works against the sandbox unchanged."""

from __future__ import annotations

import gocardless_pro
import pytest
from gocardless_pro import errors

LIST_SERVICES = ("payments", "subscriptions", "mandates", "refunds", "customers", "customer_bank_accounts",
                 "payouts", "creditors", "events")


@pytest.fixture(scope="module")
def client(sandbox):
    return gocardless_pro.Client(access_token=sandbox.merchants[0].access_token, base_url=sandbox.base_url)


@pytest.mark.parametrize("service", LIST_SERVICES)
def test_all_pages_of_every_list(sandbox, client, service):
    organisation_id = sandbox.merchants[0].organisation_id
    records = list(getattr(client, service).all(params={"limit": 500}))
    ids = [record.id for record in records]
    assert len(ids) == len(set(ids)) == sandbox.store.count(organisation_id, service)
    expected = {body["id"]: body for body in sandbox.store.all_bodies(organisation_id, service)}
    for record in records[:: max(1, len(records) // 20)]:
        assert record.attributes == expected[record.id]


def test_payout_items_of_every_recent_payout(sandbox, client):
    organisation_id = sandbox.merchants[0].organisation_id
    recent = [p for p in client.payouts.all(params={"created_at[gte]": "2026-05-02T00:00:00Z"})]
    assert recent
    total = 0
    for payout in recent:
        items = list(client.payout_items.all(params={"payout": payout.id, "limit": 500}))
        assert [item.attributes for item in items] == sandbox.store.payout_items(payout.id)
        assert abs(sum(float(item.amount) for item in items) - payout.amount) <= 0.5
        total += len(items)
    assert total == sandbox.store.conn.execute(
        "SELECT count(*) FROM payout_items i JOIN payouts p ON p.id = i.payout WHERE p.org = ? AND p.created_at >= '2026-05-02'",
        (organisation_id,),
    ).fetchone()[0]


def test_field_values_and_typed_accessors(sandbox, client):
    organisation_id = sandbox.merchants[0].organisation_id
    stored = sandbox.store.all_bodies(organisation_id, "payments")[-1]
    payment = client.payments.get(stored["id"])
    assert (payment.amount, payment.currency, payment.status, payment.charge_date) == (
        stored["amount"], stored["currency"], stored["status"], stored["charge_date"])
    assert payment.links.mandate == stored["links"]["mandate"]
    event = next(iter(client.events.list(params={"resource_type": "payments", "action": "paid_out"}).records))
    assert event.details.cause == "payment_paid_out" and event.links.payout.startswith("PO")
    page = client.events.list(params={"resource_type": "payments", "include": "payment", "limit": 10})
    assert page.api_response.body["linked"]["payments"]
    listing = client.payments.list(params={"limit": 5})
    assert len(listing.records) == 5 and listing.after == listing.records[-1].id


def test_errors_map_to_the_clients_exceptions(sandbox, client):
    with pytest.raises(errors.InvalidApiUsageError) as not_found:
        client.payments.get("PM00DOESNOTEXIST")
    assert not_found.value.code == 404 and not_found.value.request_id
    with pytest.raises(errors.ValidationFailedError):
        client.payments.list(params={"limit": 501})
    with pytest.raises(errors.AuthenticationError):
        gocardless_pro.Client(access_token="sandbox_wrong", base_url=sandbox.base_url).payments.list()
    old = sandbox.store.all_bodies(sandbox.merchants[0].organisation_id, "payouts")[-1]
    with pytest.raises(errors.InvalidApiUsageError) as gone:
        client.payout_items.list(params={"payout": old["id"]})
    assert gone.value.code == 410


def test_writes_and_scenario_simulators_through_the_client(sandbox_factory):
    server = sandbox_factory(payments_per_merchant=20)
    client = gocardless_pro.Client(access_token=server.merchants[0].access_token, base_url=server.base_url)
    customer = client.customers.create(params={"email": "client@example.com", "given_name": "Cli", "family_name": "Ent"})
    account = client.customer_bank_accounts.create(params={"iban": "DE89370400440532013000", "account_holder_name": "Cli Ent",
                                                           "links": {"customer": customer.id}})
    mandate = client.mandates.create(params={"links": {"customer_bank_account": account.id}})
    payment = client.payments.create(params={"amount": 2500, "currency": "EUR", "links": {"mandate": mandate.id}})
    assert (account.currency, mandate.scheme, payment.status) == ("EUR", "sepa_core", "pending_submission")
    client.scenario_simulators.run("payment_paid_out", params={"links": {"resource": payment.id}})
    assert client.payments.get(payment.id).status == "paid_out"
    with pytest.raises(errors.InvalidStateError) as refused:
        client.refunds.create(params={"amount": 100, "links": {"payment": payment.id}})
    assert refused.value.message == "A refund is not possible on this payment."
    with pytest.raises(errors.ValidationFailedError):
        client.payments.create(params={"amount": 100, "currency": "JPY", "links": {"mandate": mandate.id}})
    cancellable = client.payments.create(params={"amount": 900, "currency": "EUR", "links": {"mandate": mandate.id}})
    assert client.payments.cancel(cancellable.id).status == "cancelled"
    client.customers.remove(customer.id)
    with pytest.raises(errors.InvalidApiUsageError):
        client.customers.get(customer.id)
