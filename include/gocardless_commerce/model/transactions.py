"""GoCardless payments, refunds, payouts and unlinked fees → ``commerce.transactions``.

One row per money movement, in Qard's COMMERCE_TRANSACTION vocabulary (type, status,
amount in major units) with the GoCardless links an analyst needs to follow a payment to its
mandate, customer, subscription and payout. Every mapping rule is in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pandas as pd

from gocardless_commerce.model import mapping, schema
from gocardless_commerce.model.frames import (
    RawFrames,
    RawRecord,
    links,
    records,
    text,
    to_date,
)
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.model.lookups import Lookups, build_lookups
from gocardless_commerce.model.money import minor_to_major

Row = dict[str, object]


def build_transactions(frames: RawFrames) -> pd.DataFrame:
    """All commerce transactions of ``frames``, columns of ``schema.TRANSACTIONS``.

    Sorted by data connection, type and GoCardless id, so the same input gives the same frame.
    """
    lookups = build_lookups(frames)
    rows: list[Row] = [
        *payments_to_transactions(frames.payments, lookups),
        *refunds_to_transactions(frames.refunds, lookups),
        *payouts_to_transactions(frames.payouts, lookups),
        *fee_items_to_transactions(frames.payout_items, lookups),
    ]
    return transactions_frame(rows)


def transactions_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Transaction rows as a ``schema.TRANSACTIONS`` frame, sorted by data connection, type and id."""
    rows = list(rows)
    columns: dict[str, list] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["data_connection_id"] or "", r["type"], r["source_id"] or "")):
        for name in schema.TRANSACTIONS:
            columns[name].append(row.get(name))
    if not rows:
        return schema.empty(schema.TRANSACTIONS)
    return schema.frame(columns, schema.TRANSACTIONS)


def _base(record: RawRecord, object_type: str, kind: str, status_map: dict[str, str]) -> Row:
    source_status = text(record.payload.get("status"))
    return {
        "id": commerce_id(record.data_connection_id, object_type, record.id),
        "user_id": record.user_id,
        "data_connection_id": record.data_connection_id,
        "provider_name": mapping.PROVIDER_NAME,
        "type": kind,
        "status": status_map.get(source_status) if source_status else None,
        "currency": text(record.payload.get("currency")),
        "amount": minor_to_major(record.payload.get("amount")),
        "source_id": record.id,
        "source_type": f"{object_type}:{source_status}" if source_status else object_type,
        "source_created_at": record.created_at,
    }


def payment_status(payload: dict) -> str | None:
    """Qard status of a payment: ``SUCCESS_REFUND`` when a collected payment was fully refunded."""
    source_status = payload.get("status")
    status = mapping.PAYMENT_STATUS.get(source_status)
    if source_status in mapping.COLLECTED_PAYMENT_STATUSES:
        amount = minor_to_major(payload.get("amount"))
        refunded = minor_to_major(payload.get("amount_refunded"))
        if amount is not None and amount > 0 and refunded == amount:
            return mapping.SUCCESS_REFUND
    return status


