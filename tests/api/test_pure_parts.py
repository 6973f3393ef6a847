"""The API's pure parts, without Airflow or a warehouse: the OAuth state, money, pages and the
sync status of a DAG run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gocardless_commerce.api.oauth_state import InvalidStateError, new_nonce, sign_state, verify_state
from gocardless_commerce.api.paging import MAX_PER_PAGE, decimal_text, is_partial_month, money, page_body, page_window

SECRET = b"k" * 32


def test_a_signed_state_comes_back_with_its_connection_and_nonce():
    nonce = new_nonce()
    state = verify_state(SECRET, sign_state(SECRET, "dc-1", nonce, now=1000), now=1500)
    assert (state.data_connection_id, state.nonce) == ("dc-1", nonce)


@pytest.mark.parametrize("tamper", [
    lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # signature altered
    lambda s: sign_state(b"another secret", "dc-1", "n", now=1000),  # signed with another key
    lambda s: s.split(".")[0],  # no signature
    lambda s: "",
    lambda s: "garbage.garbage",
])
def test_a_forged_state_is_refused(tamper):
    with pytest.raises(InvalidStateError, match="not one this server signed"):
        verify_state(SECRET, tamper(sign_state(SECRET, "dc-1", "n", now=1000)), now=1001)


def test_another_connection_id_in_the_payload_breaks_the_signature():
    payload, signature = sign_state(SECRET, "dc-1", "n", now=1000).split(".")
    other_payload = sign_state(SECRET, "dc-2", "n", now=1000).split(".")[0]
    with pytest.raises(InvalidStateError):
        verify_state(SECRET, f"{other_payload}.{signature}", now=1001)


def test_an_expired_state_is_refused():
    state = sign_state(SECRET, "dc-1", "n", now=1000, ttl=60)
    verify_state(SECRET, state, now=1060)
    with pytest.raises(InvalidStateError, match="expired"):
        verify_state(SECRET, state, now=1061)


@pytest.mark.parametrize("value, text", [
    (Decimal("12.3400"), "12.34"), (Decimal("10"), "10.00"), (Decimal("0.1250"), "0.125"),
    (Decimal("-5.5"), "-5.50"), (Decimal("1E+3"), "1000.00"), (0, "0.00"), ("123456789012.0001", "123456789012.0001"),
])
def test_money_is_an_exact_decimal_string(value, text):
    assert money(value, "EUR") == {"value": text, "currency": "EUR"}


def test_no_money_is_null_and_a_non_finite_amount_is_an_error():
    assert money(None, "EUR") is None
    with pytest.raises(ValueError):
        decimal_text(Decimal("NaN"))


def test_pages_are_windows_of_the_whole():
    assert page_window(1, 100) == (100, 0)
    assert page_window(3, 1000) == (1000, 2000)
    for page, per_page in ((0, 10), (1, 0), (1, MAX_PER_PAGE + 1)):
        with pytest.raises(ValueError):
            page_window(page, per_page)
    assert page_body([1, 2], page=2, per_page=2, total=5) == {
        "result": [1, 2], "page": 2, "per_page": 2, "total": 5, "last_page": 3}
    assert page_body([], page=1, per_page=10, total=0)["last_page"] == 1


@pytest.mark.parametrize("state, failed, connection, expected", [
    ("queued", (), "CONNECTED", "QUEUED"),
    ("running", (), "CONNECTED", "FETCHING"),
    ("success", (), "CONNECTED", "SUCCESS"),
    ("failed", ("extract_and_land", "transform"), "AUTH_ERROR", "AUTH_ERROR"),
    ("failed", ("extract_and_land",), "CONNECTED", "FETCH_ERROR"),
    ("failed", ("validate",), "CONNECTED", "INTERNAL_ERROR"),
])
def test_a_dag_run_becomes_a_qard_sync_status(state, failed, connection, expected):
    from gocardless_commerce.api.syncs import sync_status

    assert sync_status(state, failed, connection) == expected


@pytest.mark.parametrize("month, today, partial", [
    (date(2026, 12, 1), date(2026, 12, 3), True),  # the current month, December: the year turns
    (date(2026, 12, 1), date(2027, 1, 1), False),
    (date(2026, 11, 1), date(2026, 11, 30), True),
    (date(2026, 11, 1), date(2026, 12, 1), False),  # over at midnight UTC of the next month's first day
    (date(2027, 1, 1), date(2026, 12, 3), True),  # a future month is not over either
])
def test_a_month_is_partial_until_the_first_day_of_the_next(month, today, partial):
    assert is_partial_month(month, today) is partial


# -- data quality -------------------------------------------------------------------------------
def test_data_docs_paths_stay_inside_the_folder(tmp_path):
    from gocardless_commerce.api.data_quality import docs_file
    from gocardless_commerce.api.errors import ApiError

    (tmp_path / "runs" / "dc" / "r").mkdir(parents=True)
    (tmp_path / "index.html").write_text("all runs")
    (tmp_path / "runs" / "dc" / "r" / "index.html").write_text("one run")
    (tmp_path.parent / "secret.html").write_text("not served")
    assert docs_file(tmp_path, "") == (tmp_path / "index.html").resolve()
    assert docs_file(tmp_path, "runs/dc/r/") == (tmp_path / "runs/dc/r/index.html").resolve()
    for outside in ("../secret.html", "runs/../../secret.html", "/etc/passwd", "runs/dc/r/missing.html", "x.py"):
        with pytest.raises(ApiError):
            docs_file(tmp_path, outside)


def test_a_run_lists_its_tables_and_rules_and_counts_the_failed_ones(tmp_path, monkeypatch):
    from gocardless_commerce.api.data_quality import run_view

    monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path))
    rule = {"source_table": "commerce.transactions", "column_name": "currency", "level": "row", "chunks": 3,
            "description": "expect_column_values_to_be_in_set(column=currency)"}
    view = run_view({"run_id": "r1", "data_connection_id": "dc-1", "validated_at": "2026-12-01T00:00:00"}, [
        {**rule, "rule": "currency_in_set", "evaluated": 120, "failed": 2},
        {**rule, "rule": "id_not_null", "column_name": "id", "evaluated": 122, "failed": 0},
    ])
    assert view["tables"] == [{"table": "commerce.transactions", "failed_rules": 1, "rules": [
        {"rule": "currency_in_set", "column": "currency", "level": "row", "evaluated": 120, "failed": 2, "chunks": 3,
         "description": "expect_column_values_to_be_in_set(column=currency)"},
        {"rule": "id_not_null", "column": "id", "level": "row", "evaluated": 122, "failed": 0, "chunks": 3,
         "description": "expect_column_values_to_be_in_set(column=currency)"},
    ]}]
    assert view["data_docs_url"] is None  # no page written for it


def test_a_quarantined_row_names_each_failed_rule_with_the_reason_of_its_last_run():
    from gocardless_commerce.api.data_quality import quarantined_view

    row = {"data_connection_id": "dc-1", "source_table": "commerce.transactions", "source_id": "PM1", "occurrence": 1,
           "row_id": "tx-1", "first_run_id": "r0", "last_run_id": "r1",
           "failed_rules": '["currency_in_set", "amount_non_negative"]', "payload": '{"row": {"currency": "XYZ"}}'}
    reasons = {("dc-1", "r1", "commerce.transactions", "currency_in_set"): "in set [EUR, GBP]",
               ("dc-1", "r0", "commerce.transactions", "amount_non_negative"): "an older run's"}
    view = quarantined_view(row, reasons)
    assert view["failed_rules"] == [{"rule": "currency_in_set", "reason": "in set [EUR, GBP]"},
                                    {"rule": "amount_non_negative", "reason": None}]
    assert view["row"] == {"currency": "XYZ"}
