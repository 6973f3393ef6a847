"""Simulated time as integer epoch milliseconds, and GoCardless' timestamp formats.

The generator handles millions of timestamps, so it works on ints and formats at the edge:
``created_at`` as ``2014-01-01T12:00:00.000Z`` and dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, date, datetime

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def iso(ms: int) -> str:
    """``2014-01-01T12:00:00.000Z``, the API's timestamp format."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def day_str(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def day_start(ms: int) -> int:
    return ms - ms % DAY


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(round(value.timestamp() * 1000))


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def from_date(value: date | str) -> int:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return calendar.timegm(value.timetuple()) * 1000


def parse_timestamp(text: str) -> int:
    """Parse an ISO timestamp or date from a query string (naive means UTC)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return from_datetime(parsed)


def add_months(day: date, months: int, day_of_month: int | None = None) -> date:
    """The same (or the given) day ``months`` later, clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    wanted = day_of_month if day_of_month is not None else day.day
    if wanted == -1:
        wanted = last
    return date(year, month + 1, min(wanted, last))
