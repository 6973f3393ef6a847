"""Property: whatever GoCardless-shaped payments a listing carries — valid, adversarial,
repeated, conflicting — the sync never crashes, every valid record lands in raw as sent, and
every invalid one is in the raw quarantine with its reasons.

Generated pages are served over real HTTP (a minimal API answering every list the sync reads)
and synced into a real DuckDB file, one data connection per example. The expected outcome is
known from how each record was generated, not from the code under test.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gocardless_commerce.client import GoCardlessClient
from gocardless_commerce.extract import sync
from gocardless_commerce.warehouse.engine import get_engine, transaction
from gocardless_commerce.warehouse.migrations import apply_migrations
from tests.client.server import serve

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "sandbox_property_token"
MISSING = object()  # a field left out of the record


class ListingApi:
    """Serves ``payments`` as the test sets them (one page, bytes as given); every other list
    the sync reads is empty."""

    def __init__(self) -> None:
        self.payments_page = b"[]"
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{resource}", self.list_records)])

    async def list_records(self, request: Request) -> Response:
        resource = request.path_params["resource"]
        records = self.payments_page if resource == "payments" else b"[]"
        body = b'{"' + resource.encode() + b'":' + records + b',"meta":{"cursors":{"before":null,"after":null},"limit":500}}'
        return Response(body, media_type="application/json")


@pytest.fixture(scope="module")
def listing_api():
    api = ListingApi()
    with serve(api.app) as base_url:
        yield api, base_url


@pytest.fixture(scope="module")
def property_warehouse(tmp_path_factory):
    engine = get_engine(f"duckdb:///{tmp_path_factory.mktemp('property') / 'warehouse.duckdb'}")
    apply_migrations(engine)
    return engine


# -- generation: each field is (value, reasons it earns) -----------------------------------------
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_timezones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])

valid_ids = st.builds(lambda suffix: f"PM{suffix}", st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10))
invalid_ids = st.one_of(
    st.just((MISSING, "missing_id")), st.just((None, "missing_id")), st.just(("", "invalid_id")),
    st.tuples(st.integers(), st.just("invalid_id")), st.tuples(st.booleans(), st.just("invalid_id")),
    st.tuples(st.lists(st.integers(), max_size=2), st.just("invalid_id")),
)
valid_created = st.builds(
    lambda moment, zone, zulu: (
        moment.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        if zulu else moment.replace(tzinfo=zone).isoformat()
    ),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31)), _timezones, st.booleans(),
)
invalid_created = st.one_of(
    st.just((MISSING, "missing_created_at")), st.just((None, "missing_created_at")),
    st.tuples(st.sampled_from(["example created_at 101", "2026-11-01", "2026-11-01T09:30:00", "2026-02-30T00:00:00Z",
                               "yesterday", ""]), st.just("invalid_created_at")),
    st.tuples(st.text(st.characters(whitelist_categories=("Lu", "Ll")), max_size=8), st.just("invalid_created_at")),
    st.tuples(st.integers(min_value=0, max_value=2**40), st.just("invalid_created_at")),
)
valid_amounts = st.integers(min_value=-(2**63), max_value=2**63 - 1)
invalid_amounts = st.one_of(
    st.just((MISSING, "missing_amount")), st.just((None, "missing_amount")),
    st.tuples(valid_amounts.map(str), st.just("invalid_amount")),
    st.tuples(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)), st.just("invalid_amount")),
    st.tuples(st.booleans(), st.just("invalid_amount")),
)
statuses = st.one_of(st.sampled_from(["pending_submission", "paid_out", "charged_back"]), _text, st.none())


@st.composite
def payment(draw) -> tuple[object, tuple[str, ...]]:
    """A payment-shaped record and the reasons it must be quarantined for (empty: valid)."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.integers(), st.none(), _text)), ("not_an_object",)
    fields, reasons = {}, []
    for name, good, bad in (("id", valid_ids, invalid_ids), ("created_at", valid_created, invalid_created),
                            ("amount", valid_amounts, invalid_amounts)):
        if draw(st.integers(0, 5)) == 0:
            value, reason = draw(bad)
            reasons.append(reason)
        else:
            value = draw(good)
        fields[name] = value
    record = {key: value for key, value in fields.items() if value is not MISSING}
    record.update(currency=draw(st.sampled_from(["GBP", "EUR", "XXX", ""])), status=draw(statuses),
                  description=draw(_text), links={"mandate": "MD" + draw(_text)})
    return record, tuple(reasons)


@st.composite
def listing(draw) -> list[tuple[object, tuple[str, ...]]]:
    records = draw(st.lists(payment(), max_size=25))
    for _ in range(draw(st.integers(0, 3))):  # repeats and conflicting copies of generated records
        if not records:
            break
        record, reasons = records[draw(st.integers(0, len(records) - 1))]
        if isinstance(record, dict) and draw(st.booleans()):
            record = {**record, "description": draw(_text)}  # same id, maybe other content
        records.append((record, reasons))
    return records


# -- the property ---------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(records=listing())
def test_any_listing_lands_valid_records_and_quarantines_the_rest(listing_api, property_warehouse, records):
    api, base_url = listing_api
    api.payments_page = ("[" + ",".join(json.dumps(r, ensure_ascii=False) for r, _ in records) + "]").encode()
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
