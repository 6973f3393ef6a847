"""GX validation: malformed records land in quarantine with every rule they broke, the rest
stays valid; batch-level failures are reported and raised; Data Docs are built."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gocardless_commerce.model import (
    build_subscriptions,
    build_transactions,
    schema,
    subscriptions_insight,
    transactions_insight,
)
from gocardless_commerce.model.validation import (
    BatchValidationError,
    raise_for_batch_failures,
    validate_subscriptions,
    validate_subscriptions_insight,
    validate_transactions,
    validate_transactions_insight,
)
from tests.model import scenario

MALFORMED_PAYMENTS = [
    scenario.payment("PMX1", None, "paid_out", "2024-01-10"),  # missing amount
    scenario.payment("PMX2", 100, "paid_out", "2024-01-10", currency="XYZ", scheme=None),  # unknown currency
    scenario.payment("PMX3", 100, "exploded", "2024-01-10"),  # unknown status
    scenario.PAYMENTS[0],  # PM1 again: duplicate id in a page
    scenario.payment("PMX4", -500, "paid_out", "2024-01-10"),  # negative amount
    scenario.payment("PMX5", 100, "paid_out", "2024-01-10", currency="EUR"),  # bacs in EUR
    scenario.payment("PMX6", 1000, "paid_out", "2024-01-10"),
    scenario.payment("PMX7", 100, "paid_out", "2024-01-10", created_at="2030-01-01T00:00:00Z"),  # future
    scenario.payment("PMX8", None, "exploded", "2024-01-10", currency=None),  # several rules at once
]
OVER_REFUND = scenario.refund("RFX", 2000, "paid", "PMX6", "2024-01-15T00:00:00Z")  # 20.00 of a 10.00 payment


@pytest.fixture(scope="module")
def malformed():
    frames = scenario.frames(payments=scenario.PAYMENTS + MALFORMED_PAYMENTS, refunds=scenario.REFUNDS + [OVER_REFUND])
    transactions = build_transactions(frames)
    return frames, transactions, validate_transactions(transactions, now=scenario.NOW, run_id="run_1",
                                                       frames=frames, build_docs=False)


def test_each_malformed_record_is_quarantined_with_its_rules(malformed):
    _, transactions, outcome = malformed
    got = {(r.source_id, r.occurrence): r.failed_rules for r in outcome.quarantine.itertuples()}
    assert got == {
        ("PM1", 1): ["id_unique"],
        ("PMX1", 1): ["amount_not_null"],
        ("PMX2", 1): ["currency_in_set"],
        ("PMX3", 1): ["status_in_set"],
        ("PMX4", 1): ["amount_non_negative"],
        ("PMX5", 1): ["scheme_matches_currency"],
        ("PMX7", 1): ["source_created_at_not_in_future"],
        ("PMX8", 1): ["currency_in_set", "amount_not_null", "status_in_set"],
        ("RFX", 1): ["refund_within_payment_amount"],
    }
    assert outcome.batch_failures == []
    assert len(outcome.valid) == len(transactions) - 9
    assert list(outcome.valid.columns) == list(schema.TRANSACTIONS)
    assert set(outcome.valid["source_id"]) >= {"PM1", "PMX6", "RF1", "PO1"}  # the first PM1 copy stays
    assert outcome.valid["id"].is_unique


def test_quarantine_rows_carry_source_payload_and_run(malformed):
    _, _, outcome = malformed
    assert list(outcome.quarantine.columns) == list(schema.QUARANTINE)
    pmx1 = outcome.quarantine[outcome.quarantine["source_id"] == "PMX1"].iloc[0]
    assert (pmx1["last_run_id"], pmx1["source_table"], pmx1["data_connection_id"], pmx1["user_id"]) == (
        "run_1", "commerce.transactions", "dc_1", "user_1")
    assert pmx1["payload"]["source"]["id"] == "PMX1" and pmx1["payload"]["source"]["amount"] is None
    assert pmx1["payload"]["row"]["status"] == "SUCCESS" and pmx1["payload"]["row"]["amount"] is None


def test_valid_scenario_has_no_quarantine_and_validation_is_deterministic():
    frames = scenario.frames()
    transactions = build_transactions(frames)
    first = validate_transactions(transactions, now=scenario.NOW, run_id="r", build_docs=False)
    second = validate_transactions(transactions, now=scenario.NOW, run_id="r", build_docs=False)
    assert first.quarantine.empty and first.batch_failures == []
    assert first.valid.equals(transactions.drop(columns=schema.ISSUES)) and first.valid.equals(second.valid)


def test_malformed_subscriptions_are_quarantined():
    subs = scenario.SUBSCRIPTIONS + [
        scenario.subscription("SBX1", 1000, "daily", 1, "active", "2024-01-01", "2024-01-01T00:00:00Z"),
        scenario.subscription("SBX2", 1000, "monthly", 0, "active", "2024-01-01", "2024-01-01T00:00:00Z"),
        scenario.subscription("SBX3", -100, "monthly", 1, "zombie", "2024-01-01", "2024-01-01T00:00:00Z",
                              currency="JPY"),
    ]
    frames = scenario.frames(subscriptions=subs)
    outcome = validate_subscriptions(build_subscriptions(frames), now=scenario.NOW, run_id="r", frames=frames,
                                     build_docs=False)
    got = dict(zip(outcome.quarantine["source_id"], outcome.quarantine["failed_rules"], strict=True))
    assert got == {
        "SBX1": ["frequency_unit_in_set"],
        "SBX2": ["frequency_interval_positive"],
        "SBX3": ["currency_in_set", "amount_non_negative", "status_in_set", "currency_matches_mandate_scheme"],
    }
    assert len(outcome.valid) == 6 and outcome.batch_failures == []


@pytest.fixture(scope="module")
def insights():
    frames = scenario.frames()
    return (transactions_insight(build_transactions(frames), now=scenario.NOW, history_months=4),
            subscriptions_insight(build_subscriptions(frames), frames.events, now=scenario.NOW, history_months=4))


def test_correct_insights_pass_and_build_data_docs(insights, tmp_path):
    tx, subs = insights
    tx_outcome = validate_transactions_insight(tx, docs_dir=tmp_path)
    sub_outcome = validate_subscriptions_insight(subs, docs_dir=tmp_path)
    assert tx_outcome.batch_failures == [] and sub_outcome.batch_failures == []
    assert sub_outcome.docs_url == f"file://{tmp_path.resolve()}/commerce_subscriptions_insight/index.html"
    assert (tmp_path / "commerce_subscriptions_insight" / "index.html").exists()
    raise_for_batch_failures(sub_outcome)  # no failure, no exception


def test_broken_insight_identities_fail_the_batch(insights):
    tx, subs = insights
    tx, subs = tx.copy(), subs.copy()
    tx.loc[1, "shopping_cart_average"] = Decimal("16.25")  # 30.50 / 2 is 15.25
    subs.loc[3, "mrr"] = Decimal("21.83")  # breaks Feb (and Mar, which starts from it)
    tx_outcome = validate_transactions_insight(tx, build_docs=False)
    sub_outcome = validate_subscriptions_insight(subs, build_docs=False)
    assert [f.split(" ")[1] for f in tx_outcome.batch_failures] == ["shopping_cart_average_identity"]
    assert [f.split(" ")[1] for f in sub_outcome.batch_failures] == ["mrr_movement_invariant", "arpa_identity"]
    with pytest.raises(BatchValidationError) as error:
        raise_for_batch_failures(sub_outcome)
    message = str(error.value)
    assert "mrr_movement_invariant" in message and "'month': '2024-02-01'" in message and "'_mrr': '21.83'" in message


def test_a_table_that_breaks_the_column_contract_fails_the_batch():
    transactions = build_transactions(scenario.frames()).drop(columns=["scheme"])
    outcome = validate_transactions(transactions, now=scenario.NOW, run_id="r", build_docs=False)
    assert any(f.startswith("commerce.transactions: columns_match_contract") and "'missing': ['scheme']" in f
               for f in outcome.batch_failures)
    with pytest.raises(BatchValidationError, match="columns_match_contract"):
        raise_for_batch_failures(outcome)


# -- rules judged on the GoCardless record itself (model/source_rules.py) -------------------------

STRICT_PAYMENTS = [
    scenario.payment("PMS1", "1250", "paid_out", "2024-01-10"),  # amount as text: not 12.50
    scenario.payment("PMS2", 12.5, "paid_out", "2024-01-10"),  # a fraction of a penny: not 0.125
    scenario.payment("PMS3", 1000, "paid_out", "soon"),  # charge_date not a date
    scenario.payment("PMS4", 1000, "paid_out", "2024-01-10", created_at=None),  # created_at null
    scenario.payment("PMS5", 1000, "paid_out", "2024-01-10", payout="PO1"),  # a fee item that cannot be read
    scenario.payment("PMS6", 1000, "paid_out", "2024-01-10", refunded="0"),  # amount_refunded as text
    scenario.payment("PMS7", 1000, "paid_out", None),  # charge_date missing
]
STRICT_REFUNDS = [scenario.refund("RFS1", 100, "paid", "PM-never-landed", "2024-01-15T00:00:00Z")]
STRICT_PAYOUTS = [
    scenario.payout("POS1", 1000, 0, "paid", "tomorrow", "2024-01-11T00:00:00Z"),  # arrival_date not a date
    scenario.payout("POS2", 1000, "5", "paid", "2024-01-12", "2024-01-11T00:00:00Z"),  # deducted_fees as text
]
STRICT_ITEMS = [
    ("PO1", "gocardless_fee", "n/a", {"payment": "PMS5"}),
    ("PO1", "app_fee", None, {"mandate": "MD3"}),  # an unlinked fee: its FEE row has no amount to read
]


def test_values_are_read_strictly_and_never_coerced():
    frames = scenario.frames(payments=scenario.PAYMENTS + STRICT_PAYMENTS, refunds=scenario.REFUNDS + STRICT_REFUNDS,
                             payouts=scenario.PAYOUTS + STRICT_PAYOUTS, payout_items=scenario.PAYOUT_ITEMS + STRICT_ITEMS)
    transactions = build_transactions(frames)
    outcome = validate_transactions(transactions, now=scenario.NOW, run_id="r", frames=frames, build_docs=False)
    got = dict(zip(outcome.quarantine["source_id"], outcome.quarantine["failed_rules"], strict=True))
    assert got == {
        "PMS1": ["amount_integer_minor_units"],
        "PMS2": ["amount_integer_minor_units"],
        "PMS3": ["charge_date_is_date"],
        "PMS4": ["source_created_at_not_null"],
        "PMS5": ["fee_item_amount_readable"],
        "PMS6": ["amount_integer_minor_units"],
        "PMS7": ["charge_date_is_date"],
        "RFS1": ["refund_payment_in_raw"],
        "POS1": ["dates_are_dates"],
        "POS2": ["amount_integer_minor_units"],
        "PO1:app_fee:MD3:1": ["fee_item_amount_readable"],
    }
    assert outcome.batch_failures == []
    # nothing was coerced on the way: the rows as built carry no invented values
    built = transactions.set_index("source_id")
    assert built.loc["PMS1", "amount"] is None and built.loc["PMS2", "amount"] is None
    assert built.loc["PMS3", "value_date"] is None
    # every valid record still loads
    assert set(outcome.valid["source_id"]) == set(build_transactions(scenario.frames())["source_id"])


STRICT_SUBSCRIPTIONS = [
    scenario.subscription("SBS1", "1000", "monthly", 1, "active", "2024-01-01", "2024-01-01T00:00:00Z"),
    scenario.subscription("SBS2", 1000, "monthly", 1, "active", "2024-01-01", "2024-01-01T00:00:00Z",
                          currency="EUR"),  # EUR on a bacs mandate
    {**scenario.subscription("SBS3", 1000, "monthly", 1, "active", "2023-01-01", "2023-01-01T00:00:00Z"),
     "end_date": "2023-12-31"},  # active, ended long ago
    {**scenario.subscription("SBS4", 1000, "monthly", 1, "active", "2023-01-01", "2023-01-01T00:00:00Z"),
     "count": 3},  # active, its three payments were charged in 2023
    scenario.subscription("SBS5", 1000, "monthly", 1, "active", "someday", "2024-01-01T00:00:00Z"),
    {**scenario.subscription("SBS6", 1000, "monthly", 1, "active", "2024-01-01", "2024-01-01T00:00:00Z"),
     "count": 12},  # active with payments to come: consistent
]


def test_subscription_consistency_rules():
    frames = scenario.frames(subscriptions=scenario.SUBSCRIPTIONS + STRICT_SUBSCRIPTIONS)
    outcome = validate_subscriptions(build_subscriptions(frames, scenario.NOW), now=scenario.NOW, run_id="r",
                                     frames=frames, build_docs=False)
    got = dict(zip(outcome.quarantine["source_id"], outcome.quarantine["failed_rules"], strict=True))
    assert got == {
        "SBS1": ["amount_integer_minor_units"],
        "SBS2": ["currency_matches_mandate_scheme"],
        "SBS3": ["active_subscription_not_ended"],
        "SBS4": ["active_subscription_not_ended"],
        "SBS5": ["dates_are_dates"],
    }
    assert "SBS6" in set(outcome.valid["source_id"])
    # the quarantined ones add nothing to MRR: only SBS6 (10.00 a month since January) is added
    insight = subscriptions_insight(outcome.valid, frames.events, now=scenario.NOW, history_months=4)
    baseline = subscriptions_insight(build_subscriptions(scenario.frames(), scenario.NOW), scenario.frames().events,
                                     now=scenario.NOW, history_months=4)
    added = insight.set_index(["month", "currency"])["mrr"] - baseline.set_index(["month", "currency"])["mrr"]
    assert set(added.xs("GBP", level="currency")) == {Decimal("10.00")}
    assert set(added.xs("EUR", level="currency")) == {Decimal("0.00")}
