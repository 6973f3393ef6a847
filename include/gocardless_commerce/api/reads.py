"""``…/users/{user_id}/commerce-*``: the commerce model of one merchant, a page at a time.

Each list is one merchant's rows, newest first, optionally within a date range and filtered by
currency (and type/status where the table has them): the filters and the order follow the
indexes of ``sql/migrations/008_api_indexes.sql`` (user, date, id) on PostgreSQL, so a page is
read along an index and the total is counted on it (DuckDB reads a date range through its row
groups' zone maps; see docs/architecture.md). Money is a decimal string with its currency
(:func:`paging.money`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Callable

import sqlalchemy as sa
from fastapi import APIRouter, Query

from gocardless_commerce.api import models
from gocardless_commerce.api.access import READ
from gocardless_commerce.api.deps import warehouse
from gocardless_commerce.api.errors import ApiError
from gocardless_commerce.api.paging import decimal_text, is_partial_month, money, page_body, page_window
from gocardless_commerce.warehouse.engine import transaction

router = APIRouter(tags=["commerce data"])


@dataclass(frozen=True)
class Listing:
    """One table as a paged list: its columns, the date its range filter applies to, the
    equality filters the query may carry, and the order (newest first, then a unique tie-break)."""

    table: str
    columns: tuple[str, ...]
    date_column: str
    equality_filters: tuple[str, ...]
    order: str
    monthly: bool = False  # the date column holds first days of months

    def page(self, user_id: str, query: models.PageQuery) -> tuple[list[dict[str, Any]], int]:
        where, params = ["user_id = :user_id"], {"user_id": user_id}
        start = query.start_date.replace(day=1) if self.monthly and query.start_date else query.start_date
        for bound, value, operator in (("start_date", start, ">="), ("end_date", query.end_date, "<=")):
            if value is not None:
                where.append(f"{self.date_column} {operator} :{bound}")
                params[bound] = value
        for name in self.equality_filters:
            value = getattr(query, name)
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value
        limit, offset = page_window(query.page, query.per_page)
        condition = " AND ".join(where)
        with transaction(warehouse()) as conn:  # one connection a request: opening DuckDB's file costs ~20 ms
            if conn.execute(sa.text("SELECT 1 FROM meta.users WHERE id = :user_id"), params).first() is None:
                raise ApiError(404, f"No user {user_id!r}")
            total = conn.execute(sa.text(f"SELECT count(*) FROM {self.table} WHERE {condition}"), params).scalar_one()
            rows = conn.execute(
                sa.text(f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {condition} "
                        f"ORDER BY {self.order} LIMIT :limit OFFSET :offset"),
                {**params, "limit": limit, "offset": offset},
            ).mappings().all()
        return [dict(row) for row in rows], total


def _rate(value) -> str | None:
    return None if value is None else decimal_text(value)


TRANSACTIONS = Listing(
    "commerce.transactions",
    ("id", "type", "status", "description", "amount", "currency", "fee_amount", "source_id", "source_type",
     "source_created_at", "value_date", "initial_transaction_id", "scheme", "subscription_id", "customer_id",
     "payout_id", "gateway_state", "settled_on"),
    "value_date", ("currency", "type", "status"), "value_date DESC NULLS LAST, id DESC",
)
SUBSCRIPTIONS = Listing(
    "commerce.subscriptions",
    ("id", "status", "source_status", "plan_name", "amount", "mrr", "currency", "frequency_unit",
     "frequency_interval", "start_date", "ended_at", "source_created_at", "customer_id"),
    "start_date", ("currency", "status"), "start_date DESC NULLS LAST, id DESC",
)
TRANSACTIONS_INSIGHTS = Listing(
    "commerce.transactions_insight",
    ("month", "currency", "payments_amount", "payments_nb", "shopping_cart_average", "payouts_amount", "payouts_nb",
     "refunds_amount", "refunds_nb", "failed_nb", "failure_rate", "chargebacks_nb", "chargeback_rate", "fees_amount",
     "net_amount", "payments_amount_mom_growth"),
    "month", ("currency",), "month DESC, currency", monthly=True,
)
SUBSCRIPTIONS_INSIGHTS = Listing(
    "commerce.subscriptions_insight",
    ("month", "currency", "mrr", "subscription_nb", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr",
     "reactivation_mrr", "customers_nb", "arpa", "customer_churn_rate", "net_mrr_churn_rate"),
    "month", ("currency",), "month DESC, currency", monthly=True,
)


def _transaction(row: dict) -> dict:
    currency = row.pop("currency")
    return {**row, "amount": money(row.pop("amount"), currency), "fee": money(row.pop("fee_amount"), currency),
            "created_at": row.pop("source_created_at")}


def _subscription(row: dict) -> dict:
    currency = row.pop("currency")
    return {**row, "amount": money(row.pop("amount"), currency), "mrr": money(row.pop("mrr"), currency),
            "created_at": row.pop("source_created_at")}


def _monetised(row: dict, amounts: dict[str, str], rates: tuple[str, ...]) -> dict:
    """Amount columns as Money (renamed per ``amounts``), rates as decimal strings, and whether
    the month is the current, partial one."""
    currency = row["currency"]
    out = {key: value for key, value in row.items() if key not in amounts and key not in rates}
    out.update({name: money(row[column], currency) for column, name in amounts.items()})
    out.update({name: _rate(row[name]) for name in rates})
    out["is_partial_month"] = is_partial_month(row["month"], datetime.now(UTC).date())
    return out


def _transactions_insight(row: dict) -> dict:
    body = _monetised(row, {"payments_amount": "payments", "shopping_cart_average": "shopping_cart_average",
                            "payouts_amount": "payouts", "refunds_amount": "refunds", "fees_amount": "fees",
                            "net_amount": "net"}, ("failure_rate", "chargeback_rate"))
    body["payments_mom_growth"] = _rate(body.pop("payments_amount_mom_growth"))
    return body


def _subscriptions_insight(row: dict) -> dict:
    movements = ("mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "arpa")
    return _monetised(row, {name: name for name in movements}, ("customer_churn_rate", "net_mrr_churn_rate"))


def _listed(listing: Listing, shape: Callable[[dict], dict], user_id: str, query: models.PageQuery) -> dict:
    rows, total = listing.page(user_id, query)
    return page_body([shape(row) for row in rows], page=query.page, per_page=query.per_page, total=total)


@router.get("/users/{user_id}/commerce-transactions", dependencies=[READ])
def commerce_transactions(user_id: models.UserIdPath, query: Annotated[models.TransactionQuery, Query()]) -> models.TransactionPage:
    return models.TransactionPage(**_listed(TRANSACTIONS, _transaction, user_id, query))


@router.get("/users/{user_id}/commerce-subscriptions", dependencies=[READ])
def commerce_subscriptions(user_id: models.UserIdPath, query: Annotated[models.SubscriptionQuery, Query()]) -> models.SubscriptionPage:
    return models.SubscriptionPage(**_listed(SUBSCRIPTIONS, _subscription, user_id, query))


@router.get("/users/{user_id}/commerce-transactions-insights", dependencies=[READ])
def commerce_transactions_insights(user_id: models.UserIdPath, query: Annotated[models.PageQuery, Query()]) -> models.TransactionsInsightPage:
    return models.TransactionsInsightPage(**_listed(TRANSACTIONS_INSIGHTS, _transactions_insight, user_id, query))


@router.get("/users/{user_id}/commerce-subscriptions-insights", dependencies=[READ])
def commerce_subscriptions_insights(user_id: models.UserIdPath, query: Annotated[models.PageQuery, Query()]) -> models.SubscriptionsInsightPage:
    return models.SubscriptionsInsightPage(**_listed(SUBSCRIPTIONS_INSIGHTS, _subscriptions_insight, user_id, query))

