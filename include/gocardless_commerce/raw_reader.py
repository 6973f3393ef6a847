"""The commerce model's reading of one data connection's raw records, in bounded chunks.

A merchant's history can be millions of records (a 1M-payment merchant has about 5M events
and 2M payout items), so the model never holds it whole. The warehouse computes the
cross-resource facts once per run into temporary tables (newest event per resource, fee items
per payment, the payout of each refund, subscription events); each resource is then read in
chunks of ``chunk_rows`` records, ordered by id, together with exactly the facts that chunk
needs, as a :class:`~gocardless_commerce.commerce.lookups.Lookups`. The pure transforms run
unchanged on each chunk, and memory is bounded by the chunk size instead of the history.

Every fact is computed with the same rules as :func:`~gocardless_commerce.commerce.lookups.build_lookups`
(the in-memory path the transforms' tests use): SQL only selects and groups; values the
transforms must judge (amounts, which may be malformed) are still judged in Python.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gocardless_commerce.commerce.frames import RAW_COLUMNS, RawRecord, as_timestamp, records
from gocardless_commerce.commerce.lookups import Lookups, SubscriptionEvent
from gocardless_commerce.commerce.mapping import EVENT_LINK_KEY, FEE_ITEM_TYPES
from gocardless_commerce.commerce.money import minor_to_major
from gocardless_commerce.warehouse.engine import transaction
from gocardless_commerce.warehouse.loader import staged

#: Records per chunk: about 60 MB of Python objects for payments, whatever the history.
DEFAULT_CHUNK_ROWS = 25_000

_FEE_TYPES = ", ".join(f"'{t}'" for t in sorted(FEE_ITEM_TYPES))
_LINKED_ID = "CASE e.resource_type " + " ".join(
    f"WHEN '{resource_type}' THEN e.payload -> 'links' ->> '{key}'" for resource_type, key in sorted(EVENT_LINK_KEY.items())
) + " END"

#: name → the query filling it (``:dc`` is the data connection). Created per reading, dropped after.
_FACT_TABLES = {
    # newest event per resource (``updated_at`` of every commerce row)
    "model_last_event": f"""
        SELECT resource_type, resource_id, max(created_at) AS last_event_at FROM (
            SELECT e.resource_type, {_LINKED_ID} AS resource_id, e.created_at
            FROM raw.gocardless_events e
            WHERE e.data_connection_id = :dc AND e.removed_at IS NULL AND e.created_at IS NOT NULL
        ) linked
        WHERE resource_id IS NOT NULL AND resource_id <> ''
        GROUP BY resource_type, resource_id""",
    # fee payout items linked to a payment (summed per payment in Python: amounts may be malformed)
    "model_payment_fee_items": f"""
        SELECT payload -> 'links' ->> 'payment' AS payment_id, payload ->> 'amount' AS amount
        FROM raw.gocardless_payout_items
        WHERE data_connection_id = :dc AND removed_at IS NULL AND payload ->> 'type' IN ({_FEE_TYPES})
          AND COALESCE(payload -> 'links' ->> 'payment', '') <> ''""",
    # the payout each refund was deducted from
    "model_refund_items": """
        SELECT payload -> 'links' ->> 'refund' AS refund_id, id AS item_id, payout_id
        FROM raw.gocardless_payout_items
        WHERE data_connection_id = :dc AND removed_at IS NULL AND payload ->> 'type' = 'refund'
          AND COALESCE(payload -> 'links' ->> 'refund', '') <> ''""",
    "model_subscription_events": """
        SELECT payload -> 'links' ->> 'subscription' AS subscription_id, id AS event_id, created_at, action,
               user_id, data_connection_id
        FROM raw.gocardless_events
        WHERE data_connection_id = :dc AND removed_at IS NULL AND resource_type = 'subscriptions'
          AND created_at IS NOT NULL AND COALESCE(payload -> 'links' ->> 'subscription', '') <> ''""",
}

#: Fee payout items not linked to a payment: the ``FEE`` transactions.
UNLINKED_FEE_ITEMS = f"payload ->> 'type' IN ({_FEE_TYPES}) AND COALESCE(payload -> 'links' ->> 'payment', '') = ''"


@dataclass(frozen=True)
class Chunk:
    """Raw rows of one resource (the columns of ``RawFrames``) and the facts they need."""

    frame: pd.DataFrame
    lookups: Lookups


class RawReader:
    """Chunked reads of one data connection's live raw records (removed ones excluded).

    Use :func:`read_raw` to get one: the fact tables exist for the reader's lifetime.
    """

    def __init__(self, conn: Connection, data_connection_id: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.conn = conn
        self.dc = data_connection_id
        self.chunk_rows = chunk_rows
        self._customer_of_mandate: dict[tuple[str, str], str] | None = None

    # -- facts -----------------------------------------------------------------------------
    def create_fact_tables(self) -> None:
        for name, query in _FACT_TABLES.items():
            self.conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS {query}"), {"dc": self.dc})

    def drop_fact_tables(self) -> None:
        for name in _FACT_TABLES:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    @property
    def customer_of_mandate(self) -> dict[tuple[str, str], str]:
        """Every mandate's customer: small (one per mandate, not per payment), read once."""
        if self._customer_of_mandate is None:
            rows = self.conn.execute(
                sa.text(
                    "SELECT data_connection_id, id, payload -> 'links' ->> 'customer' FROM raw.gocardless_mandates "
                    "WHERE data_connection_id = :dc AND removed_at IS NULL"
                ),
                {"dc": self.dc},
            )
            self._customer_of_mandate = {(dc, mandate): customer for dc, mandate, customer in rows if customer}
        return self._customer_of_mandate

    def _facts_of(self, table: str, key: str, columns: str, ids: Sequence[str], tail: str = "") -> list[tuple]:
        """Rows of ``table`` whose ``key`` is one of ``ids`` (joined on a staged id list), then ``tail``."""
        if not ids:
            return []
        with staged(self.conn, ["k"], [(i,) for i in sorted(set(ids))]) as stage:
            return self.conn.execute(
                sa.text(f"SELECT {columns} FROM {table} f JOIN {stage} s ON f.{key} = s.k {tail}"), {"dc": self.dc}
            ).all()

    def _records_by_id(self, table: str, ids: Sequence[str], resource_type: str) -> tuple[dict, dict]:
        """Full raw records of ``ids`` (e.g. the payments refunded by a chunk of refunds) and their last events."""
        rows = self._facts_of(
            table, "id",
            "f.user_id, f.data_connection_id, f.id, f.created_at, CAST(f.payload AS VARCHAR), le.last_event_at", ids,
            tail=f"LEFT JOIN model_last_event le ON le.resource_type = '{resource_type}' AND le.resource_id = f.id "
                 "WHERE f.data_connection_id = :dc AND f.removed_at IS NULL",
        )
        found, last_events = {}, {}
        for user_id, dc, rid, created_at, payload, last_event_at in rows:
            found[(dc, rid)] = RawRecord(user_id, dc, rid, as_timestamp(created_at), json.loads(payload))
            if last_event_at is not None:
                last_events[(dc, resource_type, rid)] = as_timestamp(last_event_at)
        return found, last_events

    # -- chunks ----------------------------------------------------------------------------
    def _chunks(self, table: str, resource_type: str | None, where: str = "", extra: Sequence[str] = ()) -> Iterator[tuple[pd.DataFrame, dict]]:
        """Keyset pages of ``table`` ordered by id, each with its rows' newest event times."""
        extra_columns = "".join(f", t.{c}" for c in extra)
        filtered = f" AND ({where})" if where else ""
        joined = (
            f"LEFT JOIN model_last_event le ON le.resource_type = '{resource_type}' AND le.resource_id = t.id"
            if resource_type else ""
        )
        last_event = "le.last_event_at" if resource_type else "NULL"
        after = ""
        while True:
            rows = self.conn.execute(
                sa.text(
                    f"SELECT t.user_id, t.data_connection_id, t.id, t.created_at, t.payload{extra_columns}, {last_event} "
                    f"FROM (SELECT user_id, data_connection_id, id, created_at, CAST(payload AS VARCHAR) AS payload"
                    f"{''.join(f', {c}' for c in extra)} FROM {table} "
                    f"WHERE data_connection_id = :dc AND removed_at IS NULL AND id > :after{filtered} "
                    f"ORDER BY id LIMIT :limit) t {joined} ORDER BY t.id"
                ),
                {"dc": self.dc, "after": after, "limit": self.chunk_rows},
            ).all()
            if not rows:
                return
            columns = list(zip(*rows, strict=True))
            frame = pd.DataFrame(dict(zip((*RAW_COLUMNS, *extra), columns[:-1], strict=True)), dtype=object)
            last_events = {
                (dc, resource_type, rid): as_timestamp(at)
                for dc, rid, at in zip(columns[1], columns[2], columns[-1], strict=True) if at is not None
            }
            yield frame, last_events
            after = rows[-1][2]

    def payments(self) -> Iterator[Chunk]:
        for frame, last_events in self._chunks("raw.gocardless_payments", "payments"):
            fees: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
            for payment_id, amount in self._facts_of(
                "model_payment_fee_items", "payment_id", "f.payment_id, f.amount", list(frame["id"])
            ):
                amount = minor_to_major(amount)
                if amount is not None:
                    fees[(self.dc, payment_id)] += amount
            yield Chunk(frame, Lookups(
                customer_of_mandate=self.customer_of_mandate, fees_of_payment=dict(fees), last_event_at=last_events,
            ))

    def refunds(self) -> Iterator[Chunk]:
        for frame, last_events in self._chunks("raw.gocardless_refunds", "refunds"):
            payment_ids = [r.payload.get("links", {}).get("payment") for r in records(frame)
                           if isinstance(r.payload.get("links"), dict)]
            payments, _ = self._records_by_id("raw.gocardless_payments", [p for p in payment_ids if isinstance(p, str) and p], "payments")
            payout_of_refund = {
                (self.dc, refund_id): payout_id
                for refund_id, payout_id in self._facts_of(
                    "model_refund_items", "refund_id", "f.refund_id, f.payout_id", list(frame["id"]), tail="ORDER BY f.item_id"
                )
            }
            yield Chunk(frame, Lookups(
                customer_of_mandate=self.customer_of_mandate, payments=payments,
                payout_of_refund=payout_of_refund, last_event_at=last_events,
            ))

    def payouts(self) -> Iterator[Chunk]:
        for frame, last_events in self._chunks("raw.gocardless_payouts", "payouts"):
            yield Chunk(frame, Lookups(last_event_at=last_events))

    def unlinked_fee_items(self) -> Iterator[Chunk]:
        for frame, _ in self._chunks("raw.gocardless_payout_items", None, UNLINKED_FEE_ITEMS, extra=("payout_id",)):
            payouts, last_events = self._records_by_id("raw.gocardless_payouts", list(frame["payout_id"]), "payouts")
            yield Chunk(frame, Lookups(
                customer_of_mandate=self.customer_of_mandate, payouts=payouts, last_event_at=last_events,
            ))

    def subscriptions(self) -> Iterator[Chunk]:
        for frame, last_events in self._chunks("raw.gocardless_subscriptions", "subscriptions"):
            history: dict[tuple[str, str], list[SubscriptionEvent]] = defaultdict(list)
            for subscription_id, event_id, created_at, action in self._facts_of(
                "model_subscription_events", "subscription_id",
                "f.subscription_id, f.event_id, f.created_at, f.action", list(frame["id"]),
            ):
                history[(self.dc, subscription_id)].append(SubscriptionEvent(as_timestamp(created_at), event_id, action))
            for events in history.values():
                events.sort()
            yield Chunk(frame, Lookups(
                customer_of_mandate=self.customer_of_mandate, last_event_at=last_events,
                subscription_events=dict(history),
            ))

    def subscription_events(self) -> pd.DataFrame:
        """Status events of every subscription, as a raw events frame (for the insights)."""
        rows = self.conn.execute(sa.text(
            "SELECT user_id, data_connection_id, event_id, created_at, subscription_id, action "
            "FROM model_subscription_events ORDER BY event_id"
        )).all()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
        payloads = [
            json.dumps({"resource_type": "subscriptions", "action": action, "links": {"subscription": subscription_id}})
            for subscription_id, action in zip(columns[4], columns[5], strict=True)
        ]
        return pd.DataFrame({
            "user_id": columns[0], "data_connection_id": columns[1], "id": columns[2], "created_at": columns[3],
            "payload": payloads, "resource_type": ["subscriptions"] * len(rows), "action": list(columns[5]),
        }, dtype=object)


@contextmanager
def read_raw(engine: Engine, data_connection_id: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawReader]:
    """A :class:`RawReader` over one consistent snapshot (one read transaction)."""
    with transaction(engine) as conn:
        reader = RawReader(conn, data_connection_id, chunk_rows)
        reader.create_fact_tables()
        try:
            yield reader
        finally:
            reader.drop_fact_tables()
