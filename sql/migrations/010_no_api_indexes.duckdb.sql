-- DuckDB only (the ".duckdb" before ".sql"; PostgreSQL keeps the indexes of 008).
-- DuckDB holds every ART index in memory and reads a page of one merchant's month through the
-- zone maps of its row groups, not through these indexes: on the 1M-payment merchant the load's
-- commit ran out of the model's memory limit maintaining them (failed to pin block, 259 MiB).
DROP INDEX IF EXISTS commerce.transactions_by_user_value_date;
DROP INDEX IF EXISTS commerce.subscriptions_by_user_start_date;
DROP INDEX IF EXISTS commerce.transactions_insight_by_user_month;
DROP INDEX IF EXISTS commerce.subscriptions_insight_by_user_month;
