"""The commerce model of issue 4: GoCardless raw records → Qard-style transactions,
subscriptions and monthly insights, validated (GX) with row-level quarantine.

Pure pandas in, pandas out; the DAG reads the raw frames and loads the results.
"""

from gocardless_commerce.commerce.frames import RawFrames
from gocardless_commerce.commerce.insights import subscriptions_insight, transactions_insight
from gocardless_commerce.commerce.subscriptions import build_subscriptions
from gocardless_commerce.commerce.transactions import build_transactions
from gocardless_commerce.commerce.validation import (
    BatchValidationError,
    ValidationOutcome,
    raise_for_batch_failures,
    validate_subscriptions,
    validate_subscriptions_insight,
    validate_transactions,
    validate_transactions_insight,
)

__all__ = [
    "BatchValidationError",
    "RawFrames",
    "ValidationOutcome",
    "build_subscriptions",
    "build_transactions",
    "subscriptions_insight",
    "raise_for_batch_failures",
    "transactions_insight",
    "validate_subscriptions",
    "validate_subscriptions_insight",
    "validate_transactions",
    "validate_transactions_insight",
]
