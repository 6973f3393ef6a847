"""Strict parsing at the edge: each record against its resource's declared schema; a bad record
is rejected with every reason it earns, never coerced, and never fails its page."""

from __future__ import annotations

import msgspec
import pytest

from gocardless_commerce.client.records import parse_created_at, parse_records

GOOD_PAYMENT = {
    "id": "PM0001", "created_at": "2026-11-01T09:30:00.000Z", "amount": 1250, "amount_refunded": 0,
    "currency": "GBP", "status": "paid_out", "links": {"mandate": "MD0001"},
}


def _parse(resource: str, records: list) -> object:
    return parse_records(resource, msgspec.Raw(msgspec.json.encode(records)))


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({"id": None}, ("missing_id",)),
        ({"id": 12345}, ("invalid_id",)),
        ({"id": ""}, ("invalid_id",)),
        ({"created_at": "example created_at 101"}, ("invalid_created_at",)),
        ({"created_at": "2026-11-01"}, ("invalid_created_at",)),
        ({"created_at": "2026-11-01T09:30:00"}, ("invalid_created_at",)),  # no offset
        ({"created_at": "2026-02-30T09:30:00.000Z"}, ("invalid_created_at",)),
        ({"created_at": 1767225600}, ("invalid_created_at",)),
        ({"created_at": None}, ("missing_created_at",)),
        ({"amount": "1250"}, ("invalid_amount",)),
        ({"amount": 12.5}, ("invalid_amount",)),
        ({"amount": True}, ("invalid_amount",)),
        ({"amount": None}, ("missing_amount",)),
        ({"amount_refunded": "0"}, ("invalid_amount_refunded",)),
        ({"links": "MD0001"}, ("invalid_links",)),
        ({"id": None, "created_at": "n/a", "amount": "1250"}, ("missing_id", "invalid_created_at", "invalid_amount")),
    ],
)
def test_a_bad_payment_is_rejected_with_every_reason_and_its_page_still_parses(change, reasons):
    bad = {**GOOD_PAYMENT, **change}
    if change.get("id", "") is None:
        del bad["id"]
    records = [GOOD_PAYMENT, bad, {**GOOD_PAYMENT, "id": "PM0002"}]
    parsed = _parse("payments", records)
    assert [h.id for h in parsed.heads] == ["PM0001", "PM0002"]
    assert [msgspec.json.decode(r) for r in parsed.raw] == [records[0], records[2]]
    [rejected] = parsed.rejected
    assert set(rejected.reasons) == set(reasons)
    assert msgspec.json.decode(rejected.raw) == bad  # kept as sent, nothing coerced


def test_valid_odd_values_are_accepted():
    records = [
        {**GOOD_PAYMENT, "id": "PM1970", "created_at": "1970-01-01T00:00:00.000Z"},
        {**GOOD_PAYMENT, "id": "PM2999", "created_at": "2999-12-31T23:59:59.999Z", "amount": 2**62},
        {**GOOD_PAYMENT, "id": "PMünï", "status": "brand_new_status", "description": "☃ \u0000"},
        {**GOOD_PAYMENT, "id": "PMTZ", "created_at": "2026-11-01T10:30:00.000+01:00"},
    ]
    parsed = _parse("payments", records)
    assert not parsed.rejected and len(parsed.heads) == 4
    assert parse_created_at("2999-12-31T23:59:59.999Z") == parsed.newest


def test_events_and_payout_items_have_their_own_schemas():
    events = [
        {"id": "EV1", "created_at": "2026-11-01T09:30:00.000Z", "resource_type": "payments", "action": "paid_out"},
        {"id": "EV2", "created_at": "2026-11-01T09:30:00.000Z", "action": "paid_out"},
    ]
    parsed = _parse("events", events)
    assert [h.id for h in parsed.heads] == ["EV1"] and parsed.rejected[0].reasons == ("missing_resource_type",)
    items = [
        {"type": "gocardless_fee", "amount": "-20.5", "links": {"payment": "PM1"}, "taxes": []},
        {"type": "gocardless_fee", "amount": -20, "links": {"payment": "PM1"}},
        {"type": "gocardless_fee", "amount": "n/a"},
        {"amount": "1.0"},
    ]
    parsed = _parse("payout_items", items)
    assert len(parsed.heads) == 1
    assert [r.reasons for r in parsed.rejected] == [("invalid_amount",), ("invalid_amount",), ("missing_type",)]


def test_entries_that_are_not_objects_are_rejected_not_fatal():
    parsed = _parse("customers", [1, None, "x", {"id": "CU1", "created_at": "2026-11-01T09:30:00.000Z"}])
    assert [h.id for h in parsed.heads] == ["CU1"]
    assert [r.reasons for r in parsed.rejected] == [("not_an_object",)] * 3
