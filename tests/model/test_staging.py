"""Staging between the commerce stages: Parquet in object storage, exact round trips, no pickle."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from gocardless_commerce.model import schema
from gocardless_commerce.model.staging import StagingArea, StagingError, frame_to_table, table_to_frame


def _transactions() -> pd.DataFrame:
    return schema.frame({
        "id": ["tx-1", "tx-2", None],
        "amount": [Decimal("10.50"), Decimal("-0.455"), None],  # scales differ: each must survive
        "fee_amount": [Decimal("0.2000"), None, None],
        "value_date": [date(2026, 1, 31), None, date(2025, 12, 1)],
        "source_created_at": [datetime(2026, 1, 30, 12, 0, 1, 123456), None, datetime(2025, 1, 1)],
        "description": ["é ✓ \n quotes ' \"", "", None],
    }, schema.TRANSACTIONS)


@pytest.mark.parametrize("build", [
    _transactions,
    lambda: schema.empty(schema.TRANSACTIONS),
    lambda: schema.frame({"frequency_interval": [1, None], "mrr": [Decimal("3.3333"), None]}, schema.SUBSCRIPTIONS),
    lambda: schema.frame({"failed_rules": [["amount_not_null", "currency_known"]], "occurrence": [2],
                          "payload": [{"row": {"amount": "1.10"}, "source": None}]}, schema.QUARANTINE),
    lambda: pd.DataFrame({"created_at": [datetime(2026, 1, 1, tzinfo=UTC)], "action": ["cancelled"]}, dtype=object),
    lambda: pd.DataFrame({schema.ISSUES: [(), ("amount_integer_minor_units", "dates_are_dates"), None]}, dtype=object),
], ids=["transactions", "empty", "subscriptions", "quarantine", "events", "source_issues"])
def test_a_staged_frame_comes_back_equal_value_for_value(build):
    frame = build()
    back = table_to_frame(frame_to_table(frame))
    pd.testing.assert_frame_equal(back, frame)
    for column in frame.columns:  # Decimal('10.50') must not come back as Decimal('10.5000')
        assert [str(v) for v in back[column] if isinstance(v, Decimal)] == \
            [str(v) for v in frame[column] if isinstance(v, Decimal)], column


def test_files_are_parquet_in_the_given_storage_not_the_local_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GC_COMMERCE_DATA_DIR", str(tmp_path / "local"))
    bucket = tmp_path / "bucket"
    staging = StagingArea(bucket.as_uri(), "dc-1", "scheduled__2026-01-01T00:00:00+00:00")
    staging.save_part("transactions", 0, _transactions())
    staging.save_json("valid_rows", {"transactions": 3})

    files = sorted(p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file())
    assert files == ["dc-1/scheduled__2026-01-01T00_00_00_00_00/transactions.00000.parquet",
                     "dc-1/scheduled__2026-01-01T00_00_00_00_00/valid_rows.json"]
    assert (bucket / files[0]).read_bytes()[:4] == b"PAR1"  # Parquet, never a pickle
    assert not (tmp_path / "local" / "staging").exists()
    pd.testing.assert_frame_equal(next(StagingArea(bucket.as_uri(), "dc-1", staging.path.name).read_parts("transactions")),
                                  _transactions())


def test_some_columns_of_a_staged_table_come_back_exactly_and_only_them(tmp_path):
    staging = StagingArea(tmp_path.as_uri(), "dc-1", "run-a")
    staging.save("transactions", _transactions())
    staging.save_part("transactions", 0, _transactions())
    wanted = ["amount", "value_date", "id"]

    read, part = staging.read("transactions", columns=wanted), next(staging.read_parts("transactions", columns=wanted))

    for frame in (read, part):
        pd.testing.assert_frame_equal(frame, _transactions()[wanted])


def test_a_value_staging_cannot_keep_exactly_is_refused_with_its_column():
    with pytest.raises(StagingError, match="'amount' mixes float"):
        frame_to_table(pd.DataFrame({"amount": [Decimal("1.00"), 1.5]}, dtype=object))
    with pytest.raises(StagingError, match="'blob' holds bytes"):
        frame_to_table(pd.DataFrame({"blob": [b"\x80"]}, dtype=object))


def test_remove_deletes_only_the_runs_folder(tmp_path):
    one, other = StagingArea(tmp_path.as_uri(), "dc-1", "run-a"), StagingArea(tmp_path.as_uri(), "dc-1", "run-b")
    for area in (one, other):
        area.save("quarantine", schema.empty(schema.QUARANTINE))
    one.remove()
    one.remove()  # idempotent: a retried load may find it gone
    assert not (tmp_path / "dc-1" / "run-a").exists()
    assert other.read("quarantine") is not None
