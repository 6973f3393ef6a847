"""``build_transactions`` on the hand-built scenario: every mapping rule with its exact value."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_commerce.model import build_transactions, schema
from gocardless_commerce.model.ids import COMMERCE_NAMESPACE, commerce_id
from gocardless_commerce.model.money import minor_to_major, monthly_amount, round_half_up, round_ratio_half_up
from tests.model import scenario


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return build_transactions(scenario.frames())


def row(transactions, source_id) -> dict:
    match = transactions[transactions["source_id"] == source_id]
    assert len(match) == 1
    return match.iloc[0].to_dict()


def test_columns_and_dtypes_are_the_contract(transactions):
    assert list(transactions.columns) == [*schema.TRANSACTIONS, schema.ISSUES]  # the issues column is validation's, never loaded
    assert str(transactions["source_created_at"].dtype) == "datetime64[us]"
    assert str(transactions["updated_at"].dtype) == "datetime64[us]"
    assert len(transactions) == 14  # 7 payments, 2 refunds, 4 payouts, 1 unlinked fee


def test_ids_are_uuid5_of_connection_object_and_gocardless_id(transactions):
    assert COMMERCE_NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "https://gocardless.com/commerce")
    assert commerce_id("dc_1", "payment", "PM1") == str(uuid.uuid5(COMMERCE_NAMESPACE, "dc_1:payment:PM1"))
    assert row(transactions, "PM1")["id"] == "32c33dcf-050e-5481-90d0-a82a8bea5563"  # pinned: never changes
    assert row(transactions, "RF1")["id"] == commerce_id("dc_1", "refund", "RF1")
    assert row(transactions, "PO3:surcharge_fee:MD2:1")["id"] == commerce_id("dc_1", "payout_item", "PO3:surcharge_fee:MD2:1")


def test_partially_refunded_payment_stays_success_with_sub_cent_fees(transactions):
    pm1 = row(transactions, "PM1")
    assert pm1 | {"id": None, "updated_at": None} == {schema.ISSUES: (),
        "id": None, "user_id": "user_1", "data_connection_id": "dc_1", "provider_name": "gocardless",
        "type": "PAYMENT", "status": "SUCCESS", "description": "Invoice 1", "amount": Decimal("10.50"),
        "currency": "GBP", "fee_amount": Decimal("0.555"),  # |−45.5 − 10.0| pence
        "source_id": "PM1", "source_type": "payment:paid_out",
        "source_created_at": pd.Timestamp("2024-01-05 10:00"), "value_date": date(2024, 1, 10),
        "initial_transaction_id": None, "scheme": "bacs", "mandate_id": "MD1", "subscription_id": None,
        "customer_id": "CU1", "payout_id": "PO1", "gateway_state": None, "settled_on": None, "updated_at": None,
    }
    assert pm1["updated_at"] == pd.Timestamp("2024-01-11 06:00")  # its paid_out event


def test_fully_refunded_payment_is_success_refund_described_by_its_reference(transactions):
    pm2 = row(transactions, "PM2")
    assert (pm2["status"], pm2["description"], pm2["amount"], pm2["fee_amount"]) == (
        "SUCCESS_REFUND", "REF2", Decimal("20.00"), None)  # no fee item yet: NULL until paid out


def test_chargeback_after_paid_out_is_denied_and_its_refunded_fees_net_to_zero(transactions):
    pm3 = row(transactions, "PM3")
    assert (pm3["status"], pm3["source_type"], pm3["currency"], pm3["fee_amount"]) == (
        "DENIED", "payment:charged_back", "EUR", Decimal("0"))
    assert pm3["updated_at"] == pd.Timestamp("2024-02-20 08:00")


def test_late_failure_and_other_statuses(transactions):
    assert row(transactions, "PM4")["status"] == "DENIED"
    assert row(transactions, "PM4")["updated_at"] == pd.Timestamp("2024-02-13 08:00")
    assert row(transactions, "PM5")["status"] == "PENDING"
    assert row(transactions, "PM7")["status"] == "DENIED"
    assert row(transactions, "PM7")["customer_id"] == "CU3"


def test_refunds_point_at_their_payment_transaction(transactions):
    rf1 = row(transactions, "RF1")
    assert (rf1["type"], rf1["status"], rf1["amount"], rf1["value_date"], rf1["initial_transaction_id"],
            rf1["scheme"], rf1["mandate_id"], rf1["customer_id"], rf1["payout_id"]) == (
        "PAYMENT_REFUND", "SUCCESS", Decimal("2.50"), date(2024, 1, 15), row(transactions, "PM1")["id"],
        "bacs", "MD1", "CU1", "PO1")


def test_payouts_with_deducted_and_refunded_fees(transactions):
    po1, po3, po4 = (row(transactions, p) for p in ("PO1", "PO3", "PO4"))
    assert (po1["type"], po1["status"], po1["amount"], po1["fee_amount"], po1["value_date"]) == (
        "PAYOUT", "SUCCESS", Decimal("9.95"), Decimal("0.55"), date(2024, 1, 12))
    assert po3["fee_amount"] == Decimal("-1.00")  # negative deducted_fees: fees refunded
    assert (po4["status"], po4["value_date"]) == ("PENDING", date(2024, 3, 20))  # no arrival date yet


def test_fee_items_not_linked_to_a_payment_become_fee_rows(transactions):
    fee = row(transactions, "PO3:surcharge_fee:MD2:1")
    assert (fee["type"], fee["status"], fee["amount"], fee["currency"], fee["value_date"], fee["source_type"],
            fee["payout_id"], fee["customer_id"], fee["source_created_at"]) == (
        "FEE", "SUCCESS", Decimal("0.055"), "EUR", date(2024, 3, 1), "payout_item:surcharge_fee",
        "PO3", "CU2", pd.Timestamp("2024-02-28 06:00"))
    assert (transactions["type"] == "FEE").sum() == 1  # fee items linked to payments are fee_amount


def test_rebuild_is_identical():
    first, second = build_transactions(scenario.frames()), build_transactions(scenario.frames())
    pd.testing.assert_frame_equal(first, second)
    assert first.to_json() == second.to_json()


def test_malformed_records_do_not_raise():
    frames = scenario.frames(payments=[
        {"id": "PMB1"},  # nothing but an id
        {"id": "PMB2", "amount": "abc", "currency": 7, "status": None, "charge_date": "not a date", "links": "x"},
    ], payout_items=[("PO9", "gocardless_fee", None, {})])
    transactions = build_transactions(frames)
    bad = transactions[transactions["source_id"].isin(["PMB1", "PMB2"])]
    assert bad[["status", "amount", "value_date"]].isna().all().all()


def test_money_helpers_are_exact():
    assert minor_to_major(1050) == Decimal("10.50")
    assert minor_to_major("45.5") == Decimal("0.455")
    assert minor_to_major(None) is None and minor_to_major("x") is None
    assert round_half_up(Decimal("0.455"), 2) == Decimal("0.46")
    assert round_half_up(Decimal("-0.125"), 2) == Decimal("-0.13")
    assert round_half_up(monthly_amount(Decimal("5.00"), "week", 2), 4) == Decimal("10.8333")
    assert round_half_up(monthly_amount(Decimal("120.00"), "year", 1), 2) == Decimal("10.00")
    assert monthly_amount(Decimal("30.00"), "month", 3) == 10
    assert monthly_amount(Decimal("30.00"), "day", 1) is None and monthly_amount(Decimal("1"), "month", 0) is None


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6), st.integers(0, 4))
def test_rounding_a_ratio_in_integers_is_decimal_round_half_up(numerator, denominator, places):
    """The insights sum MRR as integer numerators; rounded as Decimal's ROUND_HALF_UP rounds the
    exact value (enough precision that the quotient is exact before the rounding)."""
    import decimal

    with decimal.localcontext(prec=60):
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places), decimal.ROUND_HALF_UP)
    assert round_ratio_half_up(numerator, denominator, places) == expected
    assert round_ratio_half_up(numerator, denominator, places) == round_half_up(Fraction(numerator, denominator), places)
