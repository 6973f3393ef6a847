"""``make bench`` scenario ``api-reads``: how fast the REST API reads one merchant's data.

A warehouse (DuckDB, then PostgreSQL) holds ``--reads-transactions`` synthetic commerce
transactions of one merchant (1,000,000 by default, over 18 months, as the model's 1M-payment
merchant) beside another merchant's tenth as many, and 18 months × 2 currencies of insights.
Each read is the endpoint's body without HTTP and auth (the user lookup, the count, the page's
query, the Money shaping), timed warm, best of 5:

* one page of 1,000 transactions filtered by a month (goal ≤ 300 ms);
* the insights of the merchant, both tables (goal ≤ 100 ms);
* the first and the 100th page of 1,000 unfiltered transactions (an ``OFFSET`` read).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from gocardless_commerce.devtools.bench_cluster import postgres_databases
from gocardless_commerce.devtools.bench_scale import print_figures

USER, OTHER = "bench_reads", "bench_reads_other"
MONTHS = 18
FIRST_MONTH = date(2025, 6, 1)
#: The month a filtered read asks for (in the middle of the history).
READ_MONTH = (date(2026, 3, 1), date(2026, 3, 31))

#: The first of the (i // 2)-th month from FIRST_MONTH, in SQL both warehouses read alike.
_MONTH = "CAST(date_trunc('month', CAST(:first AS DATE) + CAST(31 * FLOOR(i / 2) AS INTEGER)) AS DATE)"
_ROWS = {
    # one transaction per i, in date order over the 18 months (as a model load writes a history),
    # with an amount, a currency, a type and a status
    "transactions": """
        INSERT INTO commerce.transactions (id, user_id, data_connection_id, provider_name, type, status, amount, currency,
            fee_amount, source_id, source_type, source_created_at, value_date, updated_at)
        SELECT CAST(:user AS VARCHAR) || '-t' || CAST(i AS VARCHAR), CAST(:user AS VARCHAR), CAST(:user AS VARCHAR) || '-dc', 'gocardless',
               CASE WHEN i % 20 = 0 THEN 'PAYMENT_REFUND' WHEN i % 25 = 0 THEN 'PAYOUT' ELSE 'PAYMENT' END,
               CASE WHEN i % 17 = 0 THEN 'DENIED' ELSE 'SUCCESS' END,
               CAST((CAST(i AS BIGINT) * 7919) % 50000 AS NUMERIC) / 100 + 1, CASE WHEN i % 3 = 0 THEN 'EUR' ELSE 'GBP' END,
               CAST(20 AS NUMERIC) / 100, 'PM' || CAST(i AS VARCHAR), 'payment:paid_out',
               CAST(:first AS DATE) + CAST(FLOOR(i * 540.0 / :count) AS INTEGER), CAST(:first AS DATE) + CAST(FLOOR(i * 540.0 / :count) AS INTEGER), CURRENT_TIMESTAMP
        FROM {series}""",
    "transactions_insight": """
        INSERT INTO commerce.transactions_insight (user_id, data_connection_id, month, currency,
            payments_amount, payments_nb, payouts_amount, payouts_nb, refunds_amount, refunds_nb, failed_nb,
            chargebacks_nb, fees_amount, net_amount)
        SELECT CAST(:user AS VARCHAR), CAST(:user AS VARCHAR) || '-dc', {month},
               CASE WHEN i % 2 = 0 THEN 'GBP' ELSE 'EUR' END, 1000, 10, 900, 3, 10, 1, 1, 0, 2, 888
        FROM {series}""",
    "subscriptions_insight": """
        INSERT INTO commerce.subscriptions_insight (user_id, data_connection_id, month, currency,
            mrr, subscription_nb, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr, customers_nb)
        SELECT CAST(:user AS VARCHAR), CAST(:user AS VARCHAR) || '-dc', {month},
               CASE WHEN i % 2 = 0 THEN 'GBP' ELSE 'EUR' END, 500, 40, 20, 5, 3, 10, 1, 35
        FROM {series}""",
}


def _series(engine: sa.Engine, count: int) -> str:
    if engine.dialect.name == "duckdb":
        return f"range({count}) AS r(i)"
    return f"generate_series(0, {count - 1}) AS r(i)"


def fill_warehouse(engine: sa.Engine, transactions: int) -> None:
    """The two merchants' users, their synthetic transactions and insights."""
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import transaction

    registry = Registry(engine, snapshot_path=Path(os.devnull))
    for user_id, count in ((USER, transactions), (OTHER, max(1, transactions // 10))):
        registry.create_user(user_id, user_id.replace("_", " ").title())
        with transaction(engine) as conn:
            params = {"user": user_id, "first": FIRST_MONTH, "count": count}
            conn.execute(sa.text(_ROWS["transactions"].format(series=_series(engine, count))), params)
            for table in ("transactions_insight", "subscriptions_insight"):
                conn.execute(sa.text(_ROWS[table].format(series=_series(engine, MONTHS * 2), month=_MONTH)), params)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))


def best_ms(read, repeat: int = 5) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def time_reads() -> dict[str, float]:
    """The reads of the module docstring against ``WAREHOUSE_URL``; milliseconds each."""
    from gocardless_commerce.api import models, reads

    month = models.TransactionQuery(start_date=READ_MONTH[0], end_date=READ_MONTH[1], per_page=1000)
    page = reads._listed(reads.TRANSACTIONS, reads._transaction, USER, month)
    assert len(page["result"]) == 1000 and page["total"] > 1000, (len(page["result"]), page["total"])
    insights = models.PageQuery(per_page=100)

    def both_insights():
        reads._listed(reads.TRANSACTIONS_INSIGHTS, reads._transactions_insight, USER, insights)
        reads._listed(reads.SUBSCRIPTIONS_INSIGHTS, reads._subscriptions_insight, USER, insights)

    return {
        "month": best_ms(lambda: reads._listed(reads.TRANSACTIONS, reads._transaction, USER, month)),
        "insights": best_ms(both_insights),
        "first page": best_ms(lambda: reads._listed(reads.TRANSACTIONS, reads._transaction, USER,
                                                    models.TransactionQuery(per_page=1000))),
        "page 100": best_ms(lambda: reads._listed(reads.TRANSACTIONS, reads._transaction, USER,
                                                  models.TransactionQuery(page=100, per_page=1000))),
    }


def bench_api_reads(transactions: int, workdir: Path, postgres_url: str) -> None:
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    database = f"gc_bench_reads_{uuid.uuid4().hex[:8]}"
    postgres_databases(postgres_url, [database], create=True)
    urls = {
        "DuckDB": f"duckdb:///{workdir / 'reads.duckdb'}",
        "PostgreSQL": sa.make_url(postgres_url).set(database=database).render_as_string(hide_password=False),
    }
    previous = os.environ.get("WAREHOUSE_URL")
    try:
        for backend, url in urls.items():
            engine = get_engine(url)
            apply_migrations(engine)
            started = time.perf_counter()
            fill_warehouse(engine, transactions)
            filled = time.perf_counter() - started
            os.environ["WAREHOUSE_URL"] = url
            figures = time_reads()
            print_figures(f"API reads, {backend}: one merchant with {transactions:,} transactions (warm, best of 5)", [
                ("warehouse filled in s", f"{filled:.0f}", ""),
                ("1,000 transactions of one month ms", f"{figures['month']:.0f}", "goal ≤ 300 ms"),
                ("insights (both tables) ms", f"{figures['insights']:.0f}", "goal ≤ 100 ms"),
                ("first page of 1,000, unfiltered ms", f"{figures['first page']:.0f}", ""),
                ("page 100 of 1,000, unfiltered (OFFSET) ms", f"{figures['page 100']:.0f}", ""),
            ])
            engine.dispose()
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = previous
        from gocardless_commerce.warehouse.engine import _engine_for

        _engine_for.cache_clear()
        postgres_databases(postgres_url, [database], create=False)
