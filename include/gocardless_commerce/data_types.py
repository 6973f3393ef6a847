"""Qard's commerce data types: what a data connection asks for and a sync run produces.

A module of its own so the DAG factory can import it at parse time without pulling in
SQLAlchemy or pandas.
"""

DATA_TYPES = (
    "COMMERCE_TRANSACTION",
    "COMMERCE_SUBSCRIPTION",
    "COMMERCE_TRANSACTION_INSIGHT",
    "COMMERCE_SUBSCRIPTION_INSIGHT",
)
