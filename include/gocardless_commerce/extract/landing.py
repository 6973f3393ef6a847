"""Raw landing of GoCardless records: one warehouse table per API resource.

A record lands exactly as the API returned it (``payload``), next to the columns every table
shares (``user_id``, ``data_connection_id``, ``id``, ``created_at``, ``extracted_at``, the DAG
``run_id``). Payout items have no id of their own, so :func:`payout_item_ids` synthesises a
stable one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy.engine import Connection

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


def payout_item_ids(payout_id: str, items: Sequence[dict]) -> list[str]:
    """Stable keys for a payout's items: payout + type + linked object + occurrence number.

    The API gives items no id; the same (type, linked object) can occur more than once in a
    payout (e.g. two fees on one payment), hence the occurrence number, counted in API order.
    """
    return _item_ids(payout_id, ((item.get("type"), item.get("links")) for item in items))


def _item_ids(payout_id: str, items: Iterable[tuple[str | None, dict | None]]) -> list[str]:
    seen: Counter[str] = Counter()
    ids = []
    for item_type, links in items:
        links = links or {}
        linked = links.get("payment") or links.get("refund") or links.get("mandate") or "-"
        base = f"{payout_id}:{item_type}:{linked}"
        seen[base] += 1
        ids.append(f"{base}:{seen[base]}")
    return ids


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


def _raw_rows(
    resource: RawResource,
    records: RawRecords,
    ctx: LandingContext,
    extra: tuple = (),
    ids: Sequence[str] | None = None,
) -> list[tuple]:
    """:func:`_rows` for records kept as the API's JSON: the payload is those exact bytes."""
    dc, user, extracted, run = ctx.data_connection_id, ctx.user_id, ctx.extracted_at, ctx.run_id
    heads = records.heads
    if ids is None:
        ids = [head.id for head in heads]
    payloads = [str(raw, "utf-8") for raw in records.raw]
    if resource.name == "events":
        return [
            (dc, id_, user, head.created_at, head.resource_type, head.action, payload, extracted, run)
            for id_, head, payload in zip(ids, heads, payloads)
        ]
    return [
        (dc, id_, user, head.created_at, *extra, payload, extracted, run)
        for id_, head, payload in zip(ids, heads, payloads)
    ]


def land(conn: Connection, resource: RawResource, records: Sequence[dict], ctx: LandingContext) -> int:
    """Upsert one batch of API records; returns the number of rows inserted or changed."""
    return upsert(conn, resource.target, _rows(resource, records, ctx, None))


def land_raw(conn: Connection, resource: RawResource, records: RawRecords, ctx: LandingContext) -> int:
    """:func:`land` for records as the API sent them (:meth:`GoCardlessClient.iter_raw_pages`):
    the payload is stored byte for byte, never decoded and re-encoded."""
    return upsert(conn, resource.target, _raw_rows(resource, records, ctx))


def land_payout_items(conn: Connection, payouts: Sequence[tuple[str, Sequence[dict]]], ctx: LandingContext) -> int:
    """Land the items of several payouts with one upsert, keyed by :func:`payout_item_ids`."""
    resource = RESOURCES["payout_items"]
    rows = []
    for payout_id, items in payouts:
        rows += _rows(resource, items, ctx, {"payout_id": payout_id}, payout_item_ids(payout_id, items))
    return upsert(conn, resource.target, rows)


def land_raw_payout_items(
    conn: Connection, payouts: Sequence[tuple[str, RawRecords]], ctx: LandingContext
) -> int:
    """:func:`land_payout_items` for items as the API sent them (see :func:`land_raw`)."""
    resource = RESOURCES["payout_items"]
    rows = []
    for payout_id, items in payouts:
        ids = _item_ids(payout_id, ((head.type, head.links) for head in items.heads))
        rows += _raw_rows(resource, items, ctx, (payout_id,), ids)
    return upsert(conn, resource.target, rows)


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
        set_clause="removed_at = CAST(:removed_at AS TIMESTAMP)",
    )
