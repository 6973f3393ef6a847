"""Raw landing of GoCardless records: one warehouse table per API resource.

A record lands exactly as the API returned it (``payload``), next to the columns every table
shares (``user_id``, ``data_connection_id``, ``id``, ``created_at``, ``extracted_at``, the DAG
``run_id``). Payout items have no id of their own, so :func:`payout_item_key` synthesises one
from what the item is. Records the sync cannot read or trust land in
``raw.gocardless_quarantine`` instead (:func:`land_quarantine`), one row per record and reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gocardless_commerce.client.records import parse_created_at

from gocardless_commerce.warehouse.loader import Column, UpsertTarget, change_missing, upsert

if TYPE_CHECKING:
    from gocardless_commerce.client.pagination import RawRecords

_encode = msgspec.json.Encoder().encode

_BASE_COLUMNS = (
    Column("data_connection_id"),
    Column("id"),
    Column("user_id"),
    Column("created_at", "TIMESTAMP"),
)
_TAIL_COLUMNS = (
    Column("payload", "JSON"),
    Column("extracted_at", "TIMESTAMP"),
    Column("run_id"),
)


#: The landing sequence's next value, once per upsert statement: every raw row an upsert inserts
#: or changes (or a full refresh marks removed) gets it, so the commerce model finds what landed
#: since its watermark (``meta.model_watermarks``).
NEXT_LANDED_SEQ = "(SELECT nextval('meta.raw_landing_seq'))"


@dataclass(frozen=True)
class RawResource:
    """A GoCardless list endpoint and the raw table it lands in."""

    name: str  # API resource, e.g. "payments"
    include: str | None = None  # the events ``include=`` value returning its current state
    extra_columns: tuple[str, ...] = ()
    append_only: bool = False
    target: UpsertTarget = field(init=False)

    def __post_init__(self) -> None:
        columns = _BASE_COLUMNS + tuple(Column(c) for c in self.extra_columns) + _TAIL_COLUMNS
        object.__setattr__(
            self,
            "target",
            UpsertTarget(
                table=self.table,
                key=("data_connection_id", "id"),
                columns=columns,
                append_only=self.append_only,
                reset_columns=() if self.append_only else ("removed_at",),
                stamp_columns=(("landed_seq", NEXT_LANDED_SEQ),),
            ),
        )

    @property
    def table(self) -> str:
        return f"raw.gocardless_{self.name}"


RESOURCES: dict[str, RawResource] = {
    r.name: r
    for r in (
        RawResource("creditors", include="creditor"),
        RawResource("customers", include="customer"),
        RawResource("customer_bank_accounts"),
        RawResource("mandates", include="mandate"),
        RawResource("subscriptions", include="subscription"),
        RawResource("payments", include="payment"),
        RawResource("refunds", include="refund"),
        RawResource("payouts", include="payout"),
        RawResource("payout_items", extra_columns=("payout_id",)),
        RawResource("events", extra_columns=("resource_type", "action"), append_only=True),
    )
}

#: Event ``resource_type`` → the resource whose current state ``include=`` returns.
EVENT_RESOURCE_TYPES = {r.name: r for r in RESOURCES.values() if r.include}


@dataclass(frozen=True)
class LandingContext:
    """Who the records belong to and which run extracted them."""

    user_id: str
    data_connection_id: str
    run_id: str
    extracted_at: str  # ISO timestamp, UTC


def payout_item_key(payout_id: str, item_type: str | None, links: dict | None, amount: object) -> str:
    """A payout item's identity: payout + type + linked object + amount.

    The API gives items no id. A key made of what the item *is* survives a page served twice
    and a listing in another order (an occurrence number over the listing would count a
    repeated page as new items). Two items identical in all four are one item.
    """
    links = links or {}
    linked = links.get("payment") or links.get("refund") or links.get("mandate") or "-"
    return f"{payout_id}:{item_type}:{linked}:{amount}"


def payout_item_ids(payout_id: str, items: Sequence[dict]) -> list[str]:
    """:func:`payout_item_key` of each item (decoded items)."""
    return [payout_item_key(payout_id, item.get("type"), item.get("links"), item.get("amount")) for item in items]


def _rows(
    resource: RawResource,
    records: Sequence[dict],
    ctx: LandingContext,
    extra: dict | None = None,
    ids: Sequence[str] | None = None,
) -> list[tuple]:
    rows = []
    for position, record in enumerate(records):
        if resource.name == "events":
            extras: tuple = (record.get("resource_type"), record.get("action"))
        elif extra is not None:
            extras = tuple(extra[c] for c in resource.extra_columns)
        else:
            extras = ()
        rows.append(
            (
                ctx.data_connection_id,
                ids[position] if ids is not None else record["id"],
                ctx.user_id,
                record.get("created_at"),
                *extras,
                _encode(record).decode(),
                ctx.extracted_at,
                ctx.run_id,
            )
        )
    return rows


def _landed_created_at(value: str | None) -> str | None:
    """``created_at`` as the TIMESTAMP column takes it: GoCardless' own form (``…000Z``) as
    sent, any other offset converted to naive UTC (a cast would drop or misread it)."""
    if value is None or (len(value) == 24 and value[-1] == "Z"):
        return value
    moment = parse_created_at(value)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") if moment else None


def _raw_rows(
    resource: RawResource,
    records: RawRecords,
    ctx: LandingContext,
    extras: Sequence[tuple] | None = None,
    ids: Sequence[str] | None = None,
) -> list[tuple]:
    """:func:`_rows` for records kept as the API's JSON: the payload is those exact bytes.
    ``extras``: each record's extra columns (payout items: its payout)."""
    dc, user, extracted, run = ctx.data_connection_id, ctx.user_id, ctx.extracted_at, ctx.run_id
    heads = records.heads
    if ids is None:
        ids = [head.id for head in heads]
    payloads = [str(raw, "utf-8") for raw in records.raw]
    if resource.name == "payout_items":
        return [
            (dc, id_, user, None, *extra, payload, extracted, run)
            for id_, extra, payload in zip(ids, extras or (), payloads)
        ]
    created = [
        c if c is not None and len(c) == 24 and c[-1] == "Z" else _landed_created_at(c)
        for c in (head.created_at for head in heads)
    ]
    if resource.name == "events":
        return [
            (dc, id_, user, created_at, head.resource_type, head.action, payload, extracted, run)
            for id_, head, created_at, payload in zip(ids, heads, created, payloads)
        ]
    return [(dc, id_, user, created_at, payload, extracted, run) for id_, created_at, payload in zip(ids, created, payloads)]


