-- Commerce model: Qard-style transactions, subscriptions and monthly insights built
-- from the raw GoCardless records, plus the quarantine of records that failed validation.
-- Money is exact NUMERIC in major units (10.50 for 1050 pence). Timestamps are UTC, no time zone.
-- Ids are uuid5 of (data connection id, source object type, GoCardless id), see docs/metrics.md.
-- commerce.payment_methods belongs to the gateway reconciliation and is created by 004.

CREATE SCHEMA IF NOT EXISTS commerce;

-- One row per money movement: payments, refunds, payouts, and fees not linked to a payment.
-- fee_amount keeps the sub-cent precision of payout item fees (4 decimals).
-- gateway_state and settled_on are filled by the gateway reconciliation (NULL until then).
CREATE TABLE IF NOT EXISTS commerce.transactions (
    id VARCHAR NOT NULL PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    provider_name VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    description VARCHAR,
    amount NUMERIC(20,4) NOT NULL,
    currency VARCHAR NOT NULL,
    fee_amount NUMERIC(20,4),
    source_id VARCHAR NOT NULL,
    source_type VARCHAR NOT NULL,
    source_created_at TIMESTAMP,
    value_date DATE,
    initial_transaction_id VARCHAR,
    scheme VARCHAR,
    mandate_id VARCHAR,
    subscription_id VARCHAR,
    customer_id VARCHAR,
    payout_id VARCHAR,
    gateway_state VARCHAR,
    settled_on DATE,
    updated_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS transactions_by_connection
    ON commerce.transactions (data_connection_id, value_date);

-- One row per subscription, in its current state. mrr is its normalised monthly amount,
-- rounded to 4 decimals (insights sum the exact values, see docs/metrics.md).
CREATE TABLE IF NOT EXISTS commerce.subscriptions (
    id VARCHAR NOT NULL PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    provider_name VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    source_created_at TIMESTAMP,
    amount NUMERIC(20,4) NOT NULL,
    currency VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    plan_name VARCHAR,
    frequency_unit VARCHAR NOT NULL,
    frequency_interval INTEGER NOT NULL,
    source_status VARCHAR NOT NULL,
    start_date DATE,
    ended_at TIMESTAMP,
    mandate_id VARCHAR,
    customer_id VARCHAR,
    mrr NUMERIC(20,4) NOT NULL,
    updated_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS subscriptions_by_connection
    ON commerce.subscriptions (data_connection_id);

-- One row per user, data connection, month (first day) and currency; zeros included.
-- Rates are fractions (0.1234 = 12.34 percent), 4 decimals.
CREATE TABLE IF NOT EXISTS commerce.transactions_insight (
    user_id VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    month DATE NOT NULL,
    currency VARCHAR NOT NULL,
    payments_amount NUMERIC(20,2) NOT NULL,
    payments_nb INTEGER NOT NULL,
    shopping_cart_average NUMERIC(20,2),
    payouts_amount NUMERIC(20,2) NOT NULL,
    payouts_nb INTEGER NOT NULL,
    refunds_amount NUMERIC(20,2) NOT NULL,
    refunds_nb INTEGER NOT NULL,
    failed_nb INTEGER NOT NULL,
    failure_rate NUMERIC(10,4),
    chargebacks_nb INTEGER NOT NULL,
    chargeback_rate NUMERIC(10,4),
    fees_amount NUMERIC(20,2) NOT NULL,
    net_amount NUMERIC(20,2) NOT NULL,
    payments_amount_mom_growth NUMERIC(20,4),
    PRIMARY KEY (data_connection_id, month, currency)
);

CREATE TABLE IF NOT EXISTS commerce.subscriptions_insight (
    user_id VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    month DATE NOT NULL,
    currency VARCHAR NOT NULL,
    mrr NUMERIC(20,2) NOT NULL,
    subscription_nb INTEGER NOT NULL,
    new_mrr NUMERIC(20,2) NOT NULL,
    expansion_mrr NUMERIC(20,2) NOT NULL,
    contraction_mrr NUMERIC(20,2) NOT NULL,
    churned_mrr NUMERIC(20,2) NOT NULL,
    reactivation_mrr NUMERIC(20,2) NOT NULL,
    customers_nb INTEGER NOT NULL,
    arpa NUMERIC(20,2),
    customer_churn_rate NUMERIC(10,4),
    net_mrr_churn_rate NUMERIC(20,4),
    PRIMARY KEY (data_connection_id, month, currency)
);

-- Records that failed a row-level validation rule, with every rule they failed.
-- payload = JSON object with the commerce row (row) and the raw GoCardless record (source).
-- occurrence numbers the copies of one source record in one run (duplicate ids).
CREATE TABLE IF NOT EXISTS commerce.quarantine (
    run_id VARCHAR NOT NULL,
    source_table VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    user_id VARCHAR,
    source_id VARCHAR NOT NULL,
    occurrence INTEGER NOT NULL,
    row_id VARCHAR,
    failed_rules JSON NOT NULL,
    payload JSON NOT NULL,
    PRIMARY KEY (data_connection_id, run_id, source_table, source_id, occurrence)
);
