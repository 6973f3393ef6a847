"""Writes and scenario simulators on a private sandbox (they change data)."""

from __future__ import annotations

import pytest

from gocardless_sandbox.lifecycle import carried_payouts
from gocardless_sandbox.simulation import REFUND_NOT_POSSIBLE
from tests.sandbox.conftest import Api, api_for, error_of

IBANS = {
    "GB": ("GB82WEST12345698765432", "GBP", "bacs"),
    "DE": ("DE89370400440532013000", "EUR", "sepa_core"),
    "FR": ("FR1420041010050500013M02606", "EUR", "sepa_core"),
    "NL": ("NL91ABNA0417164300", "EUR", "sepa_core"),
    "SE": ("SE4550000000058398257466", "SEK", "autogiro"),
    "DK": ("DK5000400440116243", "DKK", "betalingsservice"),
}


@pytest.fixture(scope="module")
def server():
    from tests.fixtures.sandbox import small_config
    from gocardless_sandbox import SandboxServer

    with SandboxServer(small_config(payments_per_merchant=80)) as running:
        yield running


@pytest.fixture(scope="module")
def api(server) -> Api:
    return api_for(server, 0)


def created(response) -> dict:
    assert response.status_code == 201, response.text
    (key,) = response.json()
    return response.json()[key]


def new_mandate(api: Api, country: str = "GB") -> dict:
    customer = created(api.post("/customers", {"customers": {"email": f"{country.lower()}@example.com", "given_name": "Ada",
                                                              "family_name": "Lovelace", "country_code": country}}))
    account = created(api.post("/customer_bank_accounts", {"customer_bank_accounts": {
        "iban": IBANS[country][0], "account_holder_name": "Ada Lovelace", "links": {"customer": customer["id"]}}}))
    return created(api.post("/mandates", {"mandates": {"links": {"customer_bank_account": account["id"]}}}))


def new_payment(api: Api, mandate: dict, amount: int = 1500) -> dict:
    currency = IBANS[{"bacs": "GB", "sepa_core": "DE", "autogiro": "SE", "betalingsservice": "DK"}[mandate["scheme"]]][1]
    return created(api.post("/payments", {"payments": {"amount": amount, "currency": currency, "links": {"mandate": mandate["id"]}}}))


def actions(api: Api, resource_filter: str, record_id: str) -> list[str]:
    return [e["action"] for e in reversed(api.walk("/events", **{resource_filter: record_id}))]


@pytest.mark.parametrize("country", sorted(IBANS))
def test_iban_picks_country_currency_and_scheme(api, country):
    iban, currency, scheme = IBANS[country]
    mandate = new_mandate(api, country)
    account = api.get(f"/customer_bank_accounts/{mandate['links']['customer_bank_account']}").json()["customer_bank_accounts"]
    assert (account["country_code"], account["currency"], account["account_number_ending"]) == (country, currency, iban[-2:])
    assert mandate["scheme"] == scheme and mandate["status"] == "pending_submission"
    assert actions(api, "mandate", mandate["id"]) == ["created"]


def test_local_bank_details_and_invalid_iban(api):
    customer = created(api.post("/customers", {"customers": {"given_name": "Grace", "family_name": "Hopper"}}))
    account = created(api.post("/customer_bank_accounts", {"customer_bank_accounts": {
        "account_number": "55779911", "branch_code": "200000", "country_code": "GB", "account_holder_name": "G Hopper",
        "links": {"customer": customer["id"]}}}))
    assert (account["currency"], account["account_number_ending"]) == ("GBP", "11")
    bad = api.post("/customer_bank_accounts", {"customer_bank_accounts": {"iban": "GB00WEST12345698765432",
                                                                          "links": {"customer": customer["id"]}}})
    assert bad.status_code == 422 and error_of(bad)["errors"][0]["field"] == "iban"


