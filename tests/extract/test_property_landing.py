"""Property: whatever GoCardless-shaped payments a listing carries — valid, adversarial,
repeated, conflicting — the sync never crashes, every valid record lands in raw as sent, and
every invalid one is in the raw quarantine with its reasons.

Generated pages are served over real HTTP (a minimal API answering every list the sync reads)
and synced into a real DuckDB file, one data connection per example. The expected outcome is
known from how each record was generated, not from the code under test.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import given

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.extract import sync
from gocardless_commerce.warehouse.engine import transaction
from tests.fixtures.gocardless_records import listing
from tests.fixtures.hypothesis_profiles import property_settings

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "sandbox_property_token"




# -- the property ---------------------------------------------------------------------------------
@property_settings(50)
@given(records=listing())
def test_any_listing_lands_valid_records_and_quarantines_the_rest(listing_api, property_warehouse, records):
    api, base_url = listing_api
    api.pages["payments"] = ("[" + ",".join(json.dumps(r, ensure_ascii=False) for r, _ in records) + "]").encode()
    dc = f"dc-{uuid.uuid4().hex[:12]}"
    request = sync.SyncRequest(user_id="user-p", data_connection_id=dc, run_id="run-p", now=NOW)
    with GoCardlessClient(TOKEN, base_url=base_url, backoff_base=0.01) as client:
        result = sync.sync_data_connection(client, property_warehouse, request)  # never raises

    with transaction(property_warehouse) as conn:
        landed = {i: json.loads(p) for i, p in conn.execute(
            sa.text("SELECT id, CAST(payload AS VARCHAR) FROM raw.gocardless_payments WHERE data_connection_id = :dc"),
            {"dc": dc})}
        quarantined = defaultdict(set)
        for reason, payload in conn.execute(
            sa.text("SELECT reason, CAST(payload AS VARCHAR) FROM raw.gocardless_quarantine WHERE data_connection_id = :dc"),
            {"dc": dc},
        ):
            quarantined[json.dumps(json.loads(payload), sort_keys=True)].add(reason)

    valid_versions: dict[str, list[dict]] = defaultdict(list)
    for record, reasons in records:
        key = json.dumps(record, sort_keys=True)
        if reasons:
            assert quarantined[key] == set(reasons), (record, quarantined[key])
        elif record not in valid_versions[record["id"]]:
            valid_versions[record["id"]].append(record)
    # every valid record landed; one id with several contents: the last landed, all kept aside
    assert set(landed) == set(valid_versions)
    last_copy = {record["id"]: record for record, reasons in records if not reasons}
    assert landed == last_copy
    for record_id, versions in valid_versions.items():
        if len(versions) > 1:
            for version in versions:
                assert "conflicting_copy" in quarantined[json.dumps(version, sort_keys=True)]
    # nothing else is in the quarantine, and the run counted it
    expected_keys = {json.dumps(r, sort_keys=True) for r, reasons in records if reasons}
    expected_keys |= {json.dumps(v, sort_keys=True) for vs in valid_versions.values() if len(vs) > 1 for v in vs}
    assert set(quarantined) == expected_keys
    assert result.streams["payments"].records == len(valid_versions)
    cursor = sync.read_state(property_warehouse, dc).get("payments")
    assert cursor is None or sync.months_before(NOW, 12) <= cursor <= NOW
