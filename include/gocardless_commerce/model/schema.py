"""Column lists and pandas dtypes of the commerce tables (the public contract of the commerce model).

One place for the column order that the transforms produce, the validation suites check
(``ExpectTableColumnsToMatchSet``) and ``sql/migrations/003_commerce.sql`` declares.

Dtype kinds: ``str`` (object: ``str`` or ``None``), ``decimal`` (object: ``Decimal`` or
``None``), ``date`` (object: ``datetime.date`` or ``None``), ``timestamp`` (``datetime64[us]``,
naive UTC, NaT for missing), ``int`` (nullable ``Int64``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

TRANSACTIONS = {
    "id": "str",
    "user_id": "str",
    "data_connection_id": "str",
    "provider_name": "str",
    "type": "str",
    "status": "str",
    "description": "str",
    "amount": "decimal",
    "currency": "str",
    "fee_amount": "decimal",
    "source_id": "str",
    "source_type": "str",
    "source_created_at": "timestamp",
    "value_date": "date",
    "initial_transaction_id": "str",
    "scheme": "str",
    "mandate_id": "str",
    "subscription_id": "str",
    "customer_id": "str",
    "payout_id": "str",
    "gateway_state": "str",
    "settled_on": "date",
    "updated_at": "timestamp",
}

SUBSCRIPTIONS = {
    "id": "str",
    "user_id": "str",
    "data_connection_id": "str",
    "provider_name": "str",
    "source_id": "str",
    "source_created_at": "timestamp",
    "amount": "decimal",
    "currency": "str",
    "status": "str",
    "plan_name": "str",
    "frequency_unit": "str",
    "frequency_interval": "int",
    "source_status": "str",
    "start_date": "date",
    "ended_at": "timestamp",
    "mandate_id": "str",
    "customer_id": "str",
    "mrr": "decimal",
    "updated_at": "timestamp",
}

_INSIGHT_KEY = {"user_id": "str", "data_connection_id": "str", "month": "date", "currency": "str"}

TRANSACTIONS_INSIGHT = {
    **_INSIGHT_KEY,
    "payments_amount": "decimal",
    "payments_nb": "int",
    "shopping_cart_average": "decimal",
    "payouts_amount": "decimal",
    "payouts_nb": "int",
    "refunds_amount": "decimal",
    "refunds_nb": "int",
    "failed_nb": "int",
    "failure_rate": "decimal",
    "chargebacks_nb": "int",
    "chargeback_rate": "decimal",
    "fees_amount": "decimal",
    "net_amount": "decimal",
    "payments_amount_mom_growth": "decimal",
}

SUBSCRIPTIONS_INSIGHT = {
    **_INSIGHT_KEY,
    "mrr": "decimal",
    "subscription_nb": "int",
    "new_mrr": "decimal",
    "expansion_mrr": "decimal",
    "contraction_mrr": "decimal",
    "churned_mrr": "decimal",
    "reactivation_mrr": "decimal",
    "customers_nb": "int",
    "arpa": "decimal",
    "customer_churn_rate": "decimal",
    "net_mrr_churn_rate": "decimal",
}

#: One row per quarantined record (key: data connection, table, source id, occurrence); a later
#: run that finds it bad again updates it and its ``last_run_id`` (006_quarantine_once.sql).
QUARANTINE = {
    "data_connection_id": "str",
    "source_table": "str",
    "source_id": "str",
    "occurrence": "int",
    "user_id": "str",
    "row_id": "str",
    "failed_rules": "object",  # list[str]
    "payload": "object",  # dict: {"row": the commerce row, "source": the raw GoCardless record}
    "first_run_id": "str",
    "last_run_id": "str",
}
QUARANTINE_KEY = ("data_connection_id", "source_table", "source_id", "occurrence")

#: A column the transforms add after the contract's: the ``source_rules`` each record broke (a
#: tuple of names, empty when none). Validation turns it into expectations and drops it; it is
#: never loaded.
ISSUES = "source_issues"

_DTYPES = {"str": object, "decimal": object, "date": object, "object": object, "int": "Int64"}


def frame(columns: Mapping[str, Sequence], schema: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame with exactly ``schema``'s columns, in order, with the documented dtypes.

    Columns absent from ``columns`` are all NULL (e.g. ``gateway_state``).
    """
    rows = max((len(v) for v in columns.values()), default=0)
    data = {}
    for name, kind in schema.items():
        values = list(columns[name]) if name in columns else [None] * rows
        if kind == "timestamp":
            data[name] = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[us]")
        else:
            data[name] = pd.Series(values, dtype=_DTYPES[kind])
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of unequal length: {lengths}")
    return pd.DataFrame(data)


def empty(schema: Mapping[str, str]) -> pd.DataFrame:
    return frame({}, schema)
