"""Cursor pagination: every record once, lazily, with the API's envelope unwrapped."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from gocardless_commerce.client import MalformedResponseError, Page, RawPage
from gocardless_commerce.client.pagination import raw_page_from_body
from tests.client.stub_api import PAYMENT_COUNT, PAYMENTS


def test_iter_pages_walks_all_cursors_with_limit_500(client, stub):
    pages = list(client.iter_pages("payments"))

    assert [len(p.records) for p in pages] == [500, 500, 234]
    assert [p.after for p in pages] == ["PM00499", "PM00999", None]
    assert [r["id"] for p in pages for r in p.records] == [p["id"] for p in PAYMENTS]
    assert [query.get("limit") for _, _, query, _ in stub.seen] == ["500"] * 3
    assert [query.get("after") for _, _, query, _ in stub.seen] == [None, "PM00499", "PM00999"]
    assert client.request_count == 3
    assert client.requests_by_resource == {"payments": 3}


def test_iter_pages_is_lazy(client):
    pages = client.iter_pages("payments", {"limit": 100})
    assert inspect.isgenerator(pages)
    assert client.request_count == 0  # nothing fetched until iteration starts

    first = next(pages)
    assert isinstance(first, Page) and first.records[0]["id"] == "PM00000"
    assert client.request_count == 1
    second = next(pages)
    assert second.records[0]["id"] == "PM00100"
    assert client.request_count == 2
    pages.close()
    assert client.request_count == 2


def test_params_are_passed_and_limit_can_be_overridden(client, stub):
    records = list(client.iter_records("payments", {"limit": 400, "created_at[gte]": "2026-01-01"}))
    assert len(records) == PAYMENT_COUNT
    assert client.request_count == 4
    method, path, query, _ = stub.seen[0]
    assert (method, path) == ("GET", "/payments")
    assert query == {"limit": "400", "created_at[gte]": "2026-01-01"}


def test_linked_resources_come_with_events(client):
    page = next(client.iter_pages("events", {"include": "payment", "limit": 10}))
    assert [e["id"] for e in page.records][:2] == ["EV00000", "EV00001"]
    assert [p["id"] for p in page.linked["payments"]] == [f"PM{i:05d}" for i in range(10)]
    assert page.after == "EV00009" and page.before is None


def test_get_unwraps_and_list_page_returns_one_page(client):
    assert client.get("payments", "PM00042")["amount"] == 1042
    page = client.list_page("payments", {"limit": 2})
    assert [r["id"] for r in page.records] == ["PM00000", "PM00001"] and page.after == "PM00001"
    assert client.request_count == 2


def test_post_sends_envelope_and_idempotency_key(client, stub):
    created = client.post("/payments", {"payments": {"amount": 500, "currency": "GBP"}},
                          idempotency_key="idem-1")
    assert created == {"payments": {"id": "PM99999", "amount": 500, "currency": "GBP"}}
    assert stub.seen[-1][3]["idempotency-key"] == "idem-1"


def test_delete_with_204_returns_empty_dict(client):
    assert client.delete("customers/CU123") == {}


def test_sends_gocardless_headers(client, stub):
    client.get("payments", "PM00001")
    headers = stub.seen[-1][3]
    assert headers["authorization"] == "Bearer sandbox_stub_token_5ecret"
    assert headers["gocardless-version"] == "2015-07-06"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("gocardless-commerce-pipeline/")


def test_raw_pages_keep_each_record_as_sent_and_decode_only_its_head(client):
    raw_pages = list(client.iter_raw_pages("payments"))
    pages = list(client.iter_pages("payments"))
    assert [len(p.records) for p in raw_pages] == [500, 500, 234]
    assert [p.after for p in raw_pages] == [p.after for p in pages]
    for raw_page, page in zip(raw_pages, pages):
        assert [msgspec.json.decode(r) for r in raw_page.records.raw] == page.records
        assert [(h.id, h.created_at) for h in raw_page.records.heads] == [
            (r["id"], r.get("created_at")) for r in page.records
        ]
    assert client.request_count == 6


def test_raw_pages_carry_linked_records(client):
    page = next(client.iter_raw_pages("events", {"include": "payment", "limit": 10}))
    assert isinstance(page, RawPage)
    assert [h.id for h in page.records.heads][:2] == ["EV00000", "EV00001"]
    assert [h.id for h in page.linked["payments"].heads] == [f"PM{i:05d}" for i in range(10)]
    assert [msgspec.json.decode(r)["id"] for r in page.linked["payments"].raw] == [f"PM{i:05d}" for i in range(10)]
    assert page.after == "EV00009" and page.before is None


def test_raw_pages_retry_truncated_bodies_and_reject_bodies_without_the_list(client, stub):
    stub.script.push("truncate")
    assert sum(len(p.records) for p in client.iter_raw_pages("payments")) == PAYMENT_COUNT
    assert client.retry_count == 1
    with pytest.raises(MalformedResponseError):
        raw_page_from_body("payments", {"meta": msgspec.Raw(b"{}")})
    with pytest.raises(MalformedResponseError):
        raw_page_from_body("payments", {"payments": msgspec.Raw(b'{"id": "PM1"}')})
    # records that are not objects are the records' fault, not the page's: rejected, kept as sent
    page = raw_page_from_body("payments", {"payments": msgspec.Raw(b"[1, 2]")})
    assert len(page.records) == 0 and [r.reasons for r in page.records.rejected] == [("not_an_object",)] * 2
    record = b'{"id":"PM1", "created_at": "2026-11-01T00:00:00.000Z", "amount": 5, "x": [1]}'
    page = raw_page_from_body("payments", {"payments": msgspec.Raw(b"[" + record + b"]"), "linked": msgspec.Raw(b"null")})
    assert bytes(page.records.raw[0]) == record and page.linked == {} and page.after is None
