"""Hand-built raw GoCardless records for one merchant, with known answers.

``now`` is 2024-04-15 12:00 UTC; with ``history_months=4`` the window is January–April 2024.
The expected values in the tests are worked out by hand in their docstrings.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from gocardless_commerce.model import RawFrames

USER, DC = "user_1", "dc_1"
NOW = datetime(2024, 4, 15, 12, 0)
HISTORY_MONTHS = 4


def raw(records: list[dict], **extra_columns) -> pd.DataFrame:
    """Raw rows as the lead reads them from ``raw.gocardless_*``."""
    return pd.DataFrame({
        "user_id": [USER] * len(records),
        "data_connection_id": [DC] * len(records),
        "id": [r.get("id") for r in records],
        "created_at": pd.Series(pd.to_datetime([r.get("created_at") for r in records], utc=True, format="ISO8601").tz_localize(None),
                                dtype="datetime64[us]"),
        "payload": records,
        **extra_columns,
    })


def payment(pid, amount, status, charge_date, *, currency="GBP", scheme="bacs", mandate="MD1", payout=None,
            refunded=0, description=None, reference=None, subscription=None, created_at="2024-01-05T10:00:00.000Z"):
    return {
        "id": pid, "amount": amount, "amount_refunded": refunded, "currency": currency, "status": status,
        "charge_date": charge_date, "scheme": scheme, "description": description, "reference": reference,
        "created_at": created_at,
        "links": {"mandate": mandate, "payout": payout, "subscription": subscription, "creditor": "CR1"},
    }


def refund(rid, amount, status, payment_id, created_at, currency="GBP"):
    return {"id": rid, "amount": amount, "currency": currency, "status": status, "reference": f"refund {rid}",
            "created_at": created_at, "links": {"payment": payment_id}}


def payout(poid, amount, deducted_fees, status, arrival_date, created_at, currency="GBP"):
    return {"id": poid, "amount": amount, "deducted_fees": deducted_fees, "status": status, "currency": currency,
            "arrival_date": arrival_date, "created_at": created_at, "reference": f"payout {poid}",
            "payout_type": "merchant"}


def payout_items(items: list[tuple[str, str, str, dict]]) -> pd.DataFrame:
    """``(payout id, type, amount, links)`` → raw payout item rows (ids as the landing makes them)."""
    records, ids, payout_ids = [], [], []
    for payout_id, kind, amount, item_links in items:
        linked = item_links.get("payment") or item_links.get("refund") or item_links.get("mandate") or "-"
        ids.append(f"{payout_id}:{kind}:{linked}:1")
        payout_ids.append(payout_id)
        records.append({"type": kind, "amount": amount, "links": item_links})
    frame = raw(records, payout_id=payout_ids)
    frame["id"] = ids
    frame["created_at"] = pd.Series([pd.NaT] * len(ids), dtype="datetime64[us]")
    return frame


def mandate(mid, customer, scheme="bacs"):
    return {"id": mid, "scheme": scheme, "status": "active", "created_at": "2023-09-01T00:00:00.000Z",
            "links": {"customer": customer, "creditor": "CR1"}}


def subscription(sid, amount, unit, interval, status, start_date, created_at, *, currency="GBP", mandate="MD1",
                 name=None):
    return {"id": sid, "amount": amount, "currency": currency, "interval_unit": unit, "interval": interval,
            "status": status, "start_date": start_date, "created_at": created_at, "name": name or f"plan {sid}",
            "links": {"mandate": mandate}}


def event(eid, resource_type, action, resource_id, created_at):
    link = {"payments": "payment", "refunds": "refund", "payouts": "payout", "subscriptions": "subscription"}
    return {"id": eid, "resource_type": resource_type, "action": action, "created_at": created_at,
            "details": {"origin": "gocardless"}, "links": {link[resource_type]: resource_id}}


def events(records: list[dict]) -> pd.DataFrame:
    return raw(records, resource_type=[r["resource_type"] for r in records], action=[r["action"] for r in records])


MANDATES = [mandate("MD1", "CU1"), mandate("MD2", "CU2", "sepa_core"), mandate("MD3", "CU3"), mandate("MD4", "CU2")]

PAYMENTS = [
    # partial refund: 10.50 paid out, 2.50 refunded → stays SUCCESS
    payment("PM1", 1050, "paid_out", "2024-01-10", payout="PO1", refunded=250, description="Invoice 1"),
    # full refund → SUCCESS_REFUND; no description → reference
    payment("PM2", 2000, "confirmed", "2024-01-20", refunded=2000, reference="REF2"),
    # chargeback after paid_out, EUR
    payment("PM3", 5000, "charged_back", "2024-02-05", currency="EUR", scheme="sepa_core", mandate="MD2",
            payout="PO2"),
    # late failure (confirmed, then failed)
    payment("PM4", 3000, "failed", "2024-02-10"),
    payment("PM5", 1000, "pending_submission", "2024-05-01"),
    payment("PM6", 4000, "paid_out", "2024-03-03", payout="PO4", subscription="SB1"),
    payment("PM7", 500, "customer_approval_denied", "2024-02-12", mandate="MD3"),
]

REFUNDS = [
    refund("RF1", 250, "paid", "PM1", "2024-01-15T09:00:00.000Z"),
    refund("RF2", 2000, "paid", "PM2", "2024-01-25T09:00:00.000Z"),
]

PAYOUTS = [
    payout("PO1", 995, 55, "paid", "2024-01-12", "2024-01-11T06:00:00.000Z"),
    payout("PO2", 4900, 100, "paid", "2024-02-07", "2024-02-06T06:00:00.000Z", currency="EUR"),
    # fees of the charged-back PM3 refunded: negative deducted_fees
    payout("PO3", 120, -100, "paid", "2024-03-01", "2024-02-28T06:00:00.000Z", currency="EUR"),
    payout("PO4", 3900, 100, "pending", None, "2024-03-20T06:00:00.000Z"),
]

PAYOUT_ITEMS = [
    ("PO1", "payment_paid_out", "1050.0", {"payment": "PM1", "mandate": "MD1"}),
    ("PO1", "gocardless_fee", "-45.5", {"payment": "PM1", "mandate": "MD1"}),
    ("PO1", "app_fee", "-10.0", {"payment": "PM1", "mandate": "MD1"}),
    ("PO1", "refund", "-250.0", {"refund": "RF1", "mandate": "MD1"}),
    ("PO2", "payment_paid_out", "5000.0", {"payment": "PM3", "mandate": "MD2"}),
    ("PO2", "gocardless_fee", "-100.0", {"payment": "PM3", "mandate": "MD2"}),
    ("PO3", "payment_charged_back", "-5000.0", {"payment": "PM3", "mandate": "MD2"}),
    ("PO3", "gocardless_fee", "100.0", {"payment": "PM3", "mandate": "MD2"}),
    ("PO3", "surcharge_fee", "-5.5", {"mandate": "MD2"}),  # a fee not linked to a payment
    ("PO4", "payment_paid_out", "4000.0", {"payment": "PM6", "mandate": "MD1"}),
    ("PO4", "gocardless_fee", "-100.0", {"payment": "PM6", "mandate": "MD1"}),
]

SUBSCRIPTIONS = [
    subscription("SB1", 1000, "monthly", 1, "active", "2023-12-01", "2023-11-20T10:00:00.000Z"),
    subscription("SB2", 500, "weekly", 2, "active", "2024-02-05", "2024-01-30T10:00:00.000Z"),
    subscription("SB3", 12000, "yearly", 1, "active", "2023-10-01", "2023-09-20T10:00:00.000Z", mandate="MD4"),
    subscription("SB4", 3000, "monthly", 3, "cancelled", "2023-11-01", "2023-10-20T10:00:00.000Z", mandate="MD3"),
    subscription("SB5", 2000, "monthly", 1, "active", "2024-04-01", "2024-03-25T10:00:00.000Z", mandate="MD3"),
    subscription("SB6", 1500, "monthly", 1, "active", "2024-03-15", "2024-03-01T10:00:00.000Z", currency="EUR",
                 mandate="MD2"),
]

EVENTS = [
    event("EV01", "payments", "paid_out", "PM1", "2024-01-11T06:00:00.000Z"),
    event("EV02", "payments", "confirmed", "PM3", "2024-02-05T08:00:00.000Z"),
    event("EV03", "payments", "paid_out", "PM3", "2024-02-06T06:00:00.000Z"),
    event("EV04", "payments", "charged_back", "PM3", "2024-02-20T08:00:00.000Z"),
    event("EV05", "payments", "confirmed", "PM4", "2024-02-10T08:00:00.000Z"),
    event("EV06", "payments", "failed", "PM4", "2024-02-13T08:00:00.000Z"),  # late failure
    event("EV07", "refunds", "paid", "RF1", "2024-01-16T08:00:00.000Z"),
    event("EV08", "payouts", "paid", "PO1", "2024-01-12T08:00:00.000Z"),
    event("EV10", "subscriptions", "created", "SB2", "2024-01-30T10:00:00.000Z"),
    event("EV11", "subscriptions", "paused", "SB3", "2024-02-10T00:00:00.000Z"),
    event("EV12", "subscriptions", "resumed", "SB3", "2024-03-05T00:00:00.000Z"),
    event("EV13", "subscriptions", "cancelled", "SB4", "2024-02-20T09:00:00.000Z"),
    event("EV14", "subscriptions", "created", "SB6", "2024-03-01T10:00:00.000Z"),
    event("EV15", "subscriptions", "customer_approval_granted", "SB6", "2024-04-10T10:00:00.000Z"),
]


def frames(**overrides) -> RawFrames:
    """The scenario's raw frames; pass lists of records to replace a resource."""
    data = {
        "payments": PAYMENTS, "refunds": REFUNDS, "payouts": PAYOUTS, "mandates": MANDATES,
        "subscriptions": SUBSCRIPTIONS, "events": EVENTS, "payout_items": PAYOUT_ITEMS,
    } | overrides
    return RawFrames(
        payments=raw(data["payments"]),
        refunds=raw(data["refunds"]),
        payouts=raw(data["payouts"]),
        payout_items=payout_items(data["payout_items"]),
        subscriptions=raw(data["subscriptions"]),
        mandates=raw(data["mandates"]),
        customers=raw([{"id": c, "created_at": "2023-09-01T00:00:00.000Z"} for c in ("CU1", "CU2", "CU3")]),
        events=events(data["events"]),
    )
