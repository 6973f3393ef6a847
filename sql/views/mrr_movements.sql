-- Monthly MRR bridge per merchant and currency: opening MRR, the ChartMogul movements and
-- closing MRR. opening_mrr + net_new_mrr = mrr on every row (the tested invariant).
CREATE OR REPLACE VIEW commerce.mrr_movements AS
SELECT
    user_id,
    data_connection_id,
    currency,
    month,
    mrr - (new_mrr + expansion_mrr + reactivation_mrr - contraction_mrr - churned_mrr) AS opening_mrr,
    new_mrr,
    expansion_mrr,
    reactivation_mrr,
    contraction_mrr,
    churned_mrr,
    new_mrr + expansion_mrr + reactivation_mrr - contraction_mrr - churned_mrr AS net_new_mrr,
    mrr
FROM commerce.subscriptions_insight