def test_only_the_eight_currencies_are_accepted(api):
    mandate = new_mandate(api, "GB")
    for currency in ("JPY", "CHF", None):
        response = api.post("/payments", {"payments": {"amount": 100, "currency": currency, "links": {"mandate": mandate["id"]}}})
        assert response.status_code == 422
        error = error_of(response)
        assert error["type"] == "validation_failed" and error["errors"][0]["field"] == "currency"
    mismatched = api.post("/payments", {"payments": {"amount": 100, "currency": "EUR", "links": {"mandate": mandate["id"]}}})
    assert mismatched.status_code == 422 and error_of(mismatched)["errors"][0]["field"] == "currency"
    assert new_payment(api, mandate)["status"] == "pending_submission"


def test_refund_needs_a_payment_confirmed_two_days_ago(server, api):
    payment = new_payment(api, new_mandate(api), amount=5000)
    refund_body = {"refunds": {"amount": 1000, "links": {"payment": payment["id"]}}}
    for _ in range(2):
        response = api.post("/refunds", refund_body)
        assert response.status_code == 422
        error = error_of(response)
        assert (error["type"], error["message"]) == ("invalid_state", REFUND_NOT_POSSIBLE)
        assert api.post("/scenario_simulators/payment_confirmed/actions/run",
                        {"scenario_simulators": {"links": {"resource": payment["id"]}}}).status_code in (200, 422)
    server.advance(days=2)
    refund = created(api.post("/refunds", refund_body))
    assert (refund["amount"], refund["status"], refund["links"]["payment"]) == (1000, "created", payment["id"])
    assert api.get(f"/payments/{payment['id']}").json()["payments"]["amount_refunded"] == 1000
    too_much = api.post("/refunds", {"refunds": {"amount": 4001, "links": {"payment": payment["id"]}}})
    assert too_much.status_code == 422


def test_customer_removal_is_a_hard_delete(server, api):
    organisation_id = server.merchants[0].organisation_id
    customer = created(api.post("/customers", {"customers": {"email": "gone@example.com"}}))
    before = server.store.count(organisation_id, "customers")
    assert api.delete(f"/customers/{customer['id']}").status_code == 200
    assert api.get(f"/customers/{customer['id']}").status_code == 404
    assert customer["id"] not in {c["id"] for c in api.walk("/customers", limit=500)}
    assert server.store.count(organisation_id, "customers") == before - 1
    assert api.delete(f"/customers/{customer['id']}").status_code == 404


def test_cancel_payment(api):
    payment = new_payment(api, new_mandate(api))
    response = api.post(f"/payments/{payment['id']}/actions/cancel", {"data": {}})
    assert response.status_code == 200 and response.json()["payments"]["status"] == "cancelled"
    again = api.post(f"/payments/{payment['id']}/actions/cancel", {"data": {}})
    assert again.status_code == 422 and error_of(again)["type"] == "invalid_state"


def test_idempotency_key_conflict(api):
    body = {"customers": {"email": "idem@example.com"}}
    first = created(api.post("/customers", body, **{"Idempotency-Key": "key-1"}))
    conflict = api.post("/customers", body, **{"Idempotency-Key": "key-1"})
    assert conflict.status_code == 409
    error = error_of(conflict)
    assert error["errors"][0]["reason"] == "idempotent_creation_conflict"
    assert error["errors"][0]["links"]["conflicting_resource_id"] == first["id"]


PAYMENT_SCENARIOS = [
    ("payment_confirmed", "confirmed", ["created", "submitted", "confirmed"]),
    ("payment_paid_out", "paid_out", ["created", "submitted", "confirmed", "paid_out"]),
    ("payment_failed", "failed", ["created", "submitted", "failed"]),
    ("payment_charged_back", "charged_back", ["created", "submitted", "confirmed", "paid_out", "charged_back"]),
    ("payment_chargeback_settled", "charged_back", ["created", "submitted", "confirmed", "paid_out", "charged_back", "chargeback_settled"]),
    ("payment_late_failure_settled", "failed", ["created", "submitted", "confirmed", "paid_out", "failed", "late_failure_settled"]),
    ("payment_cancelled", "cancelled", ["created", "cancelled"]),
]


#: Scenarios whose movements net to zero on one day: no payout, the balance waits for the next one.
NOTHING_TO_PAY_OUT = {"payment_chargeback_settled", "payment_late_failure_settled"}