def land(conn: Connection, resource: RawResource, records: Sequence[dict], ctx: LandingContext) -> int:
    """Upsert one batch of API records; returns the number of rows inserted or changed."""
    return upsert(conn, resource.target, _rows(resource, records, ctx, None))


def land_raw(
    conn: Connection,
    resource: RawResource,
    records: RawRecords,
    ctx: LandingContext,
    *,
    ids: Sequence[str] | None = None,
    extras: Sequence[tuple] | None = None,
) -> int:
    """:func:`land` for records as the API sent them (:meth:`GoCardlessClient.iter_raw_pages`):
    the payload is stored byte for byte, never decoded and re-encoded. ``ids`` replace the
    records' own (payout items), ``extras`` fill each record's extra columns."""
    return upsert(conn, resource.target, _raw_rows(resource, records, ctx, extras, ids))


def land_payout_items(conn: Connection, payouts: Sequence[tuple[str, Sequence[dict]]], ctx: LandingContext) -> int:
    """Land the items of several payouts with one upsert, keyed by :func:`payout_item_key`."""
    resource = RESOURCES["payout_items"]
    rows = []
    for payout_id, items in payouts:
        rows += _rows(resource, items, ctx, {"payout_id": payout_id}, payout_item_ids(payout_id, items))
    return upsert(conn, resource.target, rows)


@dataclass(frozen=True)
class QuarantinedRecord:
    """One record and one reason it was quarantined for, its JSON as the API sent it."""

    resource: str
    payload: str
    reason: str
    detail: str
    record_id: str | None = None

    @property
    def record_key(self) -> str:
        """The payload's SHA-256: one row per record as sent, also without a readable id."""
        return hashlib.sha256(self.payload.encode()).hexdigest()


QUARANTINE = UpsertTarget(
    table="raw.gocardless_quarantine",
    key=("data_connection_id", "resource", "record_key", "reason"),
    columns=(
        Column("data_connection_id"), Column("resource"), Column("record_key"), Column("reason"),
        Column("record_id"), Column("user_id"), Column("payload", "JSON"), Column("detail"),
        Column("first_seen_run_id"), Column("last_seen_run_id"),
    ),
    change_check=None,  # a rerun by another run only moves last_seen_run_id
    preserve_columns=("first_seen_run_id",),
)


