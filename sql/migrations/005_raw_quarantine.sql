-- Raw quarantine: records the sync could not read or trust, kept exactly as the API sent them.
-- A record lands here instead of raw.gocardless_<resource> when a field the sync reads breaks
-- its declared type (id, created_at, amounts, event resource_type/action, payout item
-- type/amount), and every copy of a record id that came back twice in one sync with different
-- content lands here too (reason conflicting_copy), for inspection. One row per record and
-- reason: record_key is the SHA-256 of the payload as sent, so a rerun finds the same row and
-- only moves last_seen_run_id. Reasons are listed in docs/metrics.md.

CREATE TABLE IF NOT EXISTS raw.gocardless_quarantine (
    data_connection_id VARCHAR NOT NULL,
    resource VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    record_id VARCHAR,
    user_id VARCHAR NOT NULL,
    payload JSON NOT NULL,
    detail VARCHAR NOT NULL,
    first_seen_run_id VARCHAR NOT NULL,
    last_seen_run_id VARCHAR NOT NULL,
    PRIMARY KEY (data_connection_id, resource, record_key, reason)
);

-- What each sync quarantined (by reason: in summary.quarantined).
ALTER TABLE meta.sync_runs ADD COLUMN records_quarantined INTEGER DEFAULT 0;

-- Payout items are keyed by what they are, not by their position in a listing:
-- payout + type + linked object + amount (a page served twice no longer lands twice).
-- Copies that only differed by their occurrence number collapse into one.
DELETE FROM raw.gocardless_payout_items
WHERE (data_connection_id, id) IN (
    SELECT data_connection_id, id FROM (
        SELECT data_connection_id, id, row_number() OVER (
            PARTITION BY data_connection_id, payout_id, payload->>'type',
                COALESCE(NULLIF(payload->'links'->>'payment', ''), NULLIF(payload->'links'->>'refund', ''),
                         NULLIF(payload->'links'->>'mandate', ''), '-'),
                payload->>'amount'
            ORDER BY id
        ) AS copy_number
        FROM raw.gocardless_payout_items
    ) numbered
    WHERE copy_number > 1
);

UPDATE raw.gocardless_payout_items
SET id = payout_id || ':' || COALESCE(payload->>'type', '') || ':'
    || COALESCE(NULLIF(payload->'links'->>'payment', ''), NULLIF(payload->'links'->>'refund', ''),
                NULLIF(payload->'links'->>'mandate', ''), '-')
    || ':' || COALESCE(payload->>'amount', '');