def carried_payout_ids(server, currency: str) -> set[str]:
    carry = carried_payouts(server.store, server.merchants[0].organisation_id).get(currency, {"parts": []})
    return {payout_id for payout_id, _ in carry["parts"]}


@pytest.mark.parametrize(("scenario", "status", "expected_actions"), PAYMENT_SCENARIOS)
def test_payment_scenarios(server, api, scenario, status, expected_actions):
    payment = new_payment(api, new_mandate(api))
    response = api.post(f"/scenario_simulators/{scenario}/actions/run", {"scenario_simulators": {"links": {"resource": payment["id"]}}})
    assert response.status_code == 200, response.text
    assert response.json() == {"scenario_simulators": {"id": scenario, "links": {"resource": payment["id"]}}}
    current = api.get(f"/payments/{payment['id']}").json()["payments"]
    assert current["status"] == status
    assert actions(api, "payment", payment["id"]) == expected_actions
    if scenario in NOTHING_TO_PAY_OUT:  # paid out and taken back at once: the balance is carried forward
        assert api.get(f"/payouts/{current['links']['payout']}").status_code == 404
        assert current["links"]["payout"] in carried_payout_ids(server, "GBP")
    elif "paid_out" in expected_actions:
        items = api.walk("/payout_items", payout=current["links"]["payout"])
        assert {"payment_paid_out", "gocardless_fee"} <= {i["type"] for i in items if i["links"]["payment"] == payment["id"]}
    server.advance(days=5)  # planned steps were replaced by the simulator: nothing else happens
    assert api.get(f"/payments/{payment['id']}").json()["payments"]["status"] == status


def test_a_carried_balance_is_paid_by_the_next_positive_payout(server, api):
    """A chargeback settled on a day with nothing else creates no payout; the next payment paid
    out in that currency pays it, and every item, event and payment names that payout."""
    charged_back, paid = new_payment(api, new_mandate(api)), new_payment(api, new_mandate(api), amount=500_000)
    run = "/scenario_simulators/{}/actions/run"
    for payment, scenario in ((charged_back, "payment_chargeback_settled"), (paid, "payment_paid_out")):
        body = {"scenario_simulators": {"links": {"resource": payment["id"]}}}
        assert api.post(run.format(scenario), body).status_code == 200
    payout_id = api.get(f"/payments/{paid['id']}").json()["payments"]["links"]["payout"]
    payout = api.get(f"/payouts/{payout_id}").json()["payouts"]
    items = api.walk("/payout_items", payout=payout_id)
    assert payout["amount"] == round(sum(float(item["amount"]) for item in items)) > 0
    assert {"payment_paid_out", "payment_charged_back"} <= {i["type"] for i in items if i["links"].get("payment") == charged_back["id"]}
    assert api.get(f"/payments/{charged_back['id']}").json()["payments"]["links"]["payout"] == payout_id
    settled = [e for e in api.walk("/events", payment=charged_back["id"]) if e["action"] in ("paid_out", "chargeback_settled")]
    assert [e["links"]["payout"] for e in settled] == [payout_id, payout_id]
    assert carried_payout_ids(server, "GBP") == set()


def test_customer_approval_scenarios(api):
    plain = new_payment(api, new_mandate(api))
    refused = api.post("/scenario_simulators/payment_customer_approval_denied/actions/run", {"data": {"links": {"resource": plain["id"]}}})
    assert refused.status_code == 422 and error_of(refused)["type"] == "invalid_state"
    mandate = new_mandate(api)
    account = mandate["links"]["customer_bank_account"]
    approving = created(api.post("/mandates", {"mandates": {"payments_require_approval": True,
                                                            "links": {"customer_bank_account": account}}}))
    denied, granted = new_payment(api, approving), new_payment(api, approving)
    assert denied["status"] == granted["status"] == "pending_customer_approval"
    for payment, scenario in ((denied, "payment_customer_approval_denied"), (granted, "payment_customer_approval_granted")):
        assert api.post(f"/scenario_simulators/{scenario}/actions/run", {"data": {"links": {"resource": payment["id"]}}}).status_code == 200
    assert api.get(f"/payments/{denied['id']}").json()["payments"]["status"] == "customer_approval_denied"
    assert api.get(f"/payments/{granted['id']}").json()["payments"]["status"] == "pending_submission"
    assert actions(api, "payment", denied["id"]) == ["created", "customer_approval_denied"]


