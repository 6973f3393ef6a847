"""Declared schemas of the fields a sync reads, and the check that sorts each record of a page
into "land" or "quarantine".

GoCardless records are kept as the JSON the API sent (:class:`~.pagination.RawRecords`); only
the fields below are decoded, each with its declared type. A record whose fields do not match
(an ``id`` that is not a string, a ``created_at`` that is not a timestamp, an amount that is
not an integer in minor units…) is *rejected*, not coerced: it travels beside the page with its
reasons, so the sync can quarantine it and land the rest. Nothing is converted with ``float()``
or ``str()``.

Speed: a page is decoded with its resource's schema in one pass (msgspec, in C); only when
that fails is the page decoded record by record, and only a failing record is decoded whole to
name every reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

#: Every reason a record can be rejected for at the edge (documented in docs/metrics.md).
NOT_AN_OBJECT = "not_an_object"

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
#: Payout item amounts: a decimal string in minor units with one decimal ("-20.5").
DecimalString = Annotated[str, msgspec.Meta(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
_fromisoformat = datetime.fromisoformat


class RecordHead(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a record a sync reads; the rest stays in its raw JSON.

    The base of every resource's schema: ``id`` and ``created_at`` are required. Subclasses
    add what their resource needs (amounts, event fields); unknown fields are ignored.
    """

    id: NonEmpty
    created_at: str  # checked by parse_created_at: msgspec's datetime would lose the text
    links: dict[str, Any] | None = None


class AmountHead(RecordHead, frozen=True, kw_only=True):
    """Refunds and subscriptions: ``amount`` is an integer in minor units."""

    amount: int


class PaymentHead(AmountHead, frozen=True, kw_only=True):
    amount_refunded: int | None = None


class PayoutHead(AmountHead, frozen=True, kw_only=True):
    deducted_fees: int | None = None


class EventHead(RecordHead, frozen=True, kw_only=True):
    """Events land with their ``resource_type`` and ``action`` columns (NOT NULL)."""

    resource_type: NonEmpty
    action: NonEmpty


class PayoutItemHead(msgspec.Struct, frozen=True, kw_only=True):
    """Payout items have no ``id`` nor ``created_at``; their amount is a decimal string."""

    type: NonEmpty
    amount: DecimalString
    links: dict[str, Any] | None = None


SCHEMAS: dict[str, type] = {
    "payments": PaymentHead,
    "refunds": AmountHead,
    "subscriptions": AmountHead,
    "payouts": PayoutHead,
    "events": EventHead,
    "payout_items": PayoutItemHead,
}
_DECODERS: dict[type, tuple[msgspec.json.Decoder, msgspec.json.Decoder]] = {}
_ANY = msgspec.json.Decoder()
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


def schema_for(resource: str) -> type:
    """The declared schema of ``resource`` (``RecordHead`` for resources without amounts)."""
    return SCHEMAS.get(resource, RecordHead)


def _decoders(schema: type) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder]:
    if schema not in _DECODERS:
        _DECODERS[schema] = (msgspec.json.Decoder(list[schema]), msgspec.json.Decoder(schema))
    return _DECODERS[schema]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot be read or trusted: its JSON as sent and every reason found."""

    raw: msgspec.Raw
    record_id: str | None  # the id as sent, when it is a string
    reasons: tuple[str, ...]
    detail: str


def parse_created_at(value: Any) -> datetime | None:
    """A GoCardless ``created_at`` as an aware datetime; None unless it is an ISO 8601
    timestamp with a date, a time and an offset (a placeholder, a bare date, a number: None)."""
    if type(value) is not str or value[10:11] != "T":
        return None
    try:
        moment = _fromisoformat(value)
    except ValueError:  # "example created_at 1", 2026-02-30T…
        return None
    return moment if moment.tzinfo is not None else None


def _field_reasons(schema: type, record: Any) -> tuple[list[str], list[str]]:
    """Every declared field that ``record`` breaks, as (reasons, details); a record's every
    fault is named, not only the first one msgspec meets."""
    if not isinstance(record, dict):
        return [NOT_AN_OBJECT], [f"a {type(record).__name__}, not an object"]
    reasons, details = [], []
    for info in msgspec.structs.fields(schema):
        value = record.get(info.encode_name)
        if info.required and value is None:
            reasons.append(f"missing_{info.name}")
            details.append(f"{info.name} is missing")
            continue
        if info.name not in record:
            continue
        try:
            msgspec.convert(value, info.type, strict=True)
        except msgspec.ValidationError:
            reasons.append(f"invalid_{info.name}")
            details.append(f"{info.name} is {_show(value)}")
    if schema is not PayoutItemHead and "invalid_created_at" not in reasons and "missing_created_at" not in reasons:
        if parse_created_at(record.get("created_at")) is None:
            reasons.append("invalid_created_at")
            details.append(f"created_at is {_show(record.get('created_at'))}, not a timestamp")
    return reasons, details


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def reject(schema: type, raw: msgspec.Raw) -> Rejected | None:
    """The :class:`Rejected` for one record, or None when it satisfies ``schema``."""
    record = _ANY.decode(raw)
    reasons, details = _field_reasons(schema, record)
    if not reasons:
        return None
    record_id = record.get("id") if isinstance(record, dict) else None
    return Rejected(
        raw=raw,
        record_id=record_id if isinstance(record_id, str) else None,
        reasons=tuple(reasons),
        detail="; ".join(details),
    )


@dataclass(frozen=True, slots=True)
class ParsedRecords:
    """A page's records sorted: those to land (raw JSON + head, aligned) and those rejected,
    plus the newest ``created_at`` among those to land (for cursors)."""

    raw: list[msgspec.Raw]
    heads: list[Any]
    rejected: list[Rejected]
    newest: datetime | None


def parse_records(resource: str, value: msgspec.Raw) -> ParsedRecords:
    """Decode a JSON array of ``resource`` records with its schema; never raises for a bad
    record (only for a value that is not an array: that is a malformed page, not a record)."""
    schema = schema_for(resource)
    many, one = _decoders(schema)
    raw = _RAW_LIST.decode(value)
    try:
        heads = many.decode(value)
    except msgspec.ValidationError:
        heads = None
    rejected: list[Rejected] = []
    if heads is None:  # at least one bad record: sort them one by one
        kept_raw, heads = [], []
        for record in raw:
            try:
                head = one.decode(record)
            except msgspec.ValidationError:
                rejected.append(reject(schema, record) or _unexplained(record))
                continue
            kept_raw.append(record)
            heads.append(head)
        raw = kept_raw
    if schema is PayoutItemHead:
        return ParsedRecords(raw, heads, rejected, None)
    newest = None
    bad_times: list[int] = []
    for position, head in enumerate(heads):
        moment = parse_created_at(head.created_at)
        if moment is None:
            bad_times.append(position)
        elif newest is None or moment > newest:
            newest = moment
    if newest is not None:
        newest = newest.astimezone(UTC)
    if bad_times:
        for position in bad_times:
            rejected.append(reject(schema, raw[position]) or _unexplained(raw[position]))
        dropped = set(bad_times)
        raw = [r for i, r in enumerate(raw) if i not in dropped]
        heads = [h for i, h in enumerate(heads) if i not in dropped]
    return ParsedRecords(raw, heads, rejected, newest)


def _unexplained(raw: msgspec.Raw) -> Rejected:
    """msgspec refused a record our own checks pass: keep it, under a reason that says so."""
    return Rejected(raw=raw, record_id=None, reasons=("unreadable",), detail="does not match the declared schema")
