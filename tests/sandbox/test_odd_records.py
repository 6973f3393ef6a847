"""Odd records on demand: the admin API configures them and list pages, linked records and
single GETs serve them."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import api_for, error_of


def _put(server, config) -> requests.Response:
    return requests.put(f"{server.base_url}/sandbox/odd_records", json=config, headers=server.admin_headers, timeout=5)


def test_odd_records_are_served_as_configured_and_cleared(sandbox_factory):
    server = sandbox_factory(merchants=1, payments_per_merchant=20)
    api = api_for(server)
    normal = api.get("/payments", limit=500).json()["payments"]
    first, second = normal[0]["id"], normal[1]["id"]
    config = {
        "repeat_pages": ["payments"],
        "bad_fields": [{"resource": "payments", "id": first, "mode": "string_amount"}],
        "conflicting_copies": [{"resource": "payments", "id": second}],
    }
    assert _put(server, config).status_code == 200
    assert requests.get(f"{server.base_url}/sandbox/odd_records", headers=server.admin_headers, timeout=5).json()["repeat_pages"] == ["payments"]

    served = api.get("/payments", limit=500).json()["payments"]
    assert len(served) == 2 * (len(normal) + 1)  # one altered copy, then the whole page again
    assert served[0]["amount"] == str(normal[0]["amount"])
    copies = [p for p in served[: len(normal) + 1] if p["id"] == second]
    assert len(copies) == 2 and copies[0] != copies[1]
    assert api.get(f"/payments/{first}").json()["payments"]["amount"] == str(normal[0]["amount"])

    assert _put(server, {"reverse": ["payments"]}).status_code == 200
    assert [p["id"] for p in api.get("/payments", limit=500).json()["payments"]] == [p["id"] for p in normal][::-1]
    assert _put(server, {}).status_code == 200
    assert api.get("/payments", limit=500).json()["payments"] == normal


def test_payout_items_are_broken_per_payout(sandbox_factory):
    server = sandbox_factory(merchants=1, payments_per_merchant=60)
    api = api_for(server)
    payout = api.get("/payouts", limit=1).json()["payouts"][0]["id"]
    items = api.get("/payout_items", payout=payout).json()["payout_items"]
    _put(server, {"bad_fields": [{"resource": "payout_items", "id": payout, "mode": "string_amount"}],
                  "conflicting_copies": [{"resource": "payout_items", "id": payout}]})
    served = api.get("/payout_items", payout=payout).json()["payout_items"]
    assert served[0]["amount"] == "n/a" and len(served) == len(items) + 1
    assert served[1]["taxes"] != served[0]["taxes"] and served[1]["type"] == served[0]["type"]


def test_a_bad_configuration_is_refused_and_changes_nothing(sandbox_factory):
    server = sandbox_factory(merchants=1, payments_per_merchant=5)
    _put(server, {"reverse": ["payments"]})
    for config in ({"shuffle": ["payments"]}, {"bad_fields": [{"resource": "payments", "id": "PM1", "mode": "nope"}]}, []):
        refused = _put(server, config)
        assert refused.status_code == 422 and error_of(refused)["type"] == "validation_failed"
    assert requests.get(f"{server.base_url}/sandbox/odd_records", headers=server.admin_headers, timeout=5).json()["reverse"] == ["payments"]
