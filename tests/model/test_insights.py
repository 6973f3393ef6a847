"""Monthly insights of the scenario, every cell by hand (window January–April 2024)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from gocardless_commerce.model import (
    build_subscriptions,
    build_transactions,
    schema,
    subscriptions_insight,
    transactions_insight,
)
from gocardless_commerce.model.insights import month_window
from gocardless_commerce.model.lookups import build_lookups
from gocardless_commerce.model.subscriptions import amount_changes_frame
from tests.model import scenario

D = Decimal
MONTHS = [date(2024, m, 1) for m in (1, 2, 3, 4)]


@pytest.fixture(scope="module")
def tx_insight() -> pd.DataFrame:
    return transactions_insight(build_transactions(scenario.frames()), now=scenario.NOW,
                                history_months=scenario.HISTORY_MONTHS)


@pytest.fixture(scope="module")
def sub_insight() -> pd.DataFrame:
    frames = scenario.frames()
    return subscriptions_insight(build_subscriptions(frames), frames.events, now=scenario.NOW,
                                 history_months=scenario.HISTORY_MONTHS)


def cell(insight, month, currency) -> dict:
    match = insight[(insight["month"] == month) & (insight["currency"] == currency)]
    assert len(match) == 1
    return {k: v for k, v in match.iloc[0].to_dict().items() if k not in ("user_id", "data_connection_id", "month", "currency")}


def test_window_and_grain(tx_insight, sub_insight):
    assert month_window(datetime(2024, 4, 15), 4) == MONTHS
    assert month_window(datetime(2024, 1, 31), 2) == [date(2023, 12, 1), date(2024, 1, 1)]
    for insight, columns in ((tx_insight, schema.TRANSACTIONS_INSIGHT), (sub_insight, schema.SUBSCRIPTIONS_INSIGHT)):
        assert list(insight.columns) == list(columns)
        assert list(zip(insight["month"], insight["currency"], strict=True)) == [
            (m, c) for m in MONTHS for c in ("EUR", "GBP")]  # every month, zeros included


def test_january_gbp_payments_refunds_fees_payouts(tx_insight):
    """PM1 10.50 + PM2 20.00 (fully refunded, still a payment); refunds 2.50 + 20.00; fee 0.555 → 0.56."""
    assert cell(tx_insight, MONTHS[0], "GBP") == {
        "payments_amount": D("30.50"), "payments_nb": 2, "shopping_cart_average": D("15.25"),
        "payouts_amount": D("9.95"), "payouts_nb": 1, "refunds_amount": D("22.50"), "refunds_nb": 2,
        "failed_nb": 0, "failure_rate": D("0.0000"), "chargebacks_nb": 0, "chargeback_rate": D("0.0000"),
        "fees_amount": D("0.56"), "net_amount": D("7.44"), "payments_amount_mom_growth": None,
    }


def test_february_failures_and_chargeback(tx_insight):
    """GBP: PM4 failed late + PM7 approval denied, out of 2 attempted. EUR: PM3 charged back."""
    gbp, eur = cell(tx_insight, MONTHS[1], "GBP"), cell(tx_insight, MONTHS[1], "EUR")
    assert (gbp["failed_nb"], gbp["failure_rate"], gbp["payments_nb"], gbp["shopping_cart_average"],
            gbp["chargeback_rate"], gbp["payments_amount_mom_growth"]) == (2, D("1.0000"), 0, None, None, D("-1.0000"))
    assert (eur["chargebacks_nb"], eur["chargeback_rate"], eur["failure_rate"], eur["payouts_amount"],
            eur["payments_amount"]) == (1, D("1.0000"), D("0.0000"), D("49.00"), D("0.00"))


def test_march_fees_and_unlinked_fee(tx_insight):
    gbp, eur = cell(tx_insight, MONTHS[2], "GBP"), cell(tx_insight, MONTHS[2], "EUR")
    assert (gbp["payments_amount"], gbp["fees_amount"], gbp["net_amount"], gbp["payouts_nb"]) == (
        D("40.00"), D("1.00"), D("39.00"), 0)  # PO4 still pending
    assert (eur["payouts_amount"], eur["fees_amount"], eur["net_amount"]) == (D("1.20"), D("0.06"), D("-0.06"))


def test_a_month_with_no_activity_is_zeros(tx_insight):
    assert cell(tx_insight, MONTHS[3], "EUR") == {
        "payments_amount": D("0.00"), "payments_nb": 0, "shopping_cart_average": None,
        "payouts_amount": D("0.00"), "payouts_nb": 0, "refunds_amount": D("0.00"), "refunds_nb": 0,
        "failed_nb": 0, "failure_rate": None, "chargebacks_nb": 0, "chargeback_rate": None,
        "fees_amount": D("0.00"), "net_amount": D("0.00"), "payments_amount_mom_growth": None,
    }
    assert cell(tx_insight, MONTHS[3], "GBP")["payments_amount_mom_growth"] == D("-1.0000")  # 40 → 0


def mrr_cell(insight, month, currency):
    c = cell(insight, month, currency)
    return tuple(c[k] for k in ("mrr", "subscription_nb", "new_mrr", "expansion_mrr", "contraction_mrr",
                                "churned_mrr", "reactivation_mrr", "customers_nb", "arpa",
                                "customer_churn_rate", "net_mrr_churn_rate"))


def test_mrr_and_movements_gbp(sub_insight):
    """Dec: CU1 10 (SB1), CU2 10 (SB3 yearly 120), CU3 10 (SB4 30 per 3 months) = 30.
    Feb: SB2 weekly 5 × 52/24 starts → CU1 20.83 (expansion 10.83); SB3 paused, SB4 cancelled → churn 20.
    Mar: SB3 resumed → reactivation 10. Apr (now): SB5 starts for CU3, who churned in Feb → reactivation 20.
    """
    assert mrr_cell(sub_insight, MONTHS[0], "GBP") == (
        D("30.00"), 3, 0, 0, 0, 0, 0, 3, D("10.00"), D("0.0000"), D("0.0000"))
    assert mrr_cell(sub_insight, MONTHS[1], "GBP") == (
        D("20.83"), 2, 0, D("10.83"), 0, D("20.00"), 0, 1, D("20.83"), D("0.6667"), D("0.3057"))
    assert mrr_cell(sub_insight, MONTHS[2], "GBP") == (
        D("30.83"), 3, 0, 0, 0, 0, D("10.00"), 2, D("15.42"), D("0.0000"), D("-0.4801"))
    assert mrr_cell(sub_insight, MONTHS[3], "GBP") == (
        D("50.83"), 4, 0, 0, 0, 0, D("20.00"), 3, D("16.94"), D("0.0000"), D("-0.6487"))


def test_approval_makes_new_mrr_and_empty_months_are_zeros(sub_insight):
    """SB6 (EUR) is pending approval until 10 April: zero until then, new business in April."""
    assert mrr_cell(sub_insight, MONTHS[2], "EUR") == (D("0.00"), 0, 0, 0, 0, 0, 0, 0, None, None, None)
    assert mrr_cell(sub_insight, MONTHS[3], "EUR") == (D("15.00"), 1, D("15.00"), 0, 0, 0, 0, 1, D("15.00"), None, None)


def test_mrr_movement_invariant_holds_exactly(sub_insight):
    previous = {"GBP": D("30.00"), "EUR": D("0.00")}  # December month end
    for row in sub_insight.itertuples():
        assert row.mrr == (previous[row.currency] + row.new_mrr + row.expansion_mrr + row.reactivation_mrr
                           - row.contraction_mrr - row.churned_mrr)
        previous[row.currency] = row.mrr


def test_contraction_when_one_of_two_subscriptions_ends():
    subs = [scenario.subscription("SA", 1000, "monthly", 1, "active", "2024-01-01", "2024-01-01T00:00:00Z"),
            scenario.subscription("SB", 500, "monthly", 1, "cancelled", "2024-01-01", "2024-01-01T00:00:00Z")]
    events = [scenario.event("E1", "subscriptions", "cancelled", "SB", "2024-03-10T00:00:00Z")]
    frames = scenario.frames(subscriptions=subs, events=events)
    insight = subscriptions_insight(build_subscriptions(frames), frames.events, now=scenario.NOW, history_months=4)
    march = cell(insight, MONTHS[2], "GBP")
    assert (march["mrr"], march["contraction_mrr"], march["churned_mrr"], march["customers_nb"],
            march["customer_churn_rate"], march["net_mrr_churn_rate"]) == (
        D("10.00"), D("5.00"), D("0.00"), 1, D("0.0000"), D("0.3333"))


def _amended_scenario(*, with_payments: bool = True):
    """SA: 10.00 a month since January, amended to 15.00 on 10 February and to 12.00 on 5 March;
    its payments (created before each charge) charged what was then in force. CU1 only."""
    subs = [scenario.subscription("SA", 1200, "monthly", 1, "active", "2024-01-01", "2023-12-20T00:00:00Z")]
    events = [scenario.event("E1", "subscriptions", "amended", "SA", "2024-02-10T00:00:00Z"),
              scenario.event("E2", "subscriptions", "amended", "SA", "2024-03-05T00:00:00Z")]
    payments = [
        scenario.payment("P1", 1000, "paid_out", "2024-01-01", subscription="SA", created_at="2023-12-27T00:00:00Z"),
        scenario.payment("P2", 1000, "paid_out", "2024-02-01", subscription="SA", created_at="2024-01-27T00:00:00Z"),
        scenario.payment("P3", 1500, "paid_out", "2024-03-01", subscription="SA", created_at="2024-02-26T00:00:00Z"),
        scenario.payment("P4", 1200, "confirmed", "2024-04-01", subscription="SA", created_at="2024-03-27T00:00:00Z"),
    ] if with_payments else []
    frames = scenario.frames(subscriptions=subs, events=events, payments=payments, refunds=[])
    return frames, subscriptions_insight(build_subscriptions(frames), frames.events, now=scenario.NOW, history_months=4,
                                         amount_changes=amount_changes_frame(frames.subscriptions, build_lookups(frames)))


def test_an_amended_subscription_counts_at_the_amount_in_force_each_month():
    """Jan 10.00; Feb 15.00 (expansion 5.00); Mar 12.00 (contraction 3.00); Apr 12.00."""
    frames, insight = _amended_scenario()
    changes = amount_changes_frame(frames.subscriptions, build_lookups(frames))
    assert [tuple(r) for r in changes.itertuples(index=False)] == [
        (scenario.DC, "SA", datetime(2024, 2, 10), D("10.00"), D("15.00")),
        (scenario.DC, "SA", datetime(2024, 3, 5), D("15.00"), D("12.00")),
    ]
    gbp = [cell(insight, month, "GBP") for month in MONTHS]
    assert [(c["mrr"], c["expansion_mrr"], c["contraction_mrr"]) for c in gbp] == [
        (D("10.00"), 0, 0), (D("15.00"), D("5.00"), 0), (D("12.00"), 0, D("3.00")), (D("12.00"), 0, 0)]


def test_an_amendment_whose_earlier_amount_is_unknown_is_no_change():
    """Without payments before an amendment (older than the window), the amount before it is
    not known: the current amount holds throughout, as before amendments were read."""
    _, insight = _amended_scenario(with_payments=False)
    assert [(cell(insight, m, "GBP")["mrr"], cell(insight, m, "GBP")["expansion_mrr"]) for m in MONTHS] == [
        (D("12.00"), 0)] * 4


def test_insights_are_deterministic(tx_insight, sub_insight):
    frames = scenario.frames()
    pd.testing.assert_frame_equal(tx_insight, transactions_insight(build_transactions(frames), now=scenario.NOW,
                                                                   history_months=4))
    pd.testing.assert_frame_equal(sub_insight, subscriptions_insight(build_subscriptions(frames), frames.events,
                                                                     now=scenario.NOW, history_months=4))


def test_empty_input_gives_empty_insights():
    empty = transactions_insight(schema.empty(schema.TRANSACTIONS), now=scenario.NOW, history_months=12)
    assert empty.empty and list(empty.columns) == list(schema.TRANSACTIONS_INSIGHT)