def land_quarantine(conn: Connection, records: Iterable[QuarantinedRecord], ctx: LandingContext) -> int:
    """Upsert quarantined records; returns how many rows were new or changed."""
    rows = [
        (ctx.data_connection_id, q.resource, q.record_key, q.reason, q.record_id, ctx.user_id,
         q.payload, q.detail, ctx.run_id, ctx.run_id)
        for q in records
    ]
    return upsert(conn, QUARANTINE, rows)


def landed_payloads(conn: Connection, resource: RawResource, data_connection_id: str, ids: Sequence[str]) -> dict[str, str]:
    """The stored payload of each of ``ids`` that is landed (the copy an earlier chunk landed)."""
    return dict(_select_by_ids(conn, resource, data_connection_id, ids, "id, CAST(payload AS VARCHAR)"))


def landed_ids(conn: Connection, resource: RawResource, data_connection_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are landed."""
    return {row[0] for row in _select_by_ids(conn, resource, data_connection_id, ids, "id")}


def mandates_with_subscriptions(conn: Connection, data_connection_id: str, mandate_ids: Sequence[str]) -> set[str]:
    """Which of ``mandate_ids`` have a landed subscription."""
    found: set[str] = set()
    for start in range(0, len(mandate_ids), 5_000):
        found.update(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT (payload->'links'->>'mandate') FROM raw.gocardless_subscriptions "
                    "WHERE data_connection_id = :dc AND (payload->'links'->>'mandate') IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"dc": data_connection_id, "ids": list(mandate_ids[start:start + 5_000])},
            ).scalars()
        )
    return found


#: Subscription statuses whose record alone does not say when the subscription ended: a
#: ``cancelled`` one never does, a ``finished`` one only through its ``end_date`` or ``count``.
ENDED_WITHOUT_DATE = """
    s.payload ->> 'status' = 'cancelled'
    OR (s.payload ->> 'status' = 'finished' AND s.payload ->> 'end_date' IS NULL AND s.payload ->> 'count' IS NULL)"""


def subscriptions_missing_their_end(conn: Connection, data_connection_id: str) -> list[str]:
    """Landed subscriptions that ended (:data:`ENDED_WITHOUT_DATE`) but have no ``cancelled`` or
    ``finished`` event in raw: their ending event is older than the events window."""
    return list(
        conn.execute(
            sa.text(
                "SELECT s.id FROM raw.gocardless_subscriptions s "
                f"WHERE s.data_connection_id = :dc AND s.removed_at IS NULL AND ({ENDED_WITHOUT_DATE}) "
                "AND NOT EXISTS (SELECT 1 FROM raw.gocardless_events e "
                "WHERE e.data_connection_id = s.data_connection_id AND e.resource_type = 'subscriptions' "
                "AND e.action IN ('cancelled', 'finished') AND (e.payload -> 'links' ->> 'subscription') = s.id) "
                "ORDER BY s.id"
            ),
            {"dc": data_connection_id},
        ).scalars()
    )


def _select_by_ids(conn: Connection, resource: RawResource, data_connection_id: str, ids: Sequence[str], columns: str) -> list:
    rows: list = []
    for start in range(0, len(ids), 5_000):  # bounded parameter lists
        rows += conn.execute(
            sa.text(f"SELECT {columns} FROM {resource.table} WHERE data_connection_id = :dc AND id IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)),
            {"dc": data_connection_id, "ids": list(ids[start:start + 5_000])},
        ).all()
    return rows


def mark_removed(
    conn: Connection,
    resource: RawResource,
    data_connection_id: str,
    seen_ids: Iterable[str],
    removed_at: str,
    created_since: str | None = None,
) -> int:
    """After a full listing, flag rows the API no longer returns (GoCardless hard deletes).

    Only rows the listing covered are considered: with ``created_since``, older rows are
    outside the listing's window and are left alone. Returns how many rows were flagged.
    """
    window = " AND created_at >= CAST(:since AS TIMESTAMP)" if created_since else ""
    return change_missing(
        conn,
        resource.table,
        where=f"data_connection_id = :dc AND removed_at IS NULL{window}",
        params={"removed_at": removed_at, "dc": data_connection_id, "since": created_since},
        key="id",
        keep=seen_ids,
        set_clause=f"removed_at = CAST(:removed_at AS TIMESTAMP), landed_seq = {NEXT_LANDED_SEQ}",
    )
