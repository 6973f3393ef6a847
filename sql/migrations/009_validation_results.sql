-- Data quality per run: what every Great Expectations rule evaluated and how often it failed,
-- summed over all the chunks a run validated (the Data Docs page of one chunk says little about
-- a merchant validated in many). Written by the model's load in the same transaction as the
-- commerce rows; a rerun of the same run replaces its rows. One row per run, table and rule.

CREATE TABLE IF NOT EXISTS meta.validation_results (
    data_connection_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    validated_at TIMESTAMP NOT NULL,
    source_table VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    column_name VARCHAR,
    level VARCHAR NOT NULL,
    evaluated BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    description VARCHAR NOT NULL,
    PRIMARY KEY (data_connection_id, run_id, source_table, rule)
);

CREATE INDEX IF NOT EXISTS validation_results_by_user_run
    ON meta.validation_results (user_id, validated_at, run_id);
