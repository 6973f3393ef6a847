-- What the Commerce REST API (gocardless_commerce.api) needs from the warehouse:
-- * indexes that serve its reads of one merchant, newest first, filtered by a date range, so a
--   page is a walk along an index (user, date, id) rather than a scan of the merchant's rows;
-- * the nonce of the OAuth state a data connection is waiting for: the callback consumes it
--   (compare-and-clear in one UPDATE), so a state works once, and asking again replaces it.

CREATE INDEX IF NOT EXISTS transactions_by_user_value_date
    ON commerce.transactions (user_id, value_date, id);

CREATE INDEX IF NOT EXISTS subscriptions_by_user_start_date
    ON commerce.subscriptions (user_id, start_date, id);

CREATE INDEX IF NOT EXISTS transactions_insight_by_user_month
    ON commerce.transactions_insight (user_id, month);

CREATE INDEX IF NOT EXISTS subscriptions_insight_by_user_month
    ON commerce.subscriptions_insight (user_id, month);

ALTER TABLE meta.data_connections ADD COLUMN IF NOT EXISTS oauth_nonce VARCHAR;
