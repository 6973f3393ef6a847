"""The commerce model: GoCardless raw records → Qard-style transactions, subscriptions and
monthly insights, validated (GX) with row-level quarantine, staged and loaded (``stages``).

Pure transforms (pandas in, pandas out) plus the chunked run over the warehouse. May import
``warehouse`` and ``settings``; never Airflow, the client or ``extract``.
"""

from gocardless_commerce.model.frames import RawFrames
from gocardless_commerce.model.insights import subscriptions_insight, transactions_insight
from gocardless_commerce.model.subscriptions import build_subscriptions
from gocardless_commerce.model.transactions import build_transactions
from gocardless_commerce.model.validation import (
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
