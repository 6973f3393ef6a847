"""The raw-payload readers in ``model/frames.py``: odd values read as ``None``, never raise."""

import pytest

from gocardless_commerce.model.frames import to_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("12", 12), (" 7 ", 7), ("-2", -2)],
)
def test_to_int_reads_integers_and_ascii_digit_strings(value, expected):
    assert to_int(value) == expected


@pytest.mark.parametrize("value", ["¹", "١٢", "1.5", "", "-", True, None, 2.0, "12a"])
def test_to_int_reads_anything_else_as_none(value):
    # "¹" and "١٢" are digits to str.isdigit but int() refuses the first: hypothesis found it.
    assert to_int(value) is None
