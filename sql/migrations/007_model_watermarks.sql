-- The incremental commerce model: a landing sequence on every raw table and a watermark per
-- data connection of what the model has seen.
-- landed_seq is stamped by every raw upsert that inserts or changes a row (and by a full
-- refresh marking a row removed), one value per statement from meta.raw_landing_seq, so rows
-- landed after a model run have a larger landed_seq than any that run read. Rows landed
-- before this migration have NULL (older than every watermark).

CREATE SEQUENCE IF NOT EXISTS meta.raw_landing_seq START 1;

ALTER TABLE raw.gocardless_payments ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_subscriptions ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_mandates ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_refunds ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_payouts ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_payout_items ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_customers ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_customer_bank_accounts ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_creditors ADD COLUMN IF NOT EXISTS landed_seq BIGINT;
ALTER TABLE raw.gocardless_events ADD COLUMN IF NOT EXISTS landed_seq BIGINT;

-- One row per data connection the commerce model has loaded: the raw rows it has seen
-- (landed_seq up to this value) and what its rows depend on besides raw data. Written in the
-- load's transaction. A run whose model version, commerce migration, data types or insight
-- window differs from this row's, whose now is earlier, or of a data connection without a row
-- rebuilds in full.
CREATE TABLE IF NOT EXISTS meta.model_watermarks (
    data_connection_id VARCHAR NOT NULL PRIMARY KEY,
    landed_seq BIGINT NOT NULL,
    model_version VARCHAR NOT NULL,
    commerce_migration VARCHAR NOT NULL,
    data_types JSON NOT NULL,
    insight_window VARCHAR NOT NULL,
    model_now TIMESTAMP NOT NULL,
    mode VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
