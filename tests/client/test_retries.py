"""Retry-or-fail: transient faults are retried with backoff, client errors never are."""

from __future__ import annotations

import socket
import time

import pytest

from gocardless_commerce.client import (
    AuthenticationError,
    GoneError,
    InternalError,
    InvalidApiUsageError,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    PermissionsError,
    TransportError,
    ValidationFailedError,
)
from tests.fixtures.relay import relay_to


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(["500"], id="500-json"),
        pytest.param(["502-html"], id="502-html"),
        pytest.param(["truncate"], id="truncated-json"),
        pytest.param(["drop"], id="dropped-connection"),
        pytest.param(["reset"], id="connection-reset"),
        pytest.param(["503=0"], id="503-retry-after"),
        pytest.param(["504=0"], id="504-retry-after"),
        pytest.param(["429-retry-after=0"], id="429-retry-after-only"),
        pytest.param(["500", "502-html", "truncate", "drop", "reset"], id="mixed"),
    ],
)
def test_transient_faults_are_retried_until_success(client, stub, faults):
    stub.script.push(*faults)
    pages = list(client.iter_pages("payments"))
    assert sum(len(p.records) for p in pages) == 1234
    assert client.request_count == 3 + len(faults)
    assert client.retry_count == len(faults)


def test_slow_response_beyond_read_timeout_is_retried(make_client, stub):
    client = make_client(timeout=(1.0, 0.2))
    stub.script.push("slow=0.5")
    assert client.get("payments", "PM00007")["id"] == "PM00007"
    assert client.request_count == 2 and client.retry_count == 1


def test_retries_exhausted_raise_the_last_error(make_client, stub):
    client = make_client(max_retries=2)
    stub.script.push("500", "500", "500", "500")
    with pytest.raises(InternalError) as excinfo:
        client.get("payments", "PM00001")
    assert excinfo.value.status == 500 and excinfo.value.type == "gocardless"
    assert client.request_count == 3 and client.retry_count == 2
    assert stub.script.queue  # the fourth fault was never requested


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("502-html", MalformedResponseError),
        ("drop", TransportError),
        ("truncate", MalformedResponseError),
        ("reset", TransportError),
        ("503=0", InternalError),
        ("429-retry-after=0", RateLimitError),
    ],
)
def test_each_exhausted_fault_has_its_own_exception(make_client, stub, fault, error):
    client = make_client(max_retries=1)
    stub.script.push(fault, fault)
    with pytest.raises(error):
        client.get("payments", "PM00001")
    assert client.request_count == 2


def test_timeout_exhausted_raises_transport_error(make_client, stub):
    client = make_client(max_retries=1, timeout=(1.0, 0.1))
    stub.script.push("slow=0.4", "slow=0.4")
    with pytest.raises(TransportError, match=r"^GET /payments/PM00001: read timeout after 0.1s$"):
        client.get("payments", "PM00001")
    assert client.request_count == 2


def test_connection_refused_is_a_transport_error(make_client):
    client = make_client(base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=1)
    with pytest.raises(TransportError, match=r"^GET /payments/PM1: connection failed \(connection refused\)$"):
        client.get("payments", "PM1")
    assert client.request_count == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_window_of_refused_connections_is_retried_within_the_budget(make_client, stub):
    """The API's port refuses for a while (a restart, a failover), then answers again."""
    with relay_to(stub.base_url) as relay:
        relay.refuse_for(0.5)
        client = make_client(base_url=relay.base_url, backoff_base=0.2, backoff_max=1.0, max_retries=6)
        assert client.get("payments", "PM00011")["id"] == "PM00011"
        assert client.retry_count >= 1
        # mid-listing: the open keep-alive connection is reset and the port refuses for a while
        relay.refuse_at_request(relay.requests + 2, 0.5)
        retries_before = client.retry_count
        pages = list(client.iter_pages("payments", {"limit": 100}))
    assert sum(len(p.records) for p in pages) == 1234 and relay.refusals == 2
    assert client.retry_count > retries_before


def test_a_hung_connection_times_out_with_a_clear_error(make_client, stub):
    client = make_client(max_retries=1, timeout=(1.0, 0.3))
    stub.script.push("hang=20", "hang=20")
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"^GET /payments/PM00001: read timeout after 0.3s$"):
        client.get("payments", "PM00001")
    assert client.request_count == 2 and time.monotonic() - started < 5
    stub.script.push("hang=20")
    assert client.get("payments", "PM00001")["id"] == "PM00001"  # the retry gets through
    assert client.request_count == 4


