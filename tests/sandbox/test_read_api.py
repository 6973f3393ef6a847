"""Reading the sandbox over HTTP: pagination, filters, events, auth scoping and errors."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import sandbox_headers
from tests.sandbox.conftest import api_for, error_of

LIST_RESOURCES = ("payments", "subscriptions", "mandates", "refunds", "customers", "customer_bank_accounts",
                  "payouts", "creditors", "events")


@pytest.fixture(scope="module")
def api(sandbox):
    return api_for(sandbox, 0)


@pytest.fixture(scope="module")
def merchant(sandbox):
    return sandbox.merchants[0]


@pytest.mark.parametrize("resource", LIST_RESOURCES)
def test_walking_every_list_returns_each_record_once(sandbox, api, merchant, resource):
    records = api.walk(f"/{resource}", limit=500 if resource == "events" else 37)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == sandbox.store.count(merchant.organisation_id, resource)
    keys = [(r["created_at"], r["id"]) for r in records]
    assert keys == sorted(keys, reverse=True)


def test_before_cursor_pages_back(api):
    first = api.get("/payments", limit=10).json()
    second = api.get("/payments", limit=10, after=first["meta"]["cursors"]["after"]).json()
    assert first["meta"]["cursors"]["before"] is None
    assert second["meta"]["cursors"]["before"] == second["payments"][0]["id"]
    back = api.get("/payments", limit=10, before=second["meta"]["cursors"]["before"]).json()
    assert [p["id"] for p in back["payments"]] == [p["id"] for p in first["payments"]]
    assert back["meta"]["cursors"]["before"] is None
    assert back["meta"]["cursors"]["after"] == first["payments"][-1]["id"]



def test_cursors_within_a_created_at_window(api):
    everything = api.walk("/events", limit=500)
    since = everything[len(everything) // 2]["created_at"]
    windowed = [e["id"] for e in everything if e["created_at"] >= since]
    first = api.get("/events", limit=10, **{"created_at[gte]": since}).json()
    second = api.get("/events", limit=10, after=first["meta"]["cursors"]["after"], **{"created_at[gte]": since}).json()
    assert [e["id"] for e in first["events"] + second["events"]] == windowed[:20]
    assert first["meta"]["cursors"]["before"] is None
    assert second["meta"]["cursors"]["before"] == second["events"][0]["id"]
    back = api.get("/events", limit=10, before=second["meta"]["cursors"]["before"], **{"created_at[gte]": since}).json()
    assert [e["id"] for e in back["events"]] == windowed[:10]
    # a window that ends before the cursor's page: nothing newer matches it
    upto = second["events"][-1]["created_at"]
    rest = api.get("/events", limit=10, after=second["events"][-1]["id"], **{"created_at[lte]": upto}).json()
    assert rest["events"] and all(e["created_at"] <= upto for e in rest["events"])
    assert rest["meta"]["cursors"]["before"] == (rest["events"][0]["id"] if any(
        e["created_at"] <= upto for e in everything if (e["created_at"], e["id"]) > (rest["events"][0]["created_at"], rest["events"][0]["id"])
    ) else None)

def test_ties_on_created_at_are_ordered_by_id(sandbox, api, merchant):
    # Payouts of one day share created_at within a currency batch; force ties with a tiny page.
    records = api.walk("/payouts", limit=2)
    assert len(records) == sandbox.store.count(merchant.organisation_id, "payouts")


def test_limit_default_max_and_validation(api):
    page = api.get("/events").json()
    assert len(page["events"]) == 50 and page["meta"]["limit"] == 50
    assert len(api.get("/events", limit=500).json()["events"]) == 500
    for bad in (501, 0, "abc"):
        response = api.get("/events", limit=bad)
        assert response.status_code == 422
        error = error_of(response)
        assert error["type"] == "validation_failed"
        assert error["errors"][0]["field"] == "limit"


def test_created_at_filters(sandbox, api, merchant):
    everything = sandbox.store.all_bodies(merchant.organisation_id, "payments")
    pivot = everything[len(everything) // 2]["created_at"]
    newer = api.walk("/payments", limit=500, **{"created_at[gt]": pivot})
    assert {p["id"] for p in newer} == {p["id"] for p in everything if p["created_at"] > pivot}
    at_or_older = api.walk("/payments", limit=500, **{"created_at[lte]": pivot})
    assert len(newer) + len(at_or_older) == len(everything)
    window = api.walk("/payments", limit=500, **{"created_at[gte]": "2026-01-01T00:00:00Z", "created_at[lt]": "2026-02-01"})
    assert window and all("2026-01" == p["created_at"][:7] for p in window)
    assert error_of(api.get("/payments", **{"created_at[gt]": "yesterday"}))["errors"][0]["field"] == "created_at[gt]"


@pytest.mark.parametrize(
    ("resource", "field", "path"),
    [
        ("payments", "status", ("status",)),
        ("payments", "currency", ("currency",)),
        ("payments", "scheme", ("scheme",)),
        ("payments", "mandate", ("links", "mandate")),
        ("payments", "subscription", ("links", "subscription")),
        ("mandates", "status", ("status",)),
        ("mandates", "customer", ("links", "customer")),
        ("mandates", "customer_bank_account", ("links", "customer_bank_account")),
        ("subscriptions", "status", ("status",)),
        ("subscriptions", "mandate", ("links", "mandate")),
        ("refunds", "payment", ("links", "payment")),
        ("customer_bank_accounts", "customer", ("links", "customer")),
        ("payouts", "currency", ("currency",)),
        ("payouts", "status", ("status",)),
        ("events", "action", ("action",)),
        ("events", "resource_type", ("resource_type",)),
    ],
)
def test_equality_filters(sandbox, api, merchant, resource, field, path):
    everything = sandbox.store.all_bodies(merchant.organisation_id, resource)

    def value_of(record):
        for key in path:
            record = record.get(key) if isinstance(record, dict) else None
        return record

    value = next(value_of(r) for r in everything if value_of(r) is not None)
    filtered = api.walk(f"/{resource}", limit=500, **{field: value})
    assert {r["id"] for r in filtered} == {r["id"] for r in everything if value_of(r) == value}


def test_customer_and_charge_date_filters_on_payments(sandbox, api, merchant):
    mandate = sandbox.store.all_bodies(merchant.organisation_id, "mandates")[-1]
    customer = mandate["links"]["customer"]
    by_customer = api.walk("/payments", limit=500, customer=customer)
    by_mandate = api.walk("/payments", limit=500, mandate=mandate["id"])
    assert by_customer and {p["id"] for p in by_customer} == {p["id"] for p in by_mandate}
    charged = api.walk("/payments", limit=500, **{"charge_date[gte]": "2026-03-01", "charge_date[lte]": "2026-03-31"})
    assert charged and all(p["charge_date"].startswith("2026-03") for p in charged)
    assert api.get("/payments", status="paid_out,failed").json()["payments"]


def test_enabled_filter_on_bank_accounts(sandbox, api, merchant):
    everything = sandbox.store.all_bodies(merchant.organisation_id, "customer_bank_accounts")
    enabled = api.walk("/customer_bank_accounts", limit=500, enabled="true")
    assert len(enabled) == sum(1 for b in everything if b["enabled"])


def test_events_include_returns_current_linked_records(sandbox, api, merchant):
    page = api.get("/events", resource_type="payments", include="payment", limit=100).json()
    linked = {p["id"]: p for p in page["linked"]["payments"]}
    assert {e["links"]["payment"] for e in page["events"]} == set(linked)
    some_id = next(iter(linked))
    assert linked[some_id] == sandbox.store.get(merchant.organisation_id, "payments", some_id)
    assert "linked" not in api.get("/events", resource_type="payments", limit=5).json()


def test_events_filter_rules(sandbox, api, merchant):
    payment = sandbox.store.all_bodies(merchant.organisation_id, "payments")[-1]
    events = api.walk("/events", payment=payment["id"])
    assert events and all(e["links"]["payment"] == payment["id"] and e["resource_type"] == "payments" for e in events)
    assert [e["action"] for e in events][-1] == "created"
    both = api.get("/events", payment=payment["id"], resource_type="payments")
    assert both.status_code == 422 and error_of(both)["type"] == "validation_failed"
    no_type = api.get("/events", include="payment")
    assert no_type.status_code == 422 and error_of(no_type)["errors"][0]["field"] == "include"


@pytest.mark.parametrize("resource", LIST_RESOURCES)
def test_get_by_id_and_unknown_id(sandbox, api, merchant, resource):
    record = sandbox.store.all_bodies(merchant.organisation_id, resource)[0]
    response = api.get(f"/{resource}/{record['id']}")
    assert response.status_code == 200
    assert response.json() == {resource: record}
    missing = api.get(f"/{resource}/XX000000000000")
    assert missing.status_code == 404
    assert error_of(missing)["errors"][0]["reason"] == "resource_not_found"


def test_tokens_are_scoped_to_one_organisation(sandbox):
    first, second = api_for(sandbox, 0), api_for(sandbox, 1)
    theirs = sandbox.store.all_bodies(sandbox.merchants[1].organisation_id, "payments")[0]
    assert second.get(f"/payments/{theirs['id']}").status_code == 200
    assert first.get(f"/payments/{theirs['id']}").status_code == 404
    mine = {p["id"] for p in first.walk("/payments", limit=500)}
    assert theirs["id"] not in mine
    assert first.get("/creditors").json()["creditors"][0]["id"] == sandbox.merchants[0].creditor_id


@pytest.mark.parametrize("authorization", [None, "Bearer sandbox_nope", "Basic abc", "Bearer "])
def test_bad_tokens_are_401(sandbox, authorization):
    headers = {"GoCardless-Version": "2015-07-06", **({"Authorization": authorization} if authorization else {})}
    response = requests.get(f"{sandbox.base_url}/payments", headers=headers, timeout=10)
    assert response.status_code == 401
    error = error_of(response)
    assert (error["type"], error["errors"][0]["reason"]) == ("invalid_api_usage", "unauthorized")


def test_version_header_is_required(sandbox, merchant):
    headers = sandbox_headers(merchant.access_token)
    del headers["GoCardless-Version"]
    missing = requests.get(f"{sandbox.base_url}/payments", headers=headers, timeout=10)
    assert missing.status_code == 400
    assert error_of(missing)["errors"][0]["reason"] == "missing_version_header"
    wrong = requests.get(f"{sandbox.base_url}/payments", headers={**headers, "GoCardless-Version": "2014-11-03"}, timeout=10)
    assert wrong.status_code == 400 and error_of(wrong)["errors"][0]["reason"] == "version_not_found"


def test_framework_errors_use_the_gocardless_envelope(api):
    unknown_path = api.get("/no_such_resource")
    assert unknown_path.status_code == 404 and error_of(unknown_path)["type"] == "invalid_api_usage"
    wrong_method = api.session.patch(api.base_url + "/payments", timeout=10)
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == 405
    bad_cursor = api.get("/payments", after="PM00NOTACURSOR")
    assert bad_cursor.status_code == 400 and error_of(bad_cursor)["type"] == "invalid_api_usage"


def test_payout_items_rules(sandbox, api, merchant):
    missing = api.get("/payout_items")
    assert missing.status_code == 422 and error_of(missing)["errors"][0]["field"] == "payout"
    payouts = sandbox.store.all_bodies(merchant.organisation_id, "payouts")
    recent, old = payouts[0], payouts[-1]
    assert old["created_at"] < "2026-05-01"
    gone = api.get("/payout_items", payout=old["id"])
    assert gone.status_code == 410
    assert error_of(gone)["code"] == 410
    items = api.walk("/payout_items", payout=recent["id"], limit=1)
    assert items == sandbox.store.payout_items(recent["id"])
    assert all(len(i["amount"].split(".")[1]) == 1 for i in items)
    assert abs(sum(float(i["amount"]) for i in items) - recent["amount"]) <= 0.5
    other = sandbox.store.all_bodies(sandbox.merchants[1].organisation_id, "payouts")[0]
    assert api.get("/payout_items", payout=other["id"]).status_code == 404


def test_sandbox_admin_endpoints_never_show_tokens(sandbox):
    admin = sandbox.admin_headers
    health = requests.get(f"{sandbox.base_url}/sandbox/health", headers=admin, timeout=10).json()
    assert health == {"status": "ok", "now": "2026-11-01T00:00:00.000Z", "date": "2026-11-01"}
    assert requests.get(f"{sandbox.base_url}/sandbox/clock", headers=admin, timeout=10).json()["date"] == "2026-11-01"
    listing = requests.get(f"{sandbox.base_url}/sandbox/merchants", headers=admin, timeout=10).text
    assert all(m.access_token not in listing and m.organisation_id in listing for m in sandbox.merchants)


def test_rate_limit_headers_are_present(api):
    response = api.get("/customers", limit=1)
    assert response.headers["RateLimit-Limit"] == "1000"
    assert int(response.headers["RateLimit-Remaining"]) < 1000
