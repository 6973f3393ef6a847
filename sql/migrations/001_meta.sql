-- Pipeline bookkeeping: the merchant registry and per-data-connection sync state.
-- All timestamps in this warehouse are UTC, stored as TIMESTAMP without time zone.

CREATE SCHEMA IF NOT EXISTS meta;

-- Merchants ("users" in Qard's vocabulary).
CREATE TABLE IF NOT EXISTS meta.users (
    id VARCHAR NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    legal_identifiers JSON,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A user's GoCardless data connection. Its access token is NOT here: it is the Airflow
-- connection named by airflow_conn_id (encrypted, secrets-backend compatible).
CREATE TABLE IF NOT EXISTS meta.data_connections (
    id VARCHAR NOT NULL PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    provider_name VARCHAR NOT NULL,
    requested_data_types JSON NOT NULL,
    status VARCHAR NOT NULL,
    status_reason VARCHAR,
    organisation_id VARCHAR,
    airflow_conn_id VARCHAR NOT NULL,
    schedule VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Extraction cursors, one row per data connection and stream (a resource or 'events').
-- Written only after the loads they describe have committed.
CREATE TABLE IF NOT EXISTS meta.sync_state (
    data_connection_id VARCHAR NOT NULL,
    stream VARCHAR NOT NULL,
    cursor_created_at TIMESTAMP,
    last_run_id VARCHAR,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (data_connection_id, stream)
);

-- One row per sync run of a data connection: what it did and what it cost.
CREATE TABLE IF NOT EXISTS meta.sync_runs (
    data_connection_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    api_requests INTEGER NOT NULL,
    records_landed INTEGER NOT NULL,
    records_changed INTEGER NOT NULL,
    summary JSON NOT NULL,
    PRIMARY KEY (data_connection_id, run_id)
);
