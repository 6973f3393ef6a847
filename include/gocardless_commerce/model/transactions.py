"""GoCardless payments, refunds, payouts and unlinked fees → ``commerce.transactions``.

One row per money movement, in Qard's COMMERCE_TRANSACTION vocabulary (type, status,
amount in major units) with the GoCardless links an analyst needs to follow a payment to its
mandate, customer, subscription and payout. Every mapping rule is in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pandas as pd

from gocardless_commerce.model import mapping, schema, source_rules
from gocardless_commerce.model.frames import RawFrames, RawRecord, links, records, strict_date, text
from gocardless_commerce.model.ids import commerce_id
from gocardless_commerce.model.lookups import Lookups, build_lookups
from gocardless_commerce.model.money import item_minor_units, minor_units

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
    """Transaction rows as a ``schema.TRANSACTIONS`` frame plus ``schema.ISSUES``, sorted by data
    connection, type and id."""
    rows = sorted(rows, key=lambda r: (r["data_connection_id"] or "", r["type"], r["source_id"] or ""))
    columns = {name: [row.get(name) for row in rows] for name in schema.TRANSACTIONS}  # column by column: no appends
    return with_issues(schema.frame(columns, schema.TRANSACTIONS), [tuple(row.get(schema.ISSUES, ())) for row in rows])


def with_issues(frame: pd.DataFrame, issues: list[tuple[str, ...]]) -> pd.DataFrame:
    """``frame`` with its ``schema.ISSUES`` column (one tuple of rule names per row)."""
    return frame.assign(**{schema.ISSUES: pd.Series(issues, index=frame.index, dtype=object)})


def strict_amounts(payload: dict, *fields: str) -> tuple[dict[str, Decimal | None], tuple[str, ...]]:
    """The amount fields read strictly (major units), and ``amount_integer_minor_units`` when
    one that is present is not an integer. A missing field is ``None`` without an issue."""
    values = {name: minor_units(payload.get(name)) for name in fields}
    broken = any(payload.get(name) is not None and values[name] is None for name in fields)
    return values, (source_rules.AMOUNT_INTEGER,) if broken else ()


def optional_dates(payload: dict, *fields: str) -> tuple[dict[str, date | None], tuple[str, ...]]:
    """Date fields that may be absent; ``dates_are_dates`` when one present is not a date."""
    values = {name: strict_date(payload.get(name)) for name in fields}
    broken = any(payload.get(name) is not None and values[name] is None for name in fields)
    return values, (source_rules.DATES_ARE_DATES,) if broken else ()


def _base(record: RawRecord, object_type: str, kind: str, status_map: dict[str, str], amount: Decimal | None) -> Row:
    source_status = text(record.payload.get("status"))
    return {
        "id": commerce_id(record.data_connection_id, object_type, record.id),
        "user_id": record.user_id,
        "data_connection_id": record.data_connection_id,
        "provider_name": mapping.PROVIDER_NAME,
        "type": kind,
        "status": status_map.get(source_status) if source_status else None,
        "currency": text(record.payload.get("currency")),
        "amount": amount,
        "source_id": record.id,
        "source_type": f"{object_type}:{source_status}" if source_status else object_type,
        "source_created_at": record.created_at,
    }


def payment_status(payload: dict) -> str | None:
    """Qard status of a payment: ``SUCCESS_REFUND`` when a collected payment was fully refunded."""
    source_status = payload.get("status")
    status = mapping.PAYMENT_STATUS.get(source_status)
    if source_status in mapping.COLLECTED_PAYMENT_STATUSES:
        amount, refunded = minor_units(payload.get("amount")), minor_units(payload.get("amount_refunded"))
        if amount is not None and amount > 0 and refunded == amount:
            return mapping.SUCCESS_REFUND
    return status


def payments_to_transactions(payments: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(payments):
        payload, payment_links = record.payload, links(record.payload)
        mandate_id = text(payment_links.get("mandate"))
        key = (record.data_connection_id, record.id)
        fees = lookups.fees_of_payment.get(key)
        amounts, issues = strict_amounts(payload, "amount", "amount_refunded")
        charge_date = strict_date(payload.get("charge_date"))
        if charge_date is None:
            issues += (source_rules.CHARGE_DATE_IS_DATE,)
        if key in lookups.unreadable_fee_payments:
            issues += (source_rules.FEE_ITEM_AMOUNT_READABLE,)
        yield {
            **_base(record, "payment", mapping.PAYMENT, mapping.PAYMENT_STATUS, amounts["amount"]),
            "status": payment_status(payload),
            "description": text(payload.get("description")) or text(payload.get("reference")),
            "fee_amount": abs(fees) if fees is not None else None,
            "value_date": charge_date,
            "scheme": text(payload.get("scheme")),
            "mandate_id": mandate_id,
            "subscription_id": text(payment_links.get("subscription")),
            "customer_id": lookups.customer(record.data_connection_id, mandate_id),
            "payout_id": text(payment_links.get("payout")),
            "updated_at": lookups.last_change(record, "payments"),
            schema.ISSUES: issues,
        }


def refunds_to_transactions(refunds: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(refunds):
        dc, payload, refund_links = record.data_connection_id, record.payload, links(record.payload)
        payment_id = text(refund_links.get("payment"))
        payment = lookups.payments.get((dc, payment_id)) if payment_id else None
        payment_payload = payment.payload if payment else {}
        payment_links = links(payment_payload)
        mandate_id = text(refund_links.get("mandate")) or text(payment_links.get("mandate"))
        amounts, issues = strict_amounts(payload, "amount")
        if payment is None:
            issues += (source_rules.REFUND_PAYMENT_IN_RAW,)
        yield {
            **_base(record, "refund", mapping.PAYMENT_REFUND, mapping.REFUND_STATUS, amounts["amount"]),
            "description": text(payload.get("reference")),
            "value_date": record.created_at.date() if record.created_at else None,
            "initial_transaction_id": commerce_id(dc, "payment", payment_id) if payment_id else None,
            "scheme": text(payment_payload.get("scheme")),
            "mandate_id": mandate_id,
            "subscription_id": text(payment_links.get("subscription")),
            "customer_id": lookups.customer(dc, mandate_id),
            "payout_id": lookups.payout_of_refund.get((dc, record.id)),
            "updated_at": lookups.last_change(record, "refunds"),
            schema.ISSUES: issues,
        }


def payout_value_date(payout: RawRecord) -> date | None:
    """``arrival_date``, or the creation date while the payout has none."""
    arrival = strict_date(payout.payload.get("arrival_date"))
    if arrival is not None:
        return arrival
    return payout.created_at.date() if payout.created_at else None


def payouts_to_transactions(payouts: pd.DataFrame, lookups: Lookups) -> Iterable[Row]:
    for record in records(payouts):
        amounts, amount_issues = strict_amounts(record.payload, "amount", "deducted_fees")
        _, date_issues = optional_dates(record.payload, "arrival_date")
        yield {
            **_base(record, "payout", mapping.PAYOUT, mapping.PAYOUT_STATUS, amounts["amount"]),
            "description": text(record.payload.get("reference")),
            "fee_amount": amounts["deducted_fees"],
            "value_date": payout_value_date(record),
            "payout_id": record.id,
            "updated_at": lookups.last_change(record, "payouts"),
            schema.ISSUES: amount_issues + date_issues,
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
        amount = item_minor_units(record.payload.get("amount"))
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
            schema.ISSUES: () if amount is not None else (source_rules.FEE_ITEM_AMOUNT_READABLE,),
        }


def refunded_payment_amounts(refunds: pd.DataFrame, lookups: Lookups) -> dict[str, Decimal]:
    """Transaction id → amount of each payment the refunds refer to (``refund_within_payment_amount``
    checks a chunk of refunds against payments that are in another chunk)."""
    amounts = {}
    for record in records(refunds):
        payment_id = text(links(record.payload).get("payment"))
        payment = lookups.payments.get((record.data_connection_id, payment_id)) if payment_id else None
        amount = minor_units(payment.payload.get("amount")) if payment else None
        if amount is not None:
            amounts[commerce_id(record.data_connection_id, "payment", payment_id)] = amount
    return amounts
