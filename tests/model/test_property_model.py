"""Property: whatever GoCardless-shaped payments, refunds and subscriptions a merchant's
listings carry (valid, adversarial, repeated, conflicting), the sync and then every model stage
run without crashing; every record the sync lands ends up in ``commerce.*`` or in
``commerce.quarantine`` with the rules it broke, every record it cannot read is in
``raw.gocardless_quarantine`` with its reasons, and records that are valid throughout load.

Pages are served over real HTTP (tests/fixtures/gocardless_records.py) and synced into a real
DuckDB file; one data connection per example.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.extract import sync
from gocardless_commerce.model import stages
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.gocardless_records import listing, payment, refund, subscription, timestamps
from tests.fixtures.hypothesis_profiles import property_settings

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "sandbox_property_token"
ALL_TYPES = ("COMMERCE_TRANSACTION", "COMMERCE_SUBSCRIPTION", "COMMERCE_TRANSACTION_INSIGHT", "COMMERCE_SUBSCRIPTION_INSIGHT")
#: The one mandate landed: every clean record hangs off it (bacs collects GBP).
MANDATE = {"id": "MDCLEAN", "created_at": "2024-01-01T00:00:00.000Z", "scheme": "bacs", "status": "active",
           "links": {"customer": "CUCLEAN", "creditor": "CR1"}}




@st.composite
def clean_records(draw) -> dict[str, list[dict]]:
    """Records valid at every level (raw schema and model rules), ids distinct from the others'."""
    created = timestamps(datetime(2020, 1, 1), datetime(2026, 10, 1))
    payments, refunds, subscriptions = [], [], []
    for n in range(draw(st.integers(0, 3))):
        amount = draw(st.integers(100, 10**9))
        payments.append({"id": f"PMCLEAN{n}", "created_at": draw(created), "amount": amount, "amount_refunded": 0,
                         "currency": "GBP", "status": draw(st.sampled_from(["paid_out", "confirmed", "failed"])),
                         "charge_date": str(draw(st.dates(datetime(2020, 1, 1).date(), datetime(2026, 10, 1).date()))),
                         "description": draw(st.text(max_size=8)), "links": {"mandate": MANDATE["id"]}})
        if draw(st.booleans()):
            refunds.append({"id": f"RFCLEAN{n}", "created_at": draw(created), "amount": draw(st.integers(1, amount)),
                            "currency": "GBP", "status": "paid", "links": {"payment": f"PMCLEAN{n}", "mandate": MANDATE["id"]}})
    for n in range(draw(st.integers(0, 2))):
        subscriptions.append({"id": f"SBCLEAN{n}", "created_at": draw(created), "amount": draw(st.integers(100, 10**7)),
                              "currency": "GBP", "status": draw(st.sampled_from(["cancelled", "paused"])),
                              "interval_unit": draw(st.sampled_from(["monthly", "weekly", "yearly"])), "interval": 1,
                              "start_date": "2024-02-01", "name": "plan", "links": {"mandate": MANDATE["id"]}})
    return {"payments": payments, "refunds": refunds, "subscriptions": subscriptions}


def _page(records) -> bytes:
    return ("[" + ",".join(json.dumps(r, ensure_ascii=False) for r in records) + "]").encode()


def _rows(conn, sql: str, dc: str) -> list[tuple]:
    return conn.execute(sa.text(sql), {"dc": dc}).all()


@property_settings(15)
@given(generated=st.fixed_dictionaries({"payments": listing(payment()), "refunds": listing(refund()),
                                        "subscriptions": listing(subscription())}),
       clean=clean_records())
def test_any_listing_goes_through_the_model_into_commerce_or_a_quarantine(listing_api, property_warehouse, tmp_path,
                                                                          generated, clean):
    api, base_url = listing_api
    api.pages = {resource: _page([r for r, _ in generated[resource]] + clean[resource]) for resource in generated}
    api.pages["mandates"] = _page([MANDATE])
    dc = f"dc-{uuid.uuid4().hex[:12]}"
    request = sync.SyncRequest(user_id="user-p", data_connection_id=dc, run_id="run-p", now=NOW)
    with GoCardlessClient(TOKEN, base_url=base_url, backoff_base=0.01, max_retries=1) as client:
        sync.sync_data_connection(client, property_warehouse, request)
    run = stages.ModelRun(user_id="user-p", data_connection_id=dc, run_id="model-p", now=NOW, history_months=12,
                          data_types=ALL_TYPES, staging_root=(tmp_path / "staging" / dc).as_uri())
    for stage in (stages.transform, stages.validate, stages.build_insights, stages.load):
        stage(property_warehouse, run)  # never raises

    with transaction(property_warehouse) as conn:
        raw_quarantine = defaultdict(set)
        for reason, payload in _rows(conn, "SELECT reason, CAST(payload AS VARCHAR) FROM raw.gocardless_quarantine "
                                           "WHERE data_connection_id = :dc", dc):
            raw_quarantine[json.dumps(json.loads(payload), sort_keys=True)].add(reason)
        landed = {resource: {row[0] for row in _rows(conn, f"SELECT id FROM raw.gocardless_{resource} "
                                                            "WHERE data_connection_id = :dc", dc)}
                  for resource in generated}
        loaded = {
            "payments": {r[0] for r in _rows(conn, "SELECT source_id FROM commerce.transactions "
                                                   "WHERE data_connection_id = :dc AND type = 'PAYMENT'", dc)},
            "refunds": {r[0] for r in _rows(conn, "SELECT source_id FROM commerce.transactions "
                                                  "WHERE data_connection_id = :dc AND type = 'PAYMENT_REFUND'", dc)},
            "subscriptions": {r[0] for r in _rows(conn, "SELECT source_id FROM commerce.subscriptions "
                                                        "WHERE data_connection_id = :dc", dc)},
        }
        model_quarantine = defaultdict(set)
        for source_id, rules in _rows(conn, "SELECT source_id, CAST(failed_rules AS VARCHAR) FROM commerce.quarantine "
                                            "WHERE data_connection_id = :dc", dc):
            model_quarantine[source_id] |= set(json.loads(rules))

    for resource, records in generated.items():
        for record, reasons in records:
            if reasons:  # unreadable: kept out of raw, with its reasons
                assert set(reasons) <= raw_quarantine[json.dumps(record, sort_keys=True)], (resource, record)
        for record_id in landed[resource]:  # read: loaded, or quarantined by the model naming its rules
            assert record_id in loaded[resource] or model_quarantine.get(record_id), (resource, record_id)
        for record in clean[resource]:  # valid throughout: loaded, not quarantined
            assert record["id"] in loaded[resource] and record["id"] not in model_quarantine, (resource, record)
