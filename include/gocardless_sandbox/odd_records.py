"""Odd records on demand: the shapes real GoCardless responses sometimes carry.

Faults (``middleware``) break the HTTP exchange; these break the *records* inside a valid
response, so a pipeline's handling of bad data can be tested end to end:

* ``repeat_pages``: resources whose every list page carries its records twice (a page
  served again by a retrying proxy or a shifted cursor);
* ``reverse``: resources whose list pages carry their records in reverse order (a listing in
  another order);
* ``bad_fields``: ``{"resource", "id", "mode"}``: that record is served with one bad field
  (modes in :data:`BAD_FIELD_MODES`); for ``payout_items`` the id is the payout's, and the
  payout's first item is the one broken;
* ``conflicting_copies``: ``{"resource", "id"}``: that record is served twice in its page,
  the second copy with other content.

Set server-wide with ``PUT /sandbox/odd_records`` (the whole configuration; ``{}`` clears
it), read with ``GET /sandbox/odd_records``, or in process via ``app.state.odd_records``.
Applied to list pages, records linked by ``include=`` and single GETs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any


def _placeholder_created_at(record: dict[str, Any]) -> None:
    record["created_at"] = "example created_at 101"  # as in GoCardless' own client fixtures


def _null_created_at(record: dict[str, Any]) -> None:
    record["created_at"] = None


def _epoch_created_at(record: dict[str, Any]) -> None:
    record["created_at"] = "1970-01-01T00:00:00.000Z"  # valid, but older than any window asked for


def _far_future_created_at(record: dict[str, Any]) -> None:
    record["created_at"] = "2999-12-31T23:59:59.999Z"  # valid, but beyond any clock


def _missing_id(record: dict[str, Any]) -> None:
    record.pop("id", None)


def _numeric_id(record: dict[str, Any]) -> None:
    record["id"] = 12345


def _string_amount(record: dict[str, Any]) -> None:
    amount = record.get("amount")
    record["amount"] = str(amount) if isinstance(amount, int) else "n/a"


def _fractional_amount(record: dict[str, Any]) -> None:
    amount = record.get("amount")
    record["amount"] = amount / 100 if isinstance(amount, int) else 12.5


def _negative_amount(record: dict[str, Any]) -> None:
    """A well-formed but impossible amount: GoCardless carries a negative balance forward
    instead of paying it out (as the ledger does), so a negative payout only comes from here."""
    amount = record.get("amount")
    if isinstance(amount, str):  # payout items: "45.0" -> "-45.0"
        record["amount"] = "-" + amount.lstrip("-")
    else:
        record["amount"] = -abs(amount) if isinstance(amount, int) and amount else -1250


#: mode → how the record is broken.
BAD_FIELD_MODES = {
    "placeholder_created_at": _placeholder_created_at,
    "null_created_at": _null_created_at,
    "epoch_created_at": _epoch_created_at,
    "far_future_created_at": _far_future_created_at,
    "missing_id": _missing_id,
    "numeric_id": _numeric_id,
    "string_amount": _string_amount,  # integer amount as a string ("1250"); payout items: "n/a"
    "fractional_amount": _fractional_amount,  # 1250 → 12.5
    "negative_amount": _negative_amount,  # 1250 → -1250: lands, and the model's validation quarantines it
}


def _altered(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with other content but the same identity."""
    copy = json.loads(json.dumps(record))
    if "taxes" in copy:  # payout items: identity is payout + type + link + amount
        copy["taxes"] = [{"amount": "1.0", "currency": "GBP"}]
    else:
        copy["metadata"] = {**(copy.get("metadata") or {}), "sandbox_copy": "conflicting"}
    return copy


@dataclass
class OddRecords:
    """The server-wide odd-record configuration (see the module docstring)."""

    repeat_pages: set[str] = field(default_factory=set)
    reverse: set[str] = field(default_factory=set)
    bad_fields: dict[tuple[str, str], str] = field(default_factory=dict)  # (resource, id) -> mode
    conflicting_copies: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def replace(self, config: dict[str, Any]) -> None:
        """Set the whole configuration from its JSON form; a bad one changes nothing."""
        unknown = set(config) - {"repeat_pages", "reverse", "bad_fields", "conflicting_copies"}
        if unknown:
            raise ValueError(f"unknown odd-record settings: {', '.join(sorted(unknown))}")
        bad_fields = {}
        for entry in config.get("bad_fields", []):
            if entry.get("mode") not in BAD_FIELD_MODES:
                raise ValueError(f"bad_fields mode must be one of {', '.join(BAD_FIELD_MODES)}")
            bad_fields[(str(entry["resource"]), str(entry["id"]))] = entry["mode"]
        conflicting = {(str(e["resource"]), str(e["id"])) for e in config.get("conflicting_copies", [])}
        with self._lock:
            self.repeat_pages = set(config.get("repeat_pages", []))
            self.reverse = set(config.get("reverse", []))
            self.bad_fields = bad_fields
            self.conflicting_copies = conflicting

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "repeat_pages": sorted(self.repeat_pages),
                "reverse": sorted(self.reverse),
                "bad_fields": [{"resource": r, "id": i, "mode": m} for (r, i), m in sorted(self.bad_fields.items())],
                "conflicting_copies": [{"resource": r, "id": i} for r, i in sorted(self.conflicting_copies)],
            }

    @property
    def active(self) -> bool:
        return bool(self.repeat_pages or self.reverse or self.bad_fields or self.conflicting_copies)

    def apply(self, resource: str, bodies: list[bytes], *, listing: bool = True, payout_id: str | None = None) -> list[bytes]:
        """``bodies`` (one resource's records, as served) with this configuration applied."""
        if not self.active:
            return bodies
        with self._lock:
            targets = {i: m for (r, i), m in self.bad_fields.items() if r == resource}
            conflicting = {i for r, i in self.conflicting_copies if r == resource}
            repeat, reverse = resource in self.repeat_pages, resource in self.reverse
        served: list[bytes] = []
        for position, body in enumerate(bodies):
            key = payout_id  # payout items have no id: their payout's stands for them
            if key is None and (targets or conflicting):
                key = json.loads(body).get("id")
            first_item = payout_id is None or position == 0
            if key in targets and first_item:
                record = json.loads(body)
                BAD_FIELD_MODES[targets[key]](record)
                body = json.dumps(record).encode()
            served.append(body)
            if key in conflicting and first_item and listing:
                served.append(json.dumps(_altered(json.loads(body))).encode())
        if listing and reverse:
            served.reverse()
        if listing and repeat:
            served += served
        return served
