-- Gateway reconciliation: every GoCardless event of a day (the period) parsed into a
-- gateway event, matched with its transaction or payment method, and the action it implies
-- (see docs/reconciliation.md). One job per period: job_number = the period's date as
-- YYYYMMDD. A rerun of a period replaces that period's rows, merchant by merchant, in one
-- transaction; rows describing a merchant carry data_connection_id (and user_id), so deleting
-- a data connection deletes them. Timestamps are UTC, no time zone.

CREATE SCHEMA IF NOT EXISTS reconciliation;

-- One row per period. The per-merchant parts (status, error, counts) are the rows of
-- reconciliation.merchant_summaries with the same job_number.
CREATE TABLE IF NOT EXISTS reconciliation.jobs (
    job_number INTEGER NOT NULL PRIMARY KEY,
    period_start TIMESTAMP NOT NULL,
    period_end TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    run_id VARCHAR,
    attempts INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    merchants_total INTEGER NOT NULL,
    merchants_completed INTEGER NOT NULL,
    merchants_error INTEGER NOT NULL,
    events_total INTEGER NOT NULL,
    events_unmatched INTEGER NOT NULL,
    reversal_refunds BOOLEAN NOT NULL
);

-- Every event of the period, matched or not. object is Payment, Refund, Mandate or the
-- singular of another resource type; action is the mapping's action (none for Unknown);
-- outcome says what it did (or why it did nothing).
CREATE TABLE IF NOT EXISTS reconciliation.gateway_events (
    data_connection_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    job_number INTEGER NOT NULL,
    object VARCHAR NOT NULL,
    gocardless_action VARCHAR NOT NULL,
    gateway_event VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    amount NUMERIC(20,4),
    currency VARCHAR,
    related_gocardless_id VARCHAR,
    matched BOOLEAN NOT NULL,
    matched_transaction_id VARCHAR,
    matched_payment_method_id VARCHAR,
    unmatched_reason VARCHAR,
    outcome VARCHAR,
    reason_code VARCHAR,
    cause VARCHAR,
    raw_event JSON NOT NULL,
    PRIMARY KEY (data_connection_id, event_id)
);

CREATE INDEX IF NOT EXISTS gateway_events_by_job
    ON reconciliation.gateway_events (job_number, data_connection_id);

-- The actions applied for matched events: one row per field an event set (gateway_state,
-- settled_on, status, external_refund), with its value before and after (equal when it
-- already had it). superseded_by names a later period's event that had already changed the
-- field when an older period was (re)run: the current value was left alone.
CREATE TABLE IF NOT EXISTS reconciliation.log (
    data_connection_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    related_object_id VARCHAR NOT NULL,
    change VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    job_number INTEGER NOT NULL,
    gateway_event VARCHAR NOT NULL,
    related_object_type VARCHAR NOT NULL,
    related_gocardless_id VARCHAR NOT NULL,
    before_value VARCHAR,
    after_value VARCHAR,
    created_object_id VARCHAR,
    event_time TIMESTAMP NOT NULL,
    superseded_by VARCHAR,
    PRIMARY KEY (data_connection_id, event_id, related_object_id, change)
);

CREATE INDEX IF NOT EXISTS log_by_job
    ON reconciliation.log (job_number, data_connection_id);

-- Refunds the reconciliation creates for reversals (chargebacks, settled late failures).
-- id = uuid5 of (data connection, 'external_refund', event id): a rerun gives the same id.
CREATE TABLE IF NOT EXISTS reconciliation.external_refunds (
    id VARCHAR NOT NULL PRIMARY KEY,
    data_connection_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    job_number INTEGER NOT NULL,
    event_id VARCHAR NOT NULL,
    payment_transaction_id VARCHAR NOT NULL,
    payment_gocardless_id VARCHAR NOT NULL,
    amount NUMERIC(20,4) NOT NULL,
    currency VARCHAR NOT NULL,
    reason_code VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- The daily summary per merchant, and its part of the job: status Processing, Completed or
-- Error (with the error). Amounts are JSON objects currency -> decimal string (major units).
CREATE TABLE IF NOT EXISTS reconciliation.merchant_summaries (
    job_number INTEGER NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    user_name VARCHAR,
    period_start TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    attempts INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    events_total INTEGER NOT NULL,
    events_matched INTEGER NOT NULL,
    events_unmatched INTEGER NOT NULL,
    events_by_gateway_event JSON NOT NULL,
    settled_amounts JSON NOT NULL,
    refunds_settled_amounts JSON NOT NULL,
    rejected_amounts JSON NOT NULL,
    reversed_amounts JSON NOT NULL,
    external_refunds INTEGER NOT NULL,
    payment_methods_changed INTEGER NOT NULL,
    api_requests INTEGER NOT NULL,
    PRIMARY KEY (job_number, data_connection_id)
);

-- One row per mandate: the payment method the reconciliation opens and closes.
-- id = uuid5 of (data connection, 'mandate', mandate id); source_id is the mandate id.
CREATE TABLE IF NOT EXISTS commerce.payment_methods (
    id VARCHAR NOT NULL PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    data_connection_id VARCHAR NOT NULL,
    provider_name VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    scheme VARCHAR,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    source_status VARCHAR,
    customer_id VARCHAR,
    source_created_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS payment_methods_by_connection
    ON commerce.payment_methods (data_connection_id, source_id);
