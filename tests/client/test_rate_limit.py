"""Rate limiting: read the headers, wait before the budget runs out, wait out a 429."""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from gocardless_commerce.client import RateLimit
from gocardless_commerce.client.rate_limit import parse_rate_limit, seconds_until_reset
from tests.client.stub_api import TOKEN

RESET = "Thu, 03 May 2018 16:00:00 GMT"


def test_headers_are_read_case_insensitively():
    state = parse_rate_limit(
        {"ratelimit-limit": "1000", "RATELIMIT-REMAINING": "998", "RateLimit-Reset": RESET}
    )
    assert state == RateLimit(1000, 998, datetime(2018, 5, 3, 16, 0, tzinfo=UTC))
    assert parse_rate_limit({"Content-Type": "application/json"}) is None


def test_wait_is_reset_minus_server_date_not_local_clock():
    headers = {"RateLimit-Reset": RESET, "Date": "Thu, 03 May 2018 15:59:45 GMT"}
    assert seconds_until_reset(headers) == 15.0  # local time (2026+) is irrelevant
    # without Date, local time is the fallback
    assert seconds_until_reset({"RateLimit-Reset": RESET}, now=1525363190.0) == 10.0
    assert seconds_until_reset({"Retry-After": "7"}) == 7.0
    assert seconds_until_reset({}) is None


def test_burst_over_a_small_limit_gets_no_429(make_client, stub):
    """10 requests per 1-second window, 25 requests: the client pauses at the reserve instead."""
    stub.limiter.limit_per_minute = 10
    client = make_client()
    records = list(client.iter_records("payments", {"limit": 50}))  # 25 pages
    assert len(records) == 1234
    assert stub.limiter.stats_for(TOKEN) == {"requests": 25, "rate_limited": 0}
    assert client.rate_limited_count == 0 and client.request_count == 25
    # 8 requests per window, then a wait (unless a window ran out on its own)
    assert client.rate_limit_waits.count >= 1
    assert client.last_rate_limit.limit == 10


def test_429_from_the_limiter_waits_until_reset(make_client, stub):
    stub.limiter.limit_per_minute = 3
    # Windows start on a whole second: a 1-second window can end 0.1 s after it starts, and on a
    # busy machine the client's request then lands in a fresh window (no 429). 3 s leave >= 2 s.
    stub.limiter.window_seconds = 3
    for _ in range(3):  # someone else spends this token's budget
        requests.get(f"{stub.base_url}/payments/PM00001",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    client = make_client()
    assert client.get("payments", "PM00002")["id"] == "PM00002"
    assert client.request_count == 2 and client.rate_limited_count == 1
    assert stub.limiter.stats_for(TOKEN) == {"requests": 5, "rate_limited": 1}
    assert client.rate_limit_waits.count == 1