@pytest.mark.parametrize(
    ("fault", "low", "high"),
    [
        pytest.param("503=7", 7.0, 7.0, id="503-seconds"),
        pytest.param("504=4", 4.0, 4.0, id="504-seconds"),
        pytest.param("503=date:5", 4.0, 6.5, id="503-http-date"),
        pytest.param("429-retry-after=3", 3.0, 3.0, id="429-seconds"),
        pytest.param("429-retry-after=date:2", 1.0, 3.5, id="429-http-date"),
    ],
)
def test_retry_after_sets_the_wait(make_client, stub, fault, low, high):
    sleeps: list[float] = []
    client = make_client(sleep=sleeps.append)
    stub.script.push(fault)
    assert client.get("payments", "PM00003")["id"] == "PM00003"
    assert len(sleeps) == 1 and low <= sleeps[0] <= high, sleeps
    if fault.startswith("429"):
        assert client.rate_limited_count == 1 and client.rate_limit_waits.count == 1


def test_a_retry_after_beyond_a_minute_is_capped(make_client, stub):
    sleeps: list[float] = []
    client = make_client(sleep=sleeps.append)
    stub.script.push("503=3600")
    client.get("payments", "PM00003")
    assert sleeps == [65.0]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda c: c.get("payments", "PM_MISSING"), NotFoundError, id="404"),
        pytest.param(lambda c: list(c.iter_pages("payments", {"limit": 501})),
                     InvalidApiUsageError, id="422-invalid-api-usage"),
        pytest.param(lambda c: c.post("payments", {"payments": {"amount": 0}}),
                     ValidationFailedError, id="422-validation"),
        pytest.param(lambda c: list(c.iter_pages("payout_items")), GoneError, id="410"),
    ],
)
def test_client_errors_are_not_retried(client, call, error):
    with pytest.raises(error):
        call(client)
    assert client.request_count == 1 and client.retry_count == 0


def test_401_is_not_retried(make_client):
    client = make_client(access_token="sandbox_wrong")
    with pytest.raises(AuthenticationError):
        client.get("payments", "PM00001")
    assert client.request_count == 1


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        ("401-html", AuthenticationError),
        ("401-empty", AuthenticationError),
        ("403-html", PermissionsError),
        ("403-empty", PermissionsError),
    ],
)
def test_a_refusal_without_the_error_envelope_is_classified_by_status(client, shape, error):
    """A proxy or gateway answering 401/403 (HTML or nothing) still means AUTH_ERROR."""
    with pytest.raises(error) as excinfo:
        client.get("gateway_refusals", shape)
    assert not isinstance(excinfo.value, MalformedResponseError)
    assert excinfo.value.status == int(shape[:3])
    assert "no GoCardless error body" in str(excinfo.value)
    assert client.request_count == 1 and client.retry_count == 0


def test_post_retries_reuse_the_idempotency_key(client, stub):
    stub.script.push("500", "drop")
    client.post("/payments", {"payments": {"amount": 10}})
    keys = [headers.get("idempotency-key") for _, _, _, headers in stub.seen]
    # the 500 is injected before the route, so only the dropped and the final attempt reach it
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


def test_backoff_grows_exponentially_within_bounds(make_client, stub):
    sleeps: list[float] = []
    client = make_client(backoff_base=0.1, backoff_max=0.35, sleep=sleeps.append)
    stub.script.push("500", "500", "500", "500")
    client.get("payments", "PM00001")
    assert len(sleeps) == 4
    assert 0.1 <= sleeps[0] <= 0.2 and 0.2 <= sleeps[1] <= 0.3
    assert all(s <= 0.35 for s in sleeps) and sleeps[3] == 0.35


def test_429_waits_for_the_rate_limit_reset(client, stub):
    stub.script.push("429")
    started = time.monotonic()
    assert client.get("payments", "PM00003")["id"] == "PM00003"
    waited = time.monotonic() - started
    assert client.request_count == 2 and client.rate_limited_count == 1
    assert client.rate_limit_waits.count == 1
    # the injected 429 resets on the next whole second: the wait follows it, not the 10 ms backoff
    assert 0.0 < client.rate_limit_waits.seconds <= 1.0 and waited >= client.rate_limit_waits.seconds
