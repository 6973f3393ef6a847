"""The raw input of the commerce model, and the tolerant readers every transform shares.

Transforms must be total: a malformed GoCardless record (missing amount, odd date, payload
stored as a JSON string) becomes a row with ``None`` where the value was unusable, and the
validation suites quarantine it with the reason. Nothing here raises on bad source data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import msgspec
import pandas as pd

RAW_COLUMNS = ("user_id", "data_connection_id", "id", "created_at", "payload")
_ASCII_INTEGER = re.compile(r"-?[0-9]+")
_decode_json = msgspec.json.Decoder().decode


def _empty(*extra: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_COLUMNS + extra})


@dataclass(frozen=True)
class RawFrames:
    """Raw rows per GoCardless resource, as read from ``raw.gocardless_*`` (removed rows excluded).

    Every frame has ``user_id``, ``data_connection_id``, ``id``, ``created_at`` (UTC naive,
    may be NaT) and ``payload`` (the GoCardless record, a dict or its JSON text); payout items
    add ``payout_id``, events add ``resource_type`` and ``action``. Missing frames are empty.
    """

    payments: pd.DataFrame = field(default_factory=_empty)
    refunds: pd.DataFrame = field(default_factory=_empty)
    payouts: pd.DataFrame = field(default_factory=_empty)
    payout_items: pd.DataFrame = field(default_factory=lambda: _empty("payout_id"))
    subscriptions: pd.DataFrame = field(default_factory=_empty)
    mandates: pd.DataFrame = field(default_factory=_empty)
    customers: pd.DataFrame = field(default_factory=_empty)
    events: pd.DataFrame = field(default_factory=lambda: _empty("resource_type", "action"))


class RawRecord(NamedTuple):
    user_id: str
    data_connection_id: str
    id: str
    created_at: datetime | None
    payload: dict[str, Any]
    payout_id: str | None = None


def as_payload(value: Any) -> dict[str, Any]:
    """The record as a dict, whether the warehouse handed back a dict or JSON text."""
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            parsed = _decode_json(value)  # ~4× json.loads: a million payloads a rebuild
        except (msgspec.DecodeError, msgspec.ValidationError):
            try:  # what msgspec refuses and Python reads (NaN, 1e400): read as json.loads reads it
                parsed = json.loads(value)
            except ValueError:
                return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def as_timestamp(value: Any) -> datetime | None:
    """A naive UTC ``datetime`` (microseconds), or ``None`` for NaT / unparsable values."""
    if value is None or value is pd.NaT:
        return None
    if type(value) is datetime:  # what the warehouse hands back: no pandas round trip (~15 µs a value)
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def records(frame: pd.DataFrame | None) -> Iterator[RawRecord]:
    """Iterate a raw frame as :class:`RawRecord` (payloads parsed, timestamps normalised)."""
    if frame is None or frame.empty:
        return
    payout_ids = frame["payout_id"] if "payout_id" in frame.columns else [None] * len(frame)
    for user_id, dc, rid, created_at, payload, payout_id in zip(
        frame["user_id"], frame["data_connection_id"], frame["id"], frame["created_at"],
        frame["payload"], payout_ids, strict=True,
    ):
        yield RawRecord(user_id, dc, rid, as_timestamp(created_at), as_payload(payload), payout_id)


def links(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload.get("links")
    return value if isinstance(value, dict) else {}


def to_date(value: Any) -> date | None:
    """``YYYY-MM-DD`` (or a timestamp's date) → ``date``; ``None`` when unusable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def strict_date(value: Any) -> date | None:
    """Exactly ``YYYY-MM-DD`` → ``date``; anything else (``"soon"``, ``"2024-13-01"``, a number,
    a timestamp) → ``None``. For the date fields GoCardless documents as dates."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def to_int(value: Any) -> int | None:
    """An integer, or a string of ASCII digits with an optional sign → ``int``; anything else
    (a bool, ``"1.5"``, ``"¹"`` — a digit to ``str.isdigit`` but not to ``int``) → ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def text(value: Any) -> str | None:
    """A non-empty string or ``None``."""
    if value is None:
        return None
    value = str(value)
    return value or None
