"""The commerce model's reading of one data connection's raw records, in bounded chunks.

A merchant's history can be millions of records (a 1M-payment merchant has about 5M events
and 2M payout items), so the model never holds it whole. The warehouse computes the
cross-resource facts once per run into temporary tables (newest event per resource, fee items
per payment, the payout of each refund, subscription events); each resource is then read in
chunks of ``chunk_rows`` records, ordered by id, together with exactly the facts that chunk
needs, as a :class:`~gocardless_commerce.model.lookups.Lookups`. The pure transforms run
unchanged on each chunk, and memory is bounded by the chunk size instead of the history.

Every fact is computed with the same rules as :func:`~gocardless_commerce.model.lookups.build_lookups`
(the in-memory path the transforms' tests use): SQL only selects and groups; values the
transforms must judge (amounts, which may be malformed) are still judged in Python.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gocardless_commerce.model.frames import RAW_COLUMNS, RawRecord, as_timestamp
from gocardless_commerce.model.lookups import Lookups, SubscriptionEvent
from gocardless_commerce.model.mapping import EVENT_LINK_KEY, FEE_ITEM_TYPES, SUBSCRIPTION_AMENDED, SUBSCRIPTION_EVENT_STATE
from gocardless_commerce.model.money import item_minor_units, minor_units

#: A bound parameter of the model's SQL (``:dc``), as DuckDB's own API spells it (``$dc``).
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")

#: Records per chunk: about 50 MB of Python objects for payments, whatever the history.
DEFAULT_CHUNK_ROWS = 10_000

_FEE_TYPES = ", ".join(f"'{t}'" for t in sorted(FEE_ITEM_TYPES))
#: Subscription actions the model replays (``status_history``, ``ended_at``, the amount history);
#: others change nothing.
_STATUS_ACTIONS = ", ".join(f"'{a}'" for a in sorted({*SUBSCRIPTION_EVENT_STATE, SUBSCRIPTION_AMENDED}))
#: Resources whose commerce rows carry ``updated_at`` (their newest event).
_DATED_RESOURCES = ("payments", "payouts", "refunds", "subscriptions")
_LINKED_ID = "CASE e.resource_type " + " ".join(
    f"WHEN '{resource_type}' THEN e.payload -> 'links' ->> '{EVENT_LINK_KEY[resource_type]}'" for resource_type in _DATED_RESOURCES
) + " END"

#: name → the query filling it (``:dc`` is the data connection). Created per reading, dropped after.
_FACT_TABLES = {
    # newest event per resource (``updated_at`` of every commerce row)
    "model_last_event": f"""
        SELECT resource_type, resource_id, max(created_at) AS last_event_at FROM (
            SELECT e.resource_type, {_LINKED_ID} AS resource_id, e.created_at
            FROM raw.gocardless_events e
            WHERE e.data_connection_id = :dc AND e.removed_at IS NULL AND e.created_at IS NOT NULL
              AND e.resource_type IN ({", ".join(f"'{r}'" for r in _DATED_RESOURCES)})
        ) linked
        WHERE resource_id IS NOT NULL AND resource_id <> ''
        GROUP BY resource_type, resource_id""",
    # each mandate's customer (a payment's, refund's or subscription's customer is its mandate's)
    # and scheme (a subscription's currency must be its scheme's)
    "model_mandate_customer": """
        SELECT id AS mandate_id, NULLIF(payload -> 'links' ->> 'customer', '') AS customer_id,
               NULLIF(payload ->> 'scheme', '') AS scheme
        FROM raw.gocardless_mandates
        WHERE data_connection_id = :dc AND removed_at IS NULL""",
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
    # the status- and amount-changing subscription events (not ``payment_created``: one per payment)
    "model_subscription_events": f"""
        SELECT payload -> 'links' ->> 'subscription' AS subscription_id, id AS event_id, created_at, action,
               user_id, data_connection_id
        FROM raw.gocardless_events
        WHERE data_connection_id = :dc AND removed_at IS NULL AND resource_type = 'subscriptions'
          AND action IN ({_STATUS_ACTIONS})
          AND created_at IS NOT NULL AND COALESCE(payload -> 'links' ->> 'subscription', '') <> ''""",
    # what amended subscriptions charged (their amount before an amendment); the JSON amount
    # as text, judged in Python
    "model_subscription_payments": f"""
        SELECT payload -> 'links' ->> 'subscription' AS subscription_id, created_at,
               CAST(payload -> 'amount' AS VARCHAR) AS amount
        FROM raw.gocardless_payments
        WHERE data_connection_id = :dc AND removed_at IS NULL AND created_at IS NOT NULL
          AND (payload -> 'links' ->> 'subscription') IN (
              SELECT subscription_id FROM model_subscription_events WHERE action = '{SUBSCRIPTION_AMENDED}')""",
}

#: fact table → the columns chunks look it up by
_FACT_KEYS = {
    "model_last_event": "resource_type, resource_id",
    "model_mandate_customer": "mandate_id",
    "model_payment_fee_items": "payment_id",
    "model_refund_items": "refund_id",
    "model_subscription_events": "subscription_id",
    "model_subscription_payments": "subscription_id",
}

#: An incremental run's facts: only those of the affected records (the ``model_affected_*``
#: tables of :mod:`~gocardless_commerce.model.incremental`); subscriptions are rebuilt whole.
_SCOPED_FACTS = {
    "model_last_event": "resource_type = 'subscriptions' OR resource_id IN (SELECT id FROM model_affected_ids)",
    "model_payment_fee_items": "payment_id IN (SELECT id FROM model_affected_payments)",
    "model_refund_items": "refund_id IN (SELECT id FROM model_affected_refunds)",
}

#: Fee payout items not linked to a payment: the ``FEE`` transactions.
UNLINKED_FEE_ITEMS = f"payload ->> 'type' IN ({_FEE_TYPES}) AND COALESCE(payload -> 'links' ->> 'payment', '') = ''"


@dataclass(frozen=True)
class _RawChunk:
    frame: pd.DataFrame
    last_events: dict[tuple[str, str, str], object]
    customers: dict[tuple[str, str], str]
    schemes: dict[tuple[str, str], str]  # mandate → scheme
    first: str  # the chunk's id range
    last: str


@dataclass(frozen=True)
class Chunk:
    """Raw rows of one resource (the columns of ``RawFrames``) and the facts they need."""

    frame: pd.DataFrame
    lookups: Lookups


class RawReader:
    """Chunked reads of one data connection's live raw records (removed ones excluded).

    Use :func:`read_raw` to get one: the fact tables exist for the reader's lifetime. A chunk is
    an id range; every fact it needs is selected by that range in SQL (no id lists travel to
    the warehouse, so nothing accumulates in a long read transaction).
    """

    def __init__(self, conn: Connection, data_connection_id: str, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 affected_only: bool = False) -> None:
        self.conn = conn
        self.dc = data_connection_id
        self.chunk_rows = chunk_rows
        #: Read only the transactions' affected records (an incremental run; the tables exist).
        self.affected_only = affected_only

    def _affected(self, table: str) -> str:
        return f"t.id IN (SELECT id FROM {table})" if self.affected_only else ""

    # -- facts -----------------------------------------------------------------------------
    def create_fact_tables(self) -> None:
        postgres = self.conn.dialect.name == "postgresql"
        for name, query in _FACT_TABLES.items():
            if self.affected_only and name in _SCOPED_FACTS:
                query = f"SELECT * FROM ({query}) facts WHERE {_SCOPED_FACTS[name]}"
            self.conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS {query}"), {"dc": self.dc})
            if postgres:
                # PostgreSQL: an index per lookup key, and statistics (autovacuum never analyzes
                # temporary tables, and a planner guessing one row picks nested loops). DuckDB
                # scans and hashes these small tables faster than it would keep indexes in memory.
                self.conn.exec_driver_sql(f"CREATE INDEX ON {name} ({_FACT_KEYS[name]})")
                self.conn.exec_driver_sql(f"ANALYZE {name}")

    def drop_fact_tables(self) -> None:
        for name in _FACT_TABLES:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    def _select(self, sql: str, **params) -> list[tuple]:
        return self.conn.execute(sa.text(sql), {"dc": self.dc, **params}).all()

    def _select_columns(self, sql: str, **params) -> list[list]:
        """:meth:`_select`, column by column. DuckDB hands its result over as arrays (no row
        tuples to build and transpose: a third of reading a million payments)."""
        params = {"dc": self.dc, **params}
        if self.conn.dialect.name != "duckdb":
            result = self.conn.execute(sa.text(sql), params)
            rows = result.all()
            return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in result.keys()]
        result = self.conn.connection.driver_connection.execute(_PARAMETER.sub(r"$\1", sql), params).fetchnumpy()
        return [column.tolist() for column in result.values()]

    def _records(self, table: str, resource_type: str, ids_in: str, **params) -> tuple[dict, dict, dict]:
        """Full records of ``table`` whose id is in the subquery ``ids_in`` (e.g. the payments a
        chunk of refunds refers to), their newest event times and their mandates' customers."""
        found, last_events, customers = {}, {}, {}
        for user_id, dc, rid, created_at, payload, mandate_id, customer_id, last_event_at in self._select(
            f"SELECT r.user_id, r.data_connection_id, r.id, r.created_at, CAST(r.payload AS VARCHAR), "
            f"mc.mandate_id, mc.customer_id, le.last_event_at FROM {table} r "
            f"LEFT JOIN model_mandate_customer mc ON mc.mandate_id = (r.payload -> 'links' ->> 'mandate') "
            f"LEFT JOIN model_last_event le ON le.resource_type = '{resource_type}' AND le.resource_id = r.id "
            f"WHERE r.data_connection_id = :dc AND r.removed_at IS NULL AND r.id IN ({ids_in})",
            **params,
        ):
            found[(dc, rid)] = RawRecord(user_id, dc, rid, as_timestamp(created_at), json.loads(payload))
            if last_event_at is not None:
                last_events[(dc, resource_type, rid)] = as_timestamp(last_event_at)
            if customer_id:
                customers[(dc, mandate_id)] = customer_id
        return found, last_events, customers

    # -- chunks ----------------------------------------------------------------------------
    def _chunks(self, table: str, resource_type: str | None, where: str = "", extra: Sequence[str] = ()) -> Iterator[_RawChunk]:
        """Keyset pages of ``table`` ordered by id: rows, newest event times, mandates' customers."""
        live = "t.data_connection_id = :dc AND t.removed_at IS NULL" + (f" AND ({where})" if where else "")
        last_event = (  # the join side restricted to the chunk's id range: small, whatever the history
            f"LEFT JOIN (SELECT resource_id, last_event_at FROM model_last_event WHERE resource_type = '{resource_type}' "
            f"AND resource_id BETWEEN :first AND :last) le ON le.resource_id = t.id"
            if resource_type else ""
        )
        select = (
            "SELECT t.user_id, t.data_connection_id, t.id, t.created_at, CAST(t.payload AS VARCHAR)"
            + "".join(f", t.{c}" for c in extra)
            + ", mc.mandate_id, mc.customer_id, mc.scheme, " + ("le.last_event_at" if resource_type else "NULL")
            + f" FROM {table} t LEFT JOIN model_mandate_customer mc ON mc.mandate_id = (t.payload -> 'links' ->> 'mandate') "
            + last_event
        )
        # every chunk's id range in one sort of the ids (a top-N per chunk would scan the
        # table once per chunk), then the rows of each range
        ranges = self._select(
            f"SELECT min(id), max(id) FROM (SELECT t.id, floor((row_number() OVER (ORDER BY t.id) - 1) / :limit) AS part "
            f"FROM {table} t WHERE {live}) numbered GROUP BY part ORDER BY part",
            limit=self.chunk_rows,
        )
        for first, last in ranges:
            columns = self._select_columns(f"{select} WHERE {live} AND t.id BETWEEN :first AND :last ORDER BY t.id",
                                           first=first, last=last)
            dcs, ids = columns[1], columns[2]
            yield _RawChunk(
                frame=pd.DataFrame(dict(zip((*RAW_COLUMNS, *extra), columns[:-4], strict=True)), dtype=object),
                last_events={(dc, resource_type, rid): as_timestamp(at)
                             for dc, rid, at in zip(dcs, ids, columns[-1], strict=True) if at is not None},
                customers={(dc, mandate): customer
                           for dc, mandate, customer in zip(dcs, columns[-4], columns[-3], strict=True) if customer},
                schemes={(dc, mandate): scheme
                         for dc, mandate, scheme in zip(dcs, columns[-4], columns[-2], strict=True) if scheme},
                first=first,
                last=last,
            )

    def payments(self) -> Iterator[Chunk]:
        for chunk in self._chunks("raw.gocardless_payments", "payments", self._affected("model_affected_payments")):
            fees: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
            unreadable = set()
            for payment_id, amount in self._select(
                "SELECT payment_id, amount FROM model_payment_fee_items WHERE payment_id BETWEEN :first AND :last",
                first=chunk.first, last=chunk.last,
            ):
                amount = item_minor_units(amount)
                if amount is None:
                    unreadable.add((self.dc, payment_id))
                else:
                    fees[(self.dc, payment_id)] += amount
            yield Chunk(chunk.frame, Lookups(
                customer_of_mandate=chunk.customers, fees_of_payment=dict(fees), unreadable_fee_payments=frozenset(unreadable),
                last_event_at=chunk.last_events,
            ))

    def refunds(self) -> Iterator[Chunk]:
        for chunk in self._chunks("raw.gocardless_refunds", "refunds", self._affected("model_affected_refunds")):
            payments, _, payment_customers = self._records(
                "raw.gocardless_payments", "payments",
                "SELECT f.payload -> 'links' ->> 'payment' FROM raw.gocardless_refunds f "
                "WHERE f.data_connection_id = :dc AND f.removed_at IS NULL AND f.id BETWEEN :first AND :last",
                first=chunk.first, last=chunk.last,
            )
            payout_of_refund = {
                (self.dc, refund_id): payout_id
                for refund_id, payout_id in self._select(
                    "SELECT refund_id, payout_id FROM model_refund_items WHERE refund_id BETWEEN :first AND :last "
                    "ORDER BY item_id",  # the last item wins, as in build_lookups
                    first=chunk.first, last=chunk.last,
                )
            }
            yield Chunk(chunk.frame, Lookups(
                customer_of_mandate={**payment_customers, **chunk.customers}, payments=payments,
                payout_of_refund=payout_of_refund, last_event_at=chunk.last_events,
            ))

    def payouts(self) -> Iterator[Chunk]:
        for chunk in self._chunks("raw.gocardless_payouts", "payouts", self._affected("model_affected_payouts")):
            yield Chunk(chunk.frame, Lookups(last_event_at=chunk.last_events))

    def unlinked_fee_items(self) -> Iterator[Chunk]:
        for chunk in self._chunks("raw.gocardless_payout_items", None, " AND ".join(
            filter(None, (UNLINKED_FEE_ITEMS, self._affected("model_affected_payout_items")))), extra=("payout_id",)):
            payouts, last_events, _ = self._records(
                "raw.gocardless_payouts", "payouts",
                f"SELECT f.payout_id FROM raw.gocardless_payout_items f WHERE f.data_connection_id = :dc "
                f"AND f.removed_at IS NULL AND ({UNLINKED_FEE_ITEMS.replace('payload', 'f.payload')}) "
                "AND f.id BETWEEN :first AND :last",
                first=chunk.first, last=chunk.last,
            )
            yield Chunk(chunk.frame, Lookups(
                customer_of_mandate=chunk.customers, payouts=payouts, last_event_at=last_events,
            ))

    def subscriptions(self) -> Iterator[Chunk]:
        for chunk in self._chunks("raw.gocardless_subscriptions", "subscriptions"):
            history: dict[tuple[str, str], list[SubscriptionEvent]] = defaultdict(list)
            for subscription_id, event_id, created_at, action in self._select(
                "SELECT subscription_id, event_id, created_at, action FROM model_subscription_events "
                "WHERE subscription_id BETWEEN :first AND :last",
                first=chunk.first, last=chunk.last,
            ):
                history[(self.dc, subscription_id)].append(SubscriptionEvent(as_timestamp(created_at), event_id, action))
            for events in history.values():
                events.sort()
            charged: dict[tuple[str, str], list] = defaultdict(list)
            for subscription_id, created_at, amount in self._select(
                "SELECT subscription_id, created_at, amount FROM model_subscription_payments "
                "WHERE subscription_id BETWEEN :first AND :last",
                first=chunk.first, last=chunk.last,
            ):
                value = minor_units(_json_number(amount))
                if value is not None:
                    charged[(self.dc, subscription_id)].append((as_timestamp(created_at), value))
            for payments in charged.values():
                payments.sort()
            yield Chunk(chunk.frame, Lookups(
                customer_of_mandate=chunk.customers, scheme_of_mandate=chunk.schemes, last_event_at=chunk.last_events,
                subscription_events=dict(history), subscription_payments=dict(charged),
            ))

    def subscription_events(self) -> pd.DataFrame:
        """Status-changing events of every subscription, as a raw events frame (for the insights)."""
        rows = self._select(
            "SELECT user_id, data_connection_id, event_id, created_at, subscription_id, action "
            "FROM model_subscription_events ORDER BY event_id"
        )
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
        payloads = [
            json.dumps({"resource_type": "subscriptions", "action": action, "links": {"subscription": subscription_id}})
            for subscription_id, action in zip(columns[4], columns[5], strict=True)
        ]
        return pd.DataFrame({
            "user_id": columns[0], "data_connection_id": columns[1], "id": columns[2], "created_at": columns[3],
            "payload": payloads, "resource_type": ["subscriptions"] * len(rows), "action": list(columns[5]),
        }, dtype=object)


def _json_number(text: str | None):
    """A JSON value's text → the value (``"1250"`` stays text, so the strict reading refuses it)."""
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


@contextmanager
def read_raw(conn: Connection, data_connection_id: str, chunk_rows: int = DEFAULT_CHUNK_ROWS,
             affected_only: bool = False) -> Iterator[RawReader]:
    """A :class:`RawReader` inside the caller's transaction (one consistent snapshot)."""
    reader = RawReader(conn, data_connection_id, chunk_rows, affected_only)
    reader.create_fact_tables()
    yield reader
    reader.drop_fact_tables()  # on error the caller's rollback drops them
