-- commerce.quarantine keeps one row per quarantined record (table, GoCardless id, copy number)
-- instead of one per run: a rerun of a sync no longer appends another copy of every row.
-- first_run_id / last_run_id say in which runs the record was first and last found bad;
-- failed_rules and payload are the last run's. Existing rows are folded into that shape:
-- first/last run = the smallest/largest run id that quarantined the record (run ids sort by
-- time for Airflow's scheduled__/manual__ ids), with the rules and payload of the last one.

CREATE TABLE commerce.quarantine_before_006 AS
SELECT q.data_connection_id, q.source_table, q.source_id, q.occurrence, q.user_id, q.row_id,
       q.failed_rules, q.payload, runs.first_run_id, runs.last_run_id
FROM commerce.quarantine q
JOIN (
    SELECT data_connection_id, source_table, source_id, occurrence,
           min(run_id) AS first_run_id, max(run_id) AS last_run_id
    FROM commerce.quarantine
    GROUP BY data_connection_id, source_table, source_id, occurrence
) runs
  ON runs.data_connection_id = q.data_connection_id AND runs.source_table = q.source_table
 AND runs.source_id = q.source_id AND runs.occurrence = q.occurrence AND runs.last_run_id = q.run_id;

DROP TABLE commerce.quarantine;

CREATE TABLE commerce.quarantine (
    data_connection_id VARCHAR NOT NULL,
    source_table VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    occurrence INTEGER NOT NULL,
    user_id VARCHAR,
    row_id VARCHAR,
    failed_rules JSON NOT NULL,
    payload JSON NOT NULL,
    first_run_id VARCHAR NOT NULL,
    last_run_id VARCHAR NOT NULL,
    PRIMARY KEY (data_connection_id, source_table, source_id, occurrence)
);

INSERT INTO commerce.quarantine
SELECT data_connection_id, source_table, source_id, occurrence, user_id, row_id, failed_rules, payload,
       first_run_id, last_run_id
FROM commerce.quarantine_before_006;

DROP TABLE commerce.quarantine_before_006;
