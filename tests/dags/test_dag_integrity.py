"""The sync DAG factory: one DAG per connected merchant, cheap and side-effect-free parsing."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from airflow.dag_processing.dagbag import DagBag

from gocardless_commerce.data_types import DATA_TYPES

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
    for task in dag.tasks + bag.dags["gateway_reconciliation"].tasks:  # no task runs unbounded
        assert task.execution_timeout == timedelta(hours=4)
    assert dag.params["history_months"] == 12
    assert dag.params["full_refresh"] is False
    assert dag.params["data_types"] == [
        "COMMERCE_TRANSACTION",
        "COMMERCE_SUBSCRIPTION",
        "COMMERCE_TRANSACTION_INSIGHT",
        "COMMERCE_SUBSCRIPTION_INSIGHT",
    ]
    data_types = dag.params.get_param("data_types").schema  # a multi-select of the known types, no free text
    assert data_types["type"] == "array" and data_types["examples"] == list(DATA_TYPES)
    assert data_types["items"]["enum"] == list(DATA_TYPES) and set(data_types["values_display"]) == set(DATA_TYPES)
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


def test_the_step_operator_adds_no_init_that_airflow_would_wrap():
    """Airflow wraps each class's ``__init__`` and every wrapper deep-copies the DAG's params:
    a second one cost a fifth of the full parse time with a thousand merchants."""
    from gocardless_commerce.orchestration.dag_factory import PipelineStepOperator

    assert "__init__" not in vars(PipelineStepOperator)


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


def test_a_bad_registry_entry_is_skipped_and_every_good_merchant_keeps_its_dag(registry, registry_snapshot, caplog):
    """A snapshot written before ids were checked (or edited by hand) may hold ids Airflow
    rejects; the factory logs and skips them, and the shard file still imports cleanly."""
    import json

    from gocardless_commerce.orchestration.dag_factory import SHARDS, shard_of

    good = [f"m{n}" for n in range(12)]
    for user_id in good:
        registry.connect(user_id, f"Merchant {user_id}", organisation_id="OR1")
    snapshot = json.loads(registry_snapshot.read_text())
    template = snapshot["merchants"][0]
    bad_ids = ["bad id", "bad/id", "bad'id", "bad\nid", "bädid", "x" * 240, "", "bad/id/2"]
    # One bad entry in every shard file (crc32 spreads these ids), plus one missing its id.
    snapshot["merchants"] += [{**template, "user_id": b, "id": f"dc-{n}"} for n, b in enumerate(bad_ids)]
    snapshot["merchants"].append({k: v for k, v in template.items() if k != "user_id"})
    registry_snapshot.write_text(json.dumps(snapshot))
    assert {shard_of(b) for b in bad_ids} == set(range(SHARDS))

    with caplog.at_level("ERROR"):
        bag = _dagbag()
    assert bag.import_errors == {}
    assert sorted(d for d in bag.dag_ids if d.startswith("gocardless_sync__")) == sorted(f"gocardless_sync__{u}" for u in good)
    skipped = [r.getMessage() for r in caplog.records if "Skipping registry entry" in r.getMessage()]
    assert len(skipped) == len(bad_ids) + 1
    assert all("\n" not in line for line in skipped)  # a newline in an id cannot forge log lines
    assert any("'bad id'" in line and "DAG id" in line for line in skipped)


def test_the_docs_panel_shows_a_hostile_name_as_text(registry):
    from markdown_it import MarkdownIt

    hostile = "Acme # Hacked [Reset your token](https://evil.example) <img src=x onerror=alert(1)> **now**"
    registry.connect("acme", hostile, organisation_id="OR1")
    dag = _dagbag().dags["gocardless_sync__acme"]
    rendered = MarkdownIt("commonmark", {"linkify": True}).enable("linkify").render(dag.doc_md)
    assert "evil.example" in rendered and "<a " not in rendered and "<img" not in rendered
    assert rendered.count("<h3>") == 1  # the DAG's own heading only
    assert dag.dag_display_name == f"GoCardless sync — {hostile}"  # the UI renders it as text
