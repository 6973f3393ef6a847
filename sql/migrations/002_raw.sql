-- Raw landing: every GoCardless record as the API returned it, one table per resource.
-- Upserted on (data_connection_id, id): reruns never duplicate. payload is the full JSON record.
-- removed_at is set when a full refresh no longer sees a record (GoCardless hard-deletes
-- removed customers); it is cleared if the record comes back.

CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.gocardless_payments (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_subscriptions (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_mandates (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_refunds (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_payouts (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

-- Payout items have no id of their own: id = payout id + type + linked object + occurrence.
CREATE TABLE IF NOT EXISTS raw.gocardless_payout_items (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payout_id VARCHAR NOT NULL,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_customers (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_customer_bank_accounts (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

CREATE TABLE IF NOT EXISTS raw.gocardless_creditors (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);

-- Events are append-only by id.
CREATE TABLE IF NOT EXISTS raw.gocardless_events (
    data_connection_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    created_at TIMESTAMP,
    resource_type VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    payload JSON NOT NULL,
    extracted_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (data_connection_id, id)
);
