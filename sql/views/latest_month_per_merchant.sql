-- Latest month of the transaction and subscription insights per merchant and currency:
-- one row per user, data connection and currency, for the newest month the insights hold.
-- is_partial_month: the month is not over yet (today, UTC, is inside it), so its totals are
-- month-to-date and its growth against a whole previous month is not a trend.
CREATE OR REPLACE VIEW commerce.latest_month_per_merchant AS
SELECT
    t.user_id,
    t.data_connection_id,
    t.currency,
    t.month,
    t.payments_amount,
    t.payments_nb,
    t.shopping_cart_average,
    t.payouts_amount,
    t.refunds_amount,
    t.fees_amount,
    t.net_amount,
    t.failure_rate,
    t.chargeback_rate,
    t.payments_amount_mom_growth,
    s.mrr,
    s.subscription_nb,
    s.customers_nb,
    s.arpa,
    s.customer_churn_rate,
    s.net_mrr_churn_rate,
    CAST(t.month + INTERVAL '1 month' AS DATE) > CURRENT_DATE AS is_partial_month
FROM commerce.transactions_insight AS t
JOIN (
    SELECT data_connection_id, max(month) AS month
    FROM commerce.transactions_insight
    GROUP BY data_connection_id
) AS latest
    ON latest.data_connection_id = t.data_connection_id AND latest.month = t.month
LEFT JOIN commerce.subscriptions_insight AS s
    ON s.data_connection_id = t.data_connection_id AND s.month = t.month AND s.currency = t.currency
