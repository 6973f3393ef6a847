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


@pytest.mark.airflow
def test_the_airflow_scenario_registers_each_merchant_with_its_token_connection_and_pool(
    tmp_path, airflow_db, registry_snapshot, warehouse_url
):
    """``merchants-airflow`` registers its merchants in one process: what ``merchants add``
    leaves behind for each (registry row, Airflow connection with the token, API pool)."""
    import json

    from airflow.models.pool import Pool

    from gocardless_commerce import settings
    from gocardless_commerce.devtools.bench_cluster import USER_PREFIX, register_merchants
    from gocardless_commerce.orchestration.connections import load_connection
    from gocardless_commerce.registry import Registry
    from gocardless_commerce.warehouse.engine import get_engine

    merchants = [{"name": f"Shop {n}", "organisation_id": f"OR{n:04d}", "access_token": f"sandbox_token_{n}"} for n in range(3)]
    tokens = tmp_path / "secrets.json"
    tokens.write_text(json.dumps({"merchants": merchants}))

    register_merchants(str(tokens), "http://127.0.0.1:1", "client-id", "client-secret")

    connections = {c.user_id: c for c in Registry(get_engine(warehouse_url)).data_connections()}
    assert sorted(connections) == [f"{USER_PREFIX}_{n:05d}" for n in range(3)]
    for n, merchant in enumerate(merchants):
        connection = connections[f"{USER_PREFIX}_{n:05d}"]
        assert connection.status == "CONNECTED" and connection.organisation_id == merchant["organisation_id"]
        assert load_connection(connection.airflow_conn_id).password == merchant["access_token"]
        assert Pool.get_pool(f"gocardless_api__{connection.user_id}") is not None
    assert load_connection(settings.GOCARDLESS_PROVIDER_CONN_ID).extra_dejson["base_url"] == "http://127.0.0.1:1"


def test_the_api_reads_scenario_fills_what_its_reads_expect(warehouse, warehouse_url, monkeypatch):
    """``api-reads`` on a small warehouse of each kind: a month holds more than a page, the
    insights cover 18 months × 2 currencies, and another merchant's rows stay out of the reads."""
    from gocardless_commerce.api import models, reads
    from gocardless_commerce.devtools import bench_reads

    bench_reads.fill_warehouse(warehouse, 40_000)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)

    figures = bench_reads.time_reads()  # asserts a full page of the month
    assert set(figures) == {"month", "insights", "first page", "page 100"}
    insights = reads._listed(reads.TRANSACTIONS_INSIGHTS, reads._transactions_insight, bench_reads.USER,
                             models.PageQuery(per_page=100))
    assert insights["total"] == bench_reads.MONTHS * 2
    everything = reads._listed(reads.TRANSACTIONS, reads._transaction, bench_reads.USER, models.TransactionQuery(per_page=1))
    assert everything["total"] == 40_000
