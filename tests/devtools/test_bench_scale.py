"""The many-merchant bench scenarios' inputs (the figures themselves are ``make bench``'s, never a test's)."""

from __future__ import annotations

import pytest

from gocardless_commerce.devtools import bench
from gocardless_commerce.devtools.bench_scale import write_registry_snapshot
from gocardless_commerce.orchestration.dag_factory import build_merchant_dags, sync_dag_id


def test_the_parse_scenarios_snapshot_gives_every_merchant_a_dag(tmp_path):
    snapshot = write_registry_snapshot(tmp_path / "merchants.json", 12)

    dags = build_merchant_dags(snapshot_path=snapshot)

    assert len(dags) == 12
    assert sync_dag_id("merchant_00011") in dags


def test_under_the_parsing_context_the_snapshot_builds_only_the_named_dag(tmp_path, monkeypatch):
    """What the task-start figure measures: one DAG built, not the whole shard."""
    snapshot = write_registry_snapshot(tmp_path / "merchants.json", 12)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", sync_dag_id("merchant_00006"))

    assert list(build_merchant_dags(snapshot_path=snapshot)) == [sync_dag_id("merchant_00006")]


def test_an_unknown_scenario_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--scenarios", "parse,reconcilation-scale"])

    assert exit_info.value.code == 2
    assert "reconcilation-scale" in capsys.readouterr().err
