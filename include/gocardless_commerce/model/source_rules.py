"""Quarantine rules the transforms judge on the GoCardless record itself.

Some faults are invisible once a record is a commerce row: ``"1250"`` and ``1250`` both read as
12.50, a refund without its payment just has no scheme to check. The transforms read such values
strictly and list the rules a record broke in the row's ``schema.ISSUES`` column; validation
turns each name into a row-level expectation (``model/validation.py``), so these rows are
quarantined with the same machinery and reasons as every other rule. Nothing is coerced.
"""

from __future__ import annotations

#: amount fields (``amount``; payments' ``amount_refunded``; payouts' ``deducted_fees``) that are
#: present but not an integer of minor units
AMOUNT_INTEGER = "amount_integer_minor_units"
#: a payment's ``charge_date`` missing or not ``YYYY-MM-DD``
CHARGE_DATE_IS_DATE = "charge_date_is_date"
#: an optional date (payout ``arrival_date``, subscription ``start_date``/``end_date``) present
#: but not ``YYYY-MM-DD``
DATES_ARE_DATES = "dates_are_dates"
#: a fee payout item whose amount cannot be read (on its payment's row, or its own ``FEE`` row)
FEE_ITEM_AMOUNT_READABLE = "fee_item_amount_readable"
#: a refund whose payment is not in ``raw.gocardless_payments``
REFUND_PAYMENT_IN_RAW = "refund_payment_in_raw"
#: a subscription whose currency is not its mandate's scheme currency (EUR on a bacs mandate)
CURRENCY_MATCHES_MANDATE_SCHEME = "currency_matches_mandate_scheme"
#: an ``active`` subscription whose ``end_date`` or last charge (``count``) is before the run
ACTIVE_SUBSCRIPTION_NOT_ENDED = "active_subscription_not_ended"

TRANSACTION_RULES = (
    AMOUNT_INTEGER, CHARGE_DATE_IS_DATE, DATES_ARE_DATES, FEE_ITEM_AMOUNT_READABLE, REFUND_PAYMENT_IN_RAW,
)
SUBSCRIPTION_RULES = (AMOUNT_INTEGER, DATES_ARE_DATES, CURRENCY_MATCHES_MANDATE_SCHEME, ACTIVE_SUBSCRIPTION_NOT_ENDED)
ALL = frozenset((*TRANSACTION_RULES, *SUBSCRIPTION_RULES))
