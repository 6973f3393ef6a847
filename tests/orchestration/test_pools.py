"""Pools: DuckDB writers one at a time; one merchant's GoCardless calls one at a time (its access
token is rate-limited), whatever the worker count. Checked on real ``dag.test()`` runs: the
cluster policy (the package's ``airflow.policy`` entry point) puts each task instance in its pool
when the scheduler creates it, mapped ones included."""

from __future__ import annotations

import pytest
from airflow.models.pool import Pool

from gocardless_commerce.orchestration import pools
from gocardless_commerce.settings import ConfigurationError
from tests.fixtures.sandbox import PINNED_NOW
from tests.orchestration.test_reconciliation_dag import RUN_AFTER_D1, _dag, merchants  # noqa: F401 - fixture
from tests.orchestration.test_sync_dag_runs import _dag as _sync_dag
from tests.orchestration.test_sync_dag_runs import connected_merchant  # noqa: F401 - fixture

pytestmark = pytest.mark.airflow


def test_the_policy_is_registered_where_the_package_is_installed():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="airflow.policy")] == ["gocardless_commerce.orchestration.policy"]


def test_each_merchant_part_of_the_reconciliation_runs_in_its_pool(airflow_db, merchants, warehouse_url):  # noqa: F811
    created = pools.ensure_pools(["acme", "globex"])
    try:
        run = _dag().test(logical_date=RUN_AFTER_D1)
        assert run.state == "success"
        placed = {(ti.task_id, ti.rendered_map_index or ""): ti.pool for ti in run.get_task_instances()}
        if warehouse_url.startswith("duckdb"):
            # One process at a time may write the file: every task waits in the DuckDB pool.
            assert set(placed.values()) == {"gocardless_duckdb_writer"}, placed
        else:
            assert placed[("reconcile_merchant", "Acme Ltd (acme)")] == "gocardless_api__acme"
            assert placed[("reconcile_merchant", "Globex SA (globex)")] == "gocardless_api__globex"
            assert placed[("start_job", "")] == placed[("finish_job", "")] == "default_pool"
        assert {Pool.get_pool(p).slots for p in created} == {1}
    finally:
        for name in created:
            Pool.delete_pool(name)


def test_a_sync_calls_gocardless_in_its_merchants_pool(airflow_db, connected_merchant, warehouse_url):  # noqa: F811
    created = pools.ensure_pools(["acme"])
    try:
        run = _sync_dag("gocardless_sync__acme").test(logical_date=PINNED_NOW)
        assert run.state == "success"
        placed = {ti.task_id: ti.pool for ti in run.get_task_instances()}
        if warehouse_url.startswith("duckdb"):
            assert set(placed.values()) == {"gocardless_duckdb_writer"}
        else:
            assert placed.pop("extract_and_land") == "gocardless_api__acme"
            assert set(placed.values()) == {"default_pool"}  # the model stages do not call GoCardless
    finally:
        for name in created:
            Pool.delete_pool(name)


def test_a_missing_pool_leaves_the_task_in_the_default_pool_instead_of_stuck(airflow_db, merchants, caplog):  # noqa: F811
    for name in ("gocardless_api__acme", "gocardless_api__globex", "gocardless_duckdb_writer"):
        if Pool.get_pool(name) is not None:
            Pool.delete_pool(name)
    run = _dag().test(logical_date=RUN_AFTER_D1)
    assert run.state == "success"
    assert {ti.pool for ti in run.get_task_instances()} == {"default_pool"}
    assert "does not exist (run `gocardless-commerce pools sync`)" in caplog.text


def test_duckdb_is_refused_when_several_workers_would_write_it(monkeypatch, tmp_path):
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(ConfigurationError, match="several workers cannot share one DuckDB file.*PostgreSQL"):
        pools.refuse_duckdb_with_several_workers()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    pools.refuse_duckdb_with_several_workers()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg://postgres@127.0.0.1/whatever")
    pools.refuse_duckdb_with_several_workers()
