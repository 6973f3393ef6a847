"""Pages and money as the API shows them. Pure, so tested without Airflow or a warehouse.

Money is ``{"value": "12.34", "currency": "EUR"}``: the exact decimal as text, never a float
(a JSON number would be read back as binary floating point). Two decimals at least, more only
when the amount has them (fees keep their sub-cent precision: ``"0.1250"`` → ``"0.125"``).
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

#: The largest page a client may ask for.
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 100


def decimal_text(value: Decimal | int | str) -> str:
    """``Decimal('12.3400')`` → ``'12.34'``; ``10`` → ``'10.00'``; ``'0.1250'`` → ``'0.125'``."""
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    normal = amount.normalize()
    exponent = normal.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:.{places}f}"


def money(value: Decimal | int | str | None, currency: str) -> dict[str, str] | None:
    if value is None:
        return None
    return {"value": decimal_text(value), "currency": currency}


def page_window(page: int, per_page: int) -> tuple[int, int]:
    """(limit, offset) of a 1-based page; bounds are the request model's job, checked again here."""
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page must be ≥ 1 and per_page within 1..{MAX_PER_PAGE}")
    return per_page, (page - 1) * per_page


def page_body(items: list, *, page: int, per_page: int, total: int) -> dict:
    """The envelope of every list: the items and where they sit in the whole."""
    return {"result": items, "page": page, "per_page": per_page, "total": total,
            "last_page": max(1, math.ceil(total / per_page))}


def is_partial_month(month: date, today: date) -> bool:
    """The month (its first day) is not over on ``today``: its figures are month to date. The
    rule of ``sql/views/latest_month_per_merchant.sql``'s ``is_partial_month``."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following > today