def payments_to_transactions(payments: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(payments):
        payload, payment_links = record.payload, links(record.payload)
        mandate_id = text(payment_links.get("mandate"))
        fees = lookups.fees_of_payment.get((record.data_connection_id, record.id))
        yield {
            **_base(record, "payment", mapping.PAYMENT, mapping.PAYMENT_STATUS),
            "status": payment_status(payload),
            "description": text(payload.get("description")) or text(payload.get("reference")),
            "fee_amount": abs(fees) if fees is not None else None,
            "value_date": to_date(payload.get("charge_date")),
            "scheme": text(payload.get("scheme")),
            "mandate_id": mandate_id,
            "subscription_id": text(payment_links.get("subscription")),
            "customer_id": lookups.customer(record.data_connection_id, mandate_id),
            "payout_id": text(payment_links.get("payout")),
            "updated_at": lookups.last_change(record, "payments"),
        }


def refunds_to_transactions(refunds: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(refunds):
        dc, payload, refund_links = record.data_connection_id, record.payload, links(record.payload)
        payment_id = text(refund_links.get("payment"))
        payment = lookups.payments.get((dc, payment_id)) if payment_id else None
        payment_payload = payment.payload if payment else {}
        payment_links = links(payment_payload)
        mandate_id = text(refund_links.get("mandate")) or text(payment_links.get("mandate"))
        yield {
            **_base(record, "refund", mapping.PAYMENT_REFUND, mapping.REFUND_STATUS),
            "description": text(payload.get("reference")),
            "value_date": record.created_at.date() if record.created_at else None,
            "initial_transaction_id": commerce_id(dc, "payment", payment_id) if payment_id else None,
            "scheme": text(payment_payload.get("scheme")),
            "mandate_id": mandate_id,
            "subscription_id": text(payment_links.get("subscription")),
            "customer_id": lookups.customer(dc, mandate_id),
            "payout_id": lookups.payout_of_refund.get((dc, record.id)),
            "updated_at": lookups.last_change(record, "refunds"),
        }


def payout_value_date(payout: RawRecord) -> date | None:
    """``arrival_date``, or the creation date while the payout has none."""
    arrival = to_date(payout.payload.get("arrival_date"))
    if arrival is not None:
        return arrival
    return payout.created_at.date() if payout.created_at else None


def payouts_to_transactions(payouts: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(payouts):
        yield {
            **_base(record, "payout", mapping.PAYOUT, mapping.PAYOUT_STATUS),
            "description": text(record.payload.get("reference")),
            "fee_amount": minor_to_major(record.payload.get("deducted_fees")),
            "value_date": payout_value_date(record),
            "payout_id": record.id,
            "updated_at": lookups.last_change(record, "payouts"),
        }


def fee_items_to_transactions(payout_items: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    """Fee payout items not linked to a payment → ``FEE`` rows dated and statused by their payout.

    Payout items carry fees as negative amounts (a deduction) and fee refunds as positive
    ones; the ``FEE`` amount is the fee charged, so the sign flips (a fee refund is negative).
    """
    for record in records(payout_items):
        item_type = record.payload.get("type")
        item_links = links(record.payload)
        if item_type not in mapping.FEE_ITEM_TYPES or item_links.get("payment"):
            continue
        dc = record.data_connection_id
        payout = lookups.payouts.get((dc, record.payout_id))
        payout_status = text(payout.payload.get("status")) if payout else None
        amount = minor_to_major(record.payload.get("amount"))
        mandate_id = text(item_links.get("mandate"))
        yield {
            "id": commerce_id(dc, "payout_item", record.id),
            "user_id": record.user_id,
            "data_connection_id": dc,
            "provider_name": mapping.PROVIDER_NAME,
            "type": mapping.FEE,
            "status": mapping.PAYOUT_STATUS.get(payout_status) if payout_status else None,
            "description": item_type,
            "amount": -amount if amount is not None else None,
            "currency": text(payout.payload.get("currency")) if payout else None,
            "source_id": record.id,
            "source_type": f"payout_item:{item_type}",
            "source_created_at": payout.created_at if payout else None,
            "value_date": payout_value_date(payout) if payout else None,
            "mandate_id": mandate_id,
            "customer_id": lookups.customer(dc, mandate_id),
            "payout_id": record.payout_id,
            "updated_at": lookups.last_change(payout, "payouts") if payout else record.created_at,
        }


def refunded_payment_amounts(refunds: pd.DataFrame, lookups: Lookups) -> dict[str, Decimal]:
    """Transaction id → amount of each payment the refunds refer to (``refund_within_payment_amount``
    checks a chunk of refunds against payments that are in another chunk)."""
    amounts = {}
    for record in records(refunds):
        payment_id = text(links(record.payload).get("payment"))
        payment = lookups.payments.get((record.data_connection_id, payment_id)) if payment_id else None
        amount = minor_to_major(payment.payload.get("amount")) if payment else None
        if amount is not None:
            amounts[commerce_id(record.data_connection_id, "payment", payment_id)] = amount
    return amounts
