"""Exact money: minor units to ``Decimal``, MRR normalisation as exact fractions, one rounding rule.

Floats never touch an amount. Sums are taken unrounded (``Decimal`` or ``Fraction``) and only
results are rounded, always half-up (``ROUND_HALF_UP``, as PostgreSQL's ``round(numeric)``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

CENTS = 2  # money results
RATE_PLACES = 4  # ratios (0.1234 = 12.34 %)
MRR_COLUMN_PLACES = 4  # commerce.subscriptions.mrr

#: Months per unit of ``frequency_unit``: a weekly plan bills 52 times in 12 months.
MONTHS_PER_UNIT = {"week": Fraction(12, 52), "month": Fraction(1), "year": Fraction(12)}


def to_decimal(value: Any) -> Decimal | None:
    """An exact ``Decimal`` from an int or a decimal string; ``None`` when unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def minor_to_major(value: Any) -> Decimal | None:
    """Minor units (1050, or ``"45.5"`` for payout items) → major units (10.50, 0.455), exactly.

    All eight GoCardless currencies have two minor digits, so this is a shift by two places.
    """
    number = to_decimal(value)
    return None if number is None else number.scaleb(-2)


def minor_units(value: Any) -> Decimal | None:
    """Strict reading of a GoCardless amount: an integer in minor units → major units.

    ``"1250"`` (text) or ``12.5`` (a fraction of a penny) are not amounts: they give ``None``
    and the record is quarantined (``amount_integer_minor_units``), never coerced.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return Decimal(value).scaleb(-2)


_ITEM_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def item_minor_units(value: Any) -> Decimal | None:
    """A payout item's amount (GoCardless sends a decimal string of minor units, ``"-45.5"``) →
    major units; ``None`` when it is anything else (``"n/a"``, null, ``true``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value).scaleb(-2)
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str) and _ITEM_AMOUNT.fullmatch(value.strip()):
        return Decimal(value.strip()).scaleb(-2)
    return None


def round_half_up(value: Decimal | Fraction, places: int) -> Decimal:
    """Round exactly to ``places`` decimals, halves away from zero (0.125 → 0.13, −0.125 → −0.13)."""
    exact = Fraction(value)
    return round_ratio_half_up(exact.numerator, exact.denominator, places)


def round_ratio_half_up(numerator: int, denominator: int, places: int) -> Decimal:
    """:func:`round_half_up` of ``numerator / denominator`` (``denominator`` > 0), in integers:
    a sum kept as a numerator over a common denominator is rounded without building a Fraction."""
    units = (2 * abs(numerator) * 10**places + denominator) // (2 * denominator)  # floor(|x| + 1/2)
    return Decimal(units if numerator >= 0 else -units).scaleb(-places)


def monthly_amount(amount: Any, frequency_unit: Any, frequency_interval: Any) -> Fraction | None:
    """Exact normalised monthly amount of one subscription, ``None`` when it is undefined.

    month: ``amount / interval``; year: ``amount / (12 × interval)``; week:
    ``amount × 52 / (12 × interval)``.
    """
    amount = to_decimal(amount)
    months = MONTHS_PER_UNIT.get(frequency_unit)
    if amount is None or months is None or frequency_interval is None:
        return None
    try:
        interval = int(frequency_interval)
    except (TypeError, ValueError):
        return None
    if interval < 1:
        return None
    return Fraction(amount) / (months * interval)
