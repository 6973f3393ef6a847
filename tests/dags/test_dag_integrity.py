"""The sync DAG factory: one DAG per connected merchant, cheap and side-effect-free parsing."""

from __future__ import annotations

import socket

import pytest
from airflow.dag_processing.dagbag import DagBag

from gocardless_commerce.registry import Registry
from tests.conftest import PROJECT_ROOT

DAGS_FOLDER = str(PROJECT_ROOT / "dags")


@pytest.fixture
def registry(tmp_path, registry_snapshot):
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    engine = get_engine(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    apply_migrations(engine)
    return Registry(engine, registry_snapshot)


def _dagbag() -> DagBag:
    return DagBag(dag_folder=DAGS_FOLDER)


def test_no_merchants_means_no_sync_dags_and_no_import_errors(registry_snapshot):
    bag = _dagbag()
    assert bag.import_errors == {}
    assert not [d for d in bag.dag_ids if d.startswith("gocardless_sync__")]


def test_one_dag_per_connected_merchant_none_for_disconnected(registry):
    registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    registry.connect("globex", "Globex SA", organisation_id="OR2", schedule="0 3 * * *")
    registry.connect("initech", "Initech", organisation_id="OR3")
    registry.disconnect("initech")
    bag = _dagbag()
    assert bag.import_errors == {}
    sync_ids = sorted(d for d in bag.dag_ids if d.startswith("gocardless_sync__"))
    assert sync_ids == ["gocardless_sync__acme", "gocardless_sync__globex"]

    dag = bag.dags["gocardless_sync__acme"]
    assert dag.dag_display_name == "GoCardless sync — Acme Ltd"
    assert dag.max_active_runs == 1
    assert {"gocardless", "sync", "user:acme"} <= set(dag.tags)
    assert "raw.gocardless_payments" in dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff and task.owner == "data-engineering"
    assert dag.params["history_months"] == 12
    assert dag.params["full_refresh"] is False
    assert dag.params["data_types"] == [
        "COMMERCE_TRANSACTION",
        "COMMERCE_SUBSCRIPTION",
        "COMMERCE_TRANSACTION_INSIGHT",
        "COMMERCE_SUBSCRIPTION_INSIGHT",
    ]
    assert dag.on_failure_callback is not None
    assert bag.dags["gocardless_sync__globex"].timetable.expression == "0 3 * * *"


def test_parsing_touches_no_network_and_no_database(registry, monkeypatch):
    registry.connect("acme", "Acme Ltd", organisation_id="OR1")

    def refuse(*args, **kwargs):
        raise AssertionError("DAG parsing must not open network or database connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("sqlalchemy.create_engine", refuse)
    monkeypatch.setattr("airflow.sdk.BaseHook.get_connection", refuse)
    bag = _dagbag()
    assert bag.import_errors == {}
    assert "gocardless_sync__acme" in bag.dag_ids


def test_a_task_process_builds_only_its_own_dag(registry, monkeypatch):
    for n in range(5):
        registry.connect(f"m{n}", f"Merchant {n}", organisation_id=f"OR{n}")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "gocardless_sync__m3")
    from gocardless_commerce.orchestration.dag_factory import build_merchant_dags

    assert list(build_merchant_dags()) == ["gocardless_sync__m3"]


def test_sync_dags_survive_serialization_as_the_scheduler_reads_them(registry):
    from airflow.serialization.serialized_objects import DagSerialization

    registry.connect("acme", "Acme Ltd", organisation_id="OR1")
    dag = _dagbag().dags["gocardless_sync__acme"]
    assert [t.step for t in dag.tasks] == ["extract_and_land", "transform", "validate", "build_insights", "load"]
    assert {t.merchant["user_id"] for t in dag.tasks} == {"acme"}

    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert [t.task_id for t in restored.tasks] == [t.task_id for t in dag.tasks]
    assert restored.get_task("load").task_display_name == "Load commerce tables (one transaction)"
    assert restored.get_task("transform").upstream_task_ids == {"extract_and_land"}
    assert restored.get_task("extract_and_land").task_type == "PipelineStepOperator"
    assert [a.uri for a in restored.get_task("load").outlets]  # the commerce Assets
