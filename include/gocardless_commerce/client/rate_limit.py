"""Reading GoCardless' ``RateLimit-*`` headers and deciding how long to wait.

GoCardless allows 1000 requests per minute per token and reports the budget on every
response. The transport records it here after each response and asks, before the next
request, whether to sleep until the window resets. Waiting *before* the budget runs out
(keeping a small reserve) is what lets a sync run at ~full speed without a single 429.

The wait is ``RateLimit-Reset - Date``, both stamped by the server, so a skewed local
clock cannot shorten it; local time is only the fallback when ``Date`` is missing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RateLimit:
    """The budget reported by the latest response."""

    limit: int | None
    remaining: int | None
    reset: datetime | None


@dataclass
class RateLimitWaits:
    """Sleeps spent waiting for a window to reset: pre-emptive ones and those after a 429."""

    count: int = 0
    seconds: float = 0.0


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``RateLimit-Limit/Remaining/Reset`` (any case), or None if the response has none."""
    lowered = _lower(headers)
    if not any(k in lowered for k in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")):
        return None
    return RateLimit(
        limit=_int(lowered.get("ratelimit-limit")),
        remaining=_int(lowered.get("ratelimit-remaining")),
        reset=_http_date(lowered.get("ratelimit-reset")),
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds, or an HTTP-date less the server's ``Date``
    (local time when there is none). None when absent or unreadable."""
    lowered = _lower(headers)
    value = (lowered.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    when = _http_date(value)
    if when is None:
        return None
    server_now = _http_date(lowered.get("date"))
    base = server_now.timestamp() if server_now else (time.time() if now is None else now)
    return max(when.timestamp() - base, 0.0)


def seconds_until_reset(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait for the budget to come back, from one response's headers.

    ``RateLimit-Reset - Date`` when both are present; otherwise ``Reset`` against local time;
    otherwise ``Retry-After`` (seconds or an HTTP-date). None when the response says nothing.
    """
    lowered = _lower(headers)
    reset = _http_date(lowered.get("ratelimit-reset"))
    if reset is not None:
        server_now = _http_date(lowered.get("date"))
        if server_now is not None:
            return max((reset - server_now).total_seconds(), 0.0)
        local_now = time.time() if now is None else now
        return max(reset.timestamp() - local_now, 0.0)
    return retry_after_seconds(headers, now=now)


def server_wait_hint(status: int, headers: Mapping[str, str]) -> float | None:
    """How long the server asks us to wait before retrying an error response.

    ``Retry-After`` first (the instruction for this very response: 503, 504, or a 429 from a
    proxy that sends nothing else); for a 429 without it, the rate-limit window's reset.
    """
    hint = retry_after_seconds(headers)
    if hint is None and status == 429:
        hint = seconds_until_reset(headers)
    return hint
