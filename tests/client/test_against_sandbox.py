"""The client against the real sandbox app: full listings, auth scoping, injected faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gocardless_commerce.client import (
    ApiError,
    AuthenticationError,
    GoCardlessClient,
    GoCardlessError,
    NotFoundError,
    RateLimitError,
    is_transient,
)
from gocardless_commerce.orchestration.hook import GoCardlessHook
from tests.fixtures.sandbox import NETWORK_FAULTS, NO_FAULTS, put_faults

sandbox = pytest.importorskip("gocardless_sandbox")
if not hasattr(sandbox, "SandboxServer"):
    pytest.skip("sandbox server not available yet", allow_module_level=True)

RESOURCES = ("payments", "customers", "mandates", "subscriptions", "refunds", "payouts", "events")


@pytest.fixture(scope="module")
def gc_sandbox():
    config = sandbox.SandboxConfig(seed=7, merchants=2, payments_per_merchant=300,
                                   history_months=6, now=datetime(2026, 11, 1, tzinfo=UTC),
                                   rate_limit_per_minute=1000)
    with sandbox.SandboxServer(config) as server:
        yield server


def _client(server, merchant, **kwargs) -> GoCardlessClient:
    options = {"base_url": server.base_url, "backoff_base": 0.01, "backoff_max": 0.05,
               "timeout": (2.0, 10.0)}
    return GoCardlessClient(merchant.access_token, **{**options, **kwargs})




@pytest.mark.parametrize("resource", RESOURCES)
def test_full_listing_matches_the_store(gc_sandbox, resource):
    for merchant in gc_sandbox.merchants:
        with _client(gc_sandbox, merchant) as client:
            pages = list(client.iter_pages(resource, {"limit": 100}))
            ids = [r["id"] for p in pages for r in p.records]
        assert len(ids) == len(set(ids)) == gc_sandbox.store.count(merchant.organisation_id, resource)
        assert client.request_count == len(pages) and pages[-1].after is None


def test_tokens_only_see_their_own_organisation(gc_sandbox):
    first, second = gc_sandbox.merchants[:2]
    with _client(gc_sandbox, first) as client_a, _client(gc_sandbox, second) as client_b:
        payment = next(client_a.iter_records("payments", {"limit": 1}))
        assert client_a.get("payments", payment["id"])["id"] == payment["id"]
        with pytest.raises(NotFoundError):
            client_b.get("payments", payment["id"])
        assert client_b.request_count == 1
        assert client_a.last_rate_limit.limit == 1000


def test_unknown_token_is_401_without_retry(gc_sandbox):
    client = GoCardlessClient("sandbox_unknown_token", base_url=gc_sandbox.base_url)
    with pytest.raises(AuthenticationError) as excinfo:
        client.list_page("payments")
    assert str(excinfo.value).startswith("401 invalid_api_usage: ")
    assert client.request_count == 1


def test_listing_survives_server_wide_faults(gc_sandbox):
    merchant = gc_sandbox.merchants[0]
    expected = gc_sandbox.store.count(merchant.organisation_id, "payments")
    put_faults(gc_sandbox, error_rate=0.1, html_error_rate=0.05, drop_rate=0.05, truncate_rate=0.05,
                rate_limit_rate=0.0, slow_rate=0.0, **NETWORK_FAULTS)
    try:
        with _client(gc_sandbox, merchant, max_retries=8, timeout=(2.0, 1.0)) as client:
            ids = [r["id"] for r in client.iter_records("payments", {"limit": 50})]
    finally:
        put_faults(gc_sandbox, **NO_FAULTS)
    assert len(set(ids)) == len(ids) == expected
    assert client.retry_count > 0 and client.request_count == -(-expected // 50) + client.retry_count


@pytest.mark.parametrize("fault", ["500", "502-html", "429", "drop", "truncate", "slow=0.4",
                                   "503", "504=date:1", "429-retry-after", "reset", "hang=3"])
def test_per_request_fault_header_is_retried(gc_sandbox, fault):
    session = requests.Session()
    sleeps: list[float] = []  # recorded, not slept: the 429 wait would cost ~1-2 s per attempt
    client = _client(gc_sandbox, gc_sandbox.merchants[0], max_retries=1, session=session,
                     timeout=(2.0, 0.2), sleep=sleeps.append)
    session.headers["Sandbox-Fault"] = fault  # every attempt faults: the retry fails too
    with pytest.raises(GoCardlessError) as excinfo:
        client.list_page("payments", {"limit": 1})
    assert client.request_count == 2 and len(sleeps) == 1, excinfo.value
    assert is_transient(excinfo.value)
    if fault.startswith("429"):
        assert isinstance(excinfo.value, RateLimitError) and 0 < sleeps[0] <= 2.5
    if fault.startswith(("503", "504")):
        # an HTTP-date is read against the server's Date, which uvicorn stamps up to ~1-2 s late
        assert excinfo.value.retry_after is not None and 0 < sleeps[0] <= 4.5
    del session.headers["Sandbox-Fault"]
    assert len(client.list_page("payments", {"limit": 1}).records) == 1
    session.close()


@pytest.mark.parametrize("resource", ["payments", "customers", "events"])
def test_records_created_while_a_listing_is_paged_shift_nothing(sandbox_factory, resource):
    """With id cursors over a newest-first order, records created between two pages sort
    ahead of the pages already read: the listing returns every record it started with
    exactly once, and the new ones are there for the next (incremental) read."""
    server = sandbox_factory(payments_per_merchant=120)
    merchant = server.merchants[0]
    before = set(_truth_ids(server, merchant, resource))
    limit = max(2, len(before) // 6)
    put_faults(server, shift_rate=1.0)  # every page after the first: new records first
    with _client(server, merchant) as client:
        pages = list(client.iter_pages(resource, {"limit": limit}))
    put_faults(server, shift_rate=0)
    listed = [r["id"] for page in pages for r in page.records]
    assert len(listed) == len(set(listed)) and set(listed) == before
    arrived = set(_truth_ids(server, merchant, resource)) - before
    assert len(pages) > 4 and len(arrived) >= len(pages) - 1
    assert server.app.state.faults.shift_rate == 0


def _truth_ids(server, merchant, resource) -> list[str]:
    return [body["id"] for body in server.store.all_bodies(merchant.organisation_id, resource)]


def test_hook_oauth_flow_yields_a_working_token(gc_sandbox, monkeypatch):
    """Authorize → code → exchange_code → a merchant connection whose client sees its data."""
    config = gc_sandbox.config
    redirect_uri = config.oauth_redirect_uris[0]
    monkeypatch.setenv("AIRFLOW_CONN_GOCARDLESS_DEFAULT", json.dumps({
        "conn_type": "gocardless", "login": config.oauth_client_id,
        "password": config.oauth_client_secret,
        "extra": {"is_sandbox": True, "base_url": gc_sandbox.base_url}}))
    hook = GoCardlessHook()
    assert hook.oauth_urls()["access_token"] == f"{gc_sandbox.base_url}/oauth/access_token"
    merchant = gc_sandbox.merchants[1]
    redirect = requests.get(hook.authorize_url(redirect_uri, state="st", prefill_email=merchant.email),
                            allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]

    granted = hook.exchange_code(code, redirect_uri)
    assert granted["organisation_id"] == merchant.organisation_id
    assert granted["scope"] == "read_only"

    monkeypatch.setenv("AIRFLOW_CONN_GOCARDLESS_MERCHANT_NEW", json.dumps(
        {"conn_type": "gocardless", "password": granted["access_token"]}))
    with GoCardlessHook(merchant_conn_id="gocardless_merchant_new").get_client() as client:
        count = sum(len(p.records) for p in client.iter_pages("payments"))
    assert count == gc_sandbox.store.count(merchant.organisation_id, "payments")
    with pytest.raises(ApiError, match="^400 invalid_grant: "):  # codes are single-use
        hook.exchange_code(code, redirect_uri)
