"""The vocabulary of the commerce model: how GoCardless statuses, units and schemes map to it.

Kept as plain data so that the transforms, the validation suites and ``docs/metrics.md`` all
read the same table; a status GoCardless adds later maps to ``None`` (and is quarantined by
validation) instead of being guessed.
"""

from __future__ import annotations

#: ``provider_name`` of every data connection, commerce row and reconciliation row.
PROVIDER_NAME = "gocardless"

#: ``source_type`` prefix of a commerce row → the raw table (``raw.gocardless_<name>``) and raw
#: frame holding the GoCardless record it came from (quarantine payloads point back to it).
SOURCE_TABLE_OF = {
    "payment": "payments",
    "refund": "refunds",
    "payout": "payouts",
    "payout_item": "payout_items",
    "subscription": "subscriptions",
}

#: The eight currencies GoCardless collects in; all have two minor digits (ISO 4217).
CURRENCIES = ("AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD")

PAYMENT, PAYMENT_REFUND, PAYOUT, FEE = "PAYMENT", "PAYMENT_REFUND", "PAYOUT", "FEE"
TRANSACTION_TYPES = (PAYMENT, PAYMENT_REFUND, PAYOUT, FEE)

PENDING, SUCCESS, SUCCESS_REFUND, DENIED = "PENDING", "SUCCESS", "SUCCESS_REFUND", "DENIED"
TRANSACTION_STATUSES = (PENDING, SUCCESS, SUCCESS_REFUND, DENIED)

PAYMENT_STATUS = {
    "pending_customer_approval": PENDING,
    "pending_submission": PENDING,
    "submitted": PENDING,
    "confirmed": SUCCESS,
    "paid_out": SUCCESS,
    "failed": DENIED,
    "cancelled": DENIED,
    "customer_approval_denied": DENIED,
    "charged_back": DENIED,
}
#: Payment statuses that become ``SUCCESS_REFUND`` when the whole amount was refunded.
COLLECTED_PAYMENT_STATUSES = frozenset({"confirmed", "paid_out"})

REFUND_STATUS = {
    "created": PENDING,
    "pending_submission": PENDING,
    "submitted": PENDING,
    "paid": SUCCESS,
    "cancelled": DENIED,
    "bounced": DENIED,
    "funds_returned": DENIED,
}

PAYOUT_STATUS = {"pending": PENDING, "paid": SUCCESS, "bounced": DENIED}

#: Payout item types that are fees (``fee_amount`` of a payment, or a ``FEE`` transaction).
FEE_ITEM_TYPES = frozenset({"gocardless_fee", "app_fee", "surcharge_fee"})

SUBSCRIPTION_STATUS = {
    "pending_customer_approval": "CREATED",
    "active": "ACTIVE",
    "paused": "PAUSED",
    "cancelled": "CANCELLED",
    "finished": "FINISHED",
    "customer_approval_denied": "DENIED",
}
SUBSCRIPTION_STATUSES = tuple(SUBSCRIPTION_STATUS.values())

FREQUENCY_UNIT = {"weekly": "week", "monthly": "month", "yearly": "year"}
FREQUENCY_UNITS = tuple(FREQUENCY_UNIT.values())

#: Subscription event actions that change whether it counts as active, and the state they
#: lead to. ``created`` is handled separately (its state depends on what follows it).
SUBSCRIPTION_EVENT_STATE = {
    "customer_approval_granted": "active",
    "customer_approval_denied": "customer_approval_denied",
    "paused": "paused",
    "resumed": "active",
    "cancelled": "cancelled",
    "finished": "finished",
}
#: Actions that end a subscription for good (``ended_at``).
SUBSCRIPTION_END_ACTIONS = frozenset({"cancelled", "finished"})
#: The subscription action that changes its amount in place (the event carries no amount).
SUBSCRIPTION_AMENDED = "amended"

#: The currency each scheme collects in: the nine of docs/metrics.md, plus the other SEPA variants and
#: PayTo, which GoCardless also reports as payment schemes.
SCHEME_CURRENCY = {
    "bacs": "GBP",
    "faster_payments": "GBP",
    "sepa_core": "EUR",
    "sepa_cor1": "EUR",
    "sepa_credit_transfer": "EUR",
    "sepa_instant_credit_transfer": "EUR",
    "autogiro": "SEK",
    "betalingsservice": "DKK",
    "becs": "AUD",
    "pay_to": "AUD",
    "becs_nz": "NZD",
    "pad": "CAD",
    "ach": "USD",
}

#: Event ``resource_type`` → the key of the resource in the event's ``links``.
EVENT_LINK_KEY = {
    "payments": "payment",
    "refunds": "refund",
    "payouts": "payout",
    "subscriptions": "subscription",
    "mandates": "mandate",
}
