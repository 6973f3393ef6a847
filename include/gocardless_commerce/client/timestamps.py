"""GoCardless' timestamp format, both ways: the one place that writes and reads it.

The API sends and accepts ISO 8601 in UTC with milliseconds and a ``Z``
(``2026-11-21T09:30:00.000Z``); filters such as ``created_at[gte]`` must use the same form.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """``moment`` as GoCardless writes timestamps: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """A GoCardless timestamp as an aware UTC datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse_naive_utc(value: str) -> datetime:
    """A GoCardless timestamp as naive UTC, as the warehouse's ``TIMESTAMP`` columns hold it."""
    return parse_timestamp(value).replace(tzinfo=None)
