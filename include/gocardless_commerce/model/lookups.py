"""Cross-resource facts the transforms need, indexed once per build.

A payment's customer sits on its mandate, its fees on payout items, its last change on its
events; keys always include the data connection, so several merchants can share one build.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from gocardless_commerce.model.frames import RawFrames, RawRecord, links, records, text
from gocardless_commerce.model.mapping import EVENT_LINK_KEY, FEE_ITEM_TYPES
from gocardless_commerce.model.money import item_minor_units, minor_units

Key = tuple[str, str]  # (data_connection_id, GoCardless id)


class SubscriptionEvent(NamedTuple):
    """One status-changing event; tuples sort by time, then id, so replays are deterministic."""

    created_at: datetime
    event_id: str
    action: str


@dataclass(frozen=True)
class Lookups:
    """Facts about other records; a chunked build passes only those its records need."""

    customer_of_mandate: dict[Key, str] = field(default_factory=dict)
    #: Each mandate's scheme (a subscription's currency must be its scheme's).
    scheme_of_mandate: dict[Key, str] = field(default_factory=dict)
    payments: dict[Key, RawRecord] = field(default_factory=dict)
    payouts: dict[Key, RawRecord] = field(default_factory=dict)
    #: Signed sum (major units) of the fee payout items linked to each payment.
    fees_of_payment: dict[Key, Decimal] = field(default_factory=dict)
    #: Payments with a fee payout item whose amount cannot be read (their fee_amount is unknown).
    unreadable_fee_payments: frozenset[Key] = frozenset()
    #: The payout a refund was deducted from (payout item of type ``refund``).
    payout_of_refund: dict[Key, str] = field(default_factory=dict)
    #: Newest event time per (data connection, resource_type, resource id).
    last_event_at: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    #: Subscription events per (data connection, subscription id), oldest first.
    subscription_events: dict[Key, list[SubscriptionEvent]] = field(default_factory=dict)
    #: (created_at, amount in major units) of each subscription's readable payments, oldest
    #: first: what it charged before an amendment (only amended subscriptions need them).
    subscription_payments: dict[Key, list[tuple[datetime, Decimal]]] = field(default_factory=dict)

    def last_change(self, record: RawRecord, resource_type: str) -> datetime | None:
        """The newest of the record's ``created_at`` and its latest event (``updated_at``)."""
        event_at = self.last_event_at.get((record.data_connection_id, resource_type, record.id))
        candidates = [t for t in (record.created_at, event_at) if t is not None]
        return max(candidates) if candidates else None

    def customer(self, data_connection_id: str, mandate_id: str | None) -> str | None:
        return self.customer_of_mandate.get((data_connection_id, mandate_id)) if mandate_id else None


def build_lookups(frames: RawFrames) -> Lookups:
    customer_of_mandate, scheme_of_mandate = {}, {}
    for m in records(frames.mandates):
        customer = text(links(m.payload).get("customer"))
        if customer:
            customer_of_mandate[(m.data_connection_id, m.id)] = customer
        scheme = text(m.payload.get("scheme"))
        if scheme:
            scheme_of_mandate[(m.data_connection_id, m.id)] = scheme

    fees_of_payment: dict[Key, Decimal] = defaultdict(Decimal)
    unreadable_fee_payments = set()
    payout_of_refund = {}
    for item in records(frames.payout_items):
        item_links = links(item.payload)
        kind = item.payload.get("type")
        if kind in FEE_ITEM_TYPES and item_links.get("payment"):
            amount = item_minor_units(item.payload.get("amount"))
            if amount is None:
                unreadable_fee_payments.add((item.data_connection_id, item_links["payment"]))
            else:
                fees_of_payment[(item.data_connection_id, item_links["payment"])] += amount
        elif kind == "refund" and item_links.get("refund"):
            payout_of_refund[(item.data_connection_id, item_links["refund"])] = item.payout_id

    last_event_at: dict[tuple[str, str, str], datetime] = {}
    subscription_events: dict[Key, list[SubscriptionEvent]] = defaultdict(list)
    for event in records(frames.events):
        resource_type = event.payload.get("resource_type")
        link_key = EVENT_LINK_KEY.get(resource_type)
        resource_id = text(links(event.payload).get(link_key)) if link_key else None
        if resource_id is None or event.created_at is None:
            continue
        key = (event.data_connection_id, resource_type, resource_id)
        if key not in last_event_at or event.created_at > last_event_at[key]:
            last_event_at[key] = event.created_at
        if resource_type == "subscriptions":
            action = event.payload.get("action")
            subscription_events[(event.data_connection_id, resource_id)].append(
                SubscriptionEvent(event.created_at, event.id, action)
            )
    for history in subscription_events.values():
        history.sort()

    subscription_payments: dict[Key, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for payment in records(frames.payments):
        subscription_id = text(links(payment.payload).get("subscription"))
        amount = minor_units(payment.payload.get("amount"))
        if subscription_id and amount is not None and payment.created_at is not None:
            subscription_payments[(payment.data_connection_id, subscription_id)].append((payment.created_at, amount))
    for charged in subscription_payments.values():
        charged.sort()

    return Lookups(
        customer_of_mandate=customer_of_mandate,
        scheme_of_mandate=scheme_of_mandate,
        unreadable_fee_payments=frozenset(unreadable_fee_payments),
        payments={(p.data_connection_id, p.id): p for p in records(frames.payments)},
        payouts={(p.data_connection_id, p.id): p for p in records(frames.payouts)},
        fees_of_payment=dict(fees_of_payment),
        payout_of_refund=payout_of_refund,
        last_event_at=last_event_at,
        subscription_events=dict(subscription_events),
        subscription_payments=dict(subscription_payments),
    )