@pytest.mark.parametrize(
    ("scenarios", "status", "last_action"),
    [
        (["mandate_failed"], "failed", "failed"),
        (["mandate_expired"], "expired", "expired"),
        (["mandate_cancelled"], "cancelled", "cancelled"),
        (["mandate_cancelled", "mandate_reinstated"], "active", "reinstated"),
        (["mandate_failed", "mandate_resubmission_requested"], "pending_submission", "resubmission_requested"),
    ],
)
def test_mandate_scenarios(api, scenarios, status, last_action):
    mandate = new_mandate(api)
    for scenario in scenarios:
        response = api.post(f"/scenario_simulators/{scenario}/actions/run", {"data": {"links": {"resource": mandate["id"]}}})
        assert response.status_code == 200, response.text
    assert api.get(f"/mandates/{mandate['id']}").json()["mandates"]["status"] == status
    assert actions(api, "mandate", mandate["id"])[-1] == last_action


def test_mandate_cancellation_cancels_pending_payments_with_parent_event(api):
    mandate = new_mandate(api)
    payment = new_payment(api, mandate)
    api.post("/scenario_simulators/mandate_cancelled/actions/run", {"data": {"links": {"resource": mandate["id"]}}})
    mandate_event = api.get("/events", mandate=mandate["id"]).json()["events"][0]
    assert mandate_event["action"] == "cancelled"
    payment_event = api.get("/events", payment=payment["id"]).json()["events"][0]
    assert payment_event["action"] == "cancelled"
    assert payment_event["links"]["parent_event"] == mandate_event["id"]
    assert payment_event["details"]["cause"] == "mandate_cancelled"
    children = api.walk("/events", parent_event=mandate_event["id"])
    assert [e["id"] for e in children] == [payment_event["id"]]


@pytest.mark.parametrize(
    ("scenario", "status", "expected_actions"),
    [("refund_paid", "paid", ["created", "paid"]), ("refund_settled", "paid", ["created", "paid", "refund_settled"]),
     ("refund_bounced", "bounced", ["created", "paid", "failed"])],
)
def test_refund_scenarios(server, api, scenario, status, expected_actions):
    organisation_id = server.merchants[0].organisation_id
    payment = new_payment(api, new_mandate(api), amount=4000)
    api.post("/scenario_simulators/payment_paid_out/actions/run", {"data": {"links": {"resource": payment["id"]}}})
    server.advance(days=3)
    refund = created(api.post("/refunds", {"refunds": {"amount": 4000, "links": {"payment": payment["id"]}}}))
    assert api.post(f"/scenario_simulators/{scenario}/actions/run", {"data": {"links": {"resource": refund["id"]}}}).status_code == 200
    assert server.store.get(organisation_id, "refunds", refund["id"])["status"] == status
    assert actions(api, "refund", refund["id"]) == expected_actions


def test_scenario_errors(api):
    mandate = new_mandate(api)
    wrong_type = api.post("/scenario_simulators/payment_paid_out/actions/run", {"data": {"links": {"resource": mandate["id"]}}})
    assert wrong_type.status_code == 422 and error_of(wrong_type)["type"] == "validation_failed"
    unknown = api.post("/scenario_simulators/no_such_thing/actions/run", {"data": {"links": {"resource": mandate["id"]}}})
    assert unknown.status_code == 404
    missing = api.post("/scenario_simulators/payment_paid_out/actions/run", {"data": {"links": {"resource": "PM00MISSING000"}}})
    assert missing.status_code == 404


def test_writes_to_another_organisations_records_fail(server, api):
    other = api_for(server, 1)
    mandate = new_mandate(api)
    response = other.post("/payments", {"payments": {"amount": 100, "currency": "GBP", "links": {"mandate": mandate["id"]}}})
    assert response.status_code == 422 and error_of(response)["errors"][0]["field"] == "links[mandate]"
    assert other.post("/scenario_simulators/mandate_failed/actions/run",
                      {"data": {"links": {"resource": mandate["id"]}}}).status_code == 404
