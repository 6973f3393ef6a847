"""Rate-limit and fault-injection middleware, over real HTTP against a tiny app of our own."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
import requests
from fastapi import FastAPI

from gocardless_sandbox.middleware import (
    FaultConfig,
    FaultInjectionMiddleware,
    RateLimitMiddleware,
    token_fingerprint,
)
from tests.client.server import serve

TOKEN = "sandbox_middleware_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/payments")
    def payments() -> dict:
        return {"payments": [{"id": f"PM{i:05d}"} for i in range(20)], "meta": {"limit": 20}}

    @app.get("/sandbox/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/oauth/authorize")
    def authorize() -> dict:
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def stack():
    """App ← faults ← rate limit (outermost), as the sandbox wires them."""
    faults = FaultConfig(seed=3)
    inner = FaultInjectionMiddleware(_app(), faults, rate_limit_per_minute=5)
    limiter = RateLimitMiddleware(inner, limit_per_minute=5, window_seconds=2)
    with serve(limiter) as base_url:
        yield base_url, limiter, inner, faults


@pytest.fixture
def fresh(stack):
    base_url, limiter, inner, faults = stack
    limiter.reset()
    limiter.limit_per_minute = 5
    faults.update(error_rate=0, html_error_rate=0, rate_limit_rate=0, slow_rate=0,
                  drop_rate=0, truncate_rate=0)
    inner.injected.clear()
    return stack


def _wait_for_window_start() -> None:
    """Start a burst just after a whole second so a 2-second window cannot roll over mid-test."""
    time.sleep(1.02 - (time.time() % 1.0))


def test_rate_limit_headers_and_429_envelope(fresh):
    base_url, limiter, _, _ = fresh
    _wait_for_window_start()
    responses = [requests.get(f"{base_url}/payments", headers=AUTH, timeout=5) for _ in range(7)]

    assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1", "0", "0", "0"]
    assert all(r.headers["RateLimit-Limit"] == "5" for r in responses)
    reset = parsedate_to_datetime(responses[0].headers["RateLimit-Reset"]).timestamp()
    assert reset == int(reset) and 0 < reset - time.time() <= 2
    error = responses[-1].json()["error"]
    assert error["code"] == 429
    assert error["type"] == "invalid_api_usage"
    assert error["errors"] == [{"reason": "rate_limit_exceeded", "message": "Rate limit exceeded"}]
    assert limiter.stats_for(TOKEN) == {"requests": 7, "rate_limited": 2}
    stats = limiter.stats()
    assert TOKEN not in str(stats)
    assert stats["tokens"][token_fingerprint(TOKEN)] == {"requests": 7, "rate_limited": 2}


def test_window_resets_at_rate_limit_reset(fresh):
    base_url, _, _, _ = fresh
    _wait_for_window_start()
    for _ in range(5):
        last = requests.get(f"{base_url}/payments", headers=AUTH, timeout=5)
    reset = parsedate_to_datetime(last.headers["RateLimit-Reset"]).timestamp()
    time.sleep(max(reset - time.time(), 0) + 0.01)
    after = requests.get(f"{base_url}/payments", headers=AUTH, timeout=5)
    assert after.status_code == 200
    assert after.headers["RateLimit-Remaining"] == "4"


def test_limits_are_per_token_and_changeable_at_runtime(fresh):
    base_url, limiter, _, _ = fresh
    _wait_for_window_start()
    other = {"Authorization": "Bearer sandbox_other"}
    for _ in range(5):
        requests.get(f"{base_url}/payments", headers=AUTH, timeout=5)
    assert requests.get(f"{base_url}/payments", headers=other, timeout=5).status_code == 200
    assert requests.get(f"{base_url}/payments", headers=AUTH, timeout=5).status_code == 429
    limiter.limit_per_minute = 10
    response = requests.get(f"{base_url}/payments", headers=AUTH, timeout=5)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "10"


def test_exempt_paths_and_anonymous_requests_are_not_limited(fresh):
    base_url, limiter, _, _ = fresh
    limiter.limit_per_minute = 1
    for path in ("/sandbox/health", "/oauth/authorize"):
        for _ in range(3):
            response = requests.get(f"{base_url}{path}", headers=AUTH, timeout=5)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers
    for _ in range(3):
        assert requests.get(f"{base_url}/payments", timeout=5).status_code == 200
    assert limiter.stats()["requests"] == 0


def _fault(base_url: str, value: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return requests.get(f"{base_url}/payments", headers={**AUTH, "Sandbox-Fault": value}, **kwargs)


def test_fault_500_is_a_gocardless_json_error(fresh):
    response = _fault(fresh[0], "500")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "gocardless"
    assert response.headers["RateLimit-Limit"] == "5"  # limiter still annotates it


def test_fault_502_html_is_a_cloudflare_page(fresh):
    response = _fault(fresh[0], "502-html")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text and "cloudflare" in response.text


def test_fault_429_carries_rate_limit_headers(fresh):
    base_url, limiter, _, _ = fresh
    response = _fault(base_url, "429")
    assert response.status_code == 429
    assert response.json()["error"]["errors"][0]["reason"] == "rate_limit_exceeded"
    assert response.headers["RateLimit-Remaining"] == "0"
    reset = parsedate_to_datetime(response.headers["RateLimit-Reset"]).timestamp()
    assert 0 < reset - time.time() <= 1.0
    assert ", " not in response.headers["RateLimit-Limit"]  # not duplicated by the limiter
    assert limiter.stats_for(TOKEN)["rate_limited"] == 1


def test_fault_slow_sleeps_then_serves(fresh):
    started = time.monotonic()
    response = _fault(fresh[0], "slow=0.3")
    assert response.status_code == 200 and len(response.json()["payments"]) == 20
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{fresh[0]}/payments", headers={**AUTH, "Sandbox-Fault": "slow=0.5"},
                     timeout=(1, 0.1))


def test_fault_drop_breaks_the_connection(fresh):
    # requests reports a body shorter than Content-Length as ChunkedEncodingError
    # wrapping urllib3's ProtocolError "Connection broken: IncompleteRead(...)".
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        _fault(fresh[0], "drop")


def test_fault_truncate_is_valid_http_with_invalid_json(fresh):
    response = _fault(fresh[0], "truncate")
    assert response.status_code == 200
    assert response.text.startswith('{"payments":[')
    with pytest.raises(ValueError):
        response.json()


def test_server_wide_faults_are_seeded_and_spare_admin_paths(fresh):
    base_url, _, inner, faults = fresh

    def run() -> list[int]:
        inner.reseed(11)
        return [requests.get(f"{base_url}/payments", timeout=5).status_code for _ in range(30)]

    faults.update(error_rate=0.3, html_error_rate=0.2)
    first, second = run(), run()
    assert first == second  # same seed, same sequence
    assert {500, 502, 200} == set(first)
    assert all(requests.get(f"{base_url}/sandbox/health", timeout=5).status_code == 200
               for _ in range(10))


def test_fault_config_validation():
    with pytest.raises(ValueError, match="error_rate"):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="add up"):
        FaultConfig(error_rate=0.6, drop_rate=0.6)
    config = FaultConfig()
    with pytest.raises(ValueError, match="unknown"):
        config.update(bogus=1)
    assert config.update(slow_rate=0.1, slow_seconds=0.2).to_dict()["slow_rate"] == 0.1
    assert config.pick(0.05) == "slow" and config.pick(0.5) is None


@pytest.mark.parametrize(("value", "status", "retry_after"), [("503", 503, "1"), ("504=3", 504, "3")])
def test_fault_503_and_504_say_when_to_retry(fresh, value, status, retry_after):
    response = _fault(fresh[0], value)
    assert response.status_code == status
    assert response.headers["Retry-After"] == retry_after
    error = response.json()["error"]
    assert error["code"] == status and error["type"] == "gocardless"


def test_fault_retry_after_can_be_an_http_date(fresh):
    response = _fault(fresh[0], "503=date:2")
    when = parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert 2 < when - time.time() <= 3.1


def test_fault_429_retry_after_carries_no_rate_limit_headers(fresh):
    base_url, limiter, _, _ = fresh
    response = _fault(base_url, "429-retry-after=2")
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert not [h for h in response.headers if h.lower().startswith("ratelimit-")]
    assert response.json()["error"]["errors"][0]["reason"] == "rate_limit_exceeded"
    assert limiter.stats_for(TOKEN)["rate_limited"] == 1


def test_fault_reset_sends_an_rst_mid_response(fresh):
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)) as excinfo:
        _fault(fresh[0], "reset")
    chain, error = [], excinfo.value
    while error is not None:
        chain.append(error)
        error = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error.__context__
    assert any(isinstance(e, ConnectionResetError) for e in chain), chain
    assert requests.get(f"{fresh[0]}/payments", headers=AUTH, timeout=5).status_code == 200


def test_fault_hang_sends_nothing_until_the_client_gives_up(fresh):
    base_url, _, inner, _ = fresh
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        _fault(base_url, "hang=20", timeout=(1, 0.5))
    assert 0.5 <= time.monotonic() - started < 5
    assert inner.injected == {"hang": 1}
    # a hang bounded by the server: the connection closes without a byte
    with pytest.raises(requests.ConnectionError):
        _fault(base_url, "hang=0.3", timeout=(1, 5))
    assert requests.get(f"{base_url}/payments", headers=AUTH, timeout=5).status_code == 200


def test_network_faults_are_drawn_server_wide(fresh):
    base_url, limiter, inner, faults = fresh
    limiter.limit_per_minute = 1000
    faults.update(unavailable_rate=0.3, gateway_timeout_rate=0.3, retry_after_only_rate=0.3, retry_after_seconds=0)
    try:
        inner.reseed(5)
        codes = {requests.get(f"{base_url}/payments", headers=AUTH, timeout=5).status_code for _ in range(30)}
    finally:
        faults.update(unavailable_rate=0, gateway_timeout_rate=0, retry_after_only_rate=0, retry_after_seconds=1)
    assert codes == {200, 429, 503, 504}
    with pytest.raises(ValueError, match="hang_seconds"):
        FaultConfig(hang_seconds=-1)


@pytest.mark.parametrize("value", ["slow=abc", "hang=-1", "503=soon", "504=date:x", "429-retry-after=-2", "reset=3"])
def test_a_bad_fault_option_is_a_clear_400(fresh, value):
    response = _fault(fresh[0], value)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["errors"][0]["reason"] == "invalid_sandbox_fault" and value.split("=")[0] in error["message"]
