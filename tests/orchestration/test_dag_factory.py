"""The sync DAG factory's shortcuts (shared params and timetables) build the DAGs Airflow's own
way would: the same serialized form, what the DAG processor stores and the scheduler reads."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import DAG, chain
from airflow.serialization.serialized_objects import DagSerialization

from gocardless_commerce.data_types import DATA_TYPES
from gocardless_commerce.orchestration.dag_factory import (
    PIPELINE_STEPS,
    build_merchant_dags,
    pipeline_task,
    requested_data_types,
    sync_dag_arguments,
    trigger_params,
)

ACME = {
    "id": "dc-1", "user_id": "acme", "user_name": "Acme Ltd", "status": "CONNECTED", "organisation_id": "OR1",
    "airflow_conn_id": "gocardless_dc-1", "requested_data_types": list(DATA_TYPES), "schedule": None,
    "status_reason": None,
}
#: Every way one merchant's DAG differs from another's, some sharing a params variant or a schedule.
MERCHANTS = [
    ACME,
    {**ACME, "id": "dc-2", "user_id": "globex", "user_name": "Globex # [x](https://evil.example) <img src=x>",
     "schedule": "0 3 * * *", "requested_data_types": ["COMMERCE_SUBSCRIPTION"]},
    {**ACME, "id": "dc-3", "user_id": "initech", "status": "AUTH_ERROR", "schedule": "@hourly"},
    {**ACME, "id": "dc-4", "user_id": "umbrella", "requested_data_types": ["COMMERCE_TRANSACTION"]},
    {**ACME, "id": "dc-5", "user_id": "hooli", "requested_data_types": ["COMMERCE_TRANSACTION"], "schedule": "0 3 * * *"},
    {k: v for k, v in {**ACME, "id": "dc-6", "user_id": "pied.piper"}.items() if k != "requested_data_types"},
]


def _dag_as_airflow_builds_it(merchant: dict) -> DAG:
    """The merchant's DAG built plainly: params given to ``DAG(...)`` (validated there, deep-copied
    into each task by Airflow), the schedule as a string, configuration read by Airflow."""
    with DAG(**sync_dag_arguments(merchant), params=trigger_params(requested_data_types(merchant))) as dag:
        chain(*(pipeline_task(step, merchant) for step in PIPELINE_STEPS))
    return dag


def _serialized(dag: DAG) -> dict:
    serialized = DagSerialization.to_dict(dag)
    for where_it_was_built in ("fileloc", "relative_fileloc"):
        serialized["dag"].pop(where_it_was_built, None)
    return json.loads(json.dumps(serialized, sort_keys=True, default=str))


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "merchants.json"
    path.write_text(json.dumps({"version": 1, "merchants": MERCHANTS}))
    return path


def test_every_sync_dag_serializes_as_the_plainly_built_one(snapshot):
    built = build_merchant_dags(snapshot_path=snapshot)

    assert len(built) == len(MERCHANTS)
    for merchant in MERCHANTS:
        expected = _dag_as_airflow_builds_it(merchant)
        assert _serialized(built[expected.dag_id]) == _serialized(expected), expected.dag_id


def test_the_comparison_sees_a_missing_param_and_a_changed_task(snapshot):
    """The check above can fail: a DAG short of a param, or with a task changed, differs."""
    dag = build_merchant_dags(snapshot_path=snapshot)["gocardless_sync__acme"]
    plain = _serialized(_dag_as_airflow_builds_it(ACME))

    del dag.get_task("load").params["history_months"]
    assert _serialized(dag) != plain
    dag = build_merchant_dags(snapshot_path=snapshot)["gocardless_sync__acme"]
    dag.get_task("validate").retries = 1
    assert _serialized(dag) != plain


def test_each_task_and_dag_owns_its_params(snapshot):
    """Airflow sets a run's conf on the task's Param objects; shared ones would leak between tasks."""
    dags = build_merchant_dags(snapshot_path=snapshot)
    acme, umbrella = dags["gocardless_sync__acme"], dags["gocardless_sync__umbrella"]
    extract, load = acme.get_task("extract_and_land"), acme.get_task("load")

    extract.params["history_months"] = 3
    extract.params.get_param("data_types").value.append("COMMERCE_TRANSACTION")

    assert load.params["history_months"] == acme.params["history_months"] == 12
    assert load.params["data_types"] == acme.params["data_types"] == list(DATA_TYPES)
    assert umbrella.get_task("extract_and_land").params["data_types"] == ["COMMERCE_TRANSACTION"]
    assert {t.params.get_param("full_refresh").source for t in acme.tasks} == {"dag"}


def test_a_bad_default_still_fails_its_merchants_dag(snapshot, caplog, monkeypatch):
    """Validated once per variant, not skipped: a default its schema refuses fails that DAG."""
    merchants = [ACME, {**ACME, "id": "dc-9", "user_id": "stark", "requested_data_types": ["COMMERCE_TRANSACTION"]}]
    snapshot.write_text(json.dumps({"version": 1, "merchants": merchants}))

    def a_wrong_default_for_one_variant(data_types):
        params = trigger_params(data_types)
        if data_types == ["COMMERCE_TRANSACTION"]:
            params["history_months"].value = 99  # above the schema's maximum of 18
        return params

    monkeypatch.setattr("gocardless_commerce.orchestration.dag_factory.trigger_params", a_wrong_default_for_one_variant)
    with caplog.at_level("ERROR"):
        built = build_merchant_dags(snapshot_path=snapshot)
    assert list(built) == ["gocardless_sync__acme"]
    assert any("'stark'" in r.getMessage() and "ParamValidationError" in r.getMessage() for r in caplog.records)


def test_a_bad_schedule_skips_its_merchant_not_the_shard(snapshot, caplog):
    """A cron expression Airflow refuses used to fail the DagBag's load of the merchant's shard
    file (an import error); it is now checked with the merchant's DAG, like a bad id."""
    merchants = [ACME, {**ACME, "id": "dc-7", "user_id": "wayne", "schedule": "every tuesday"}]
    snapshot.write_text(json.dumps({"version": 1, "merchants": merchants}))

    with caplog.at_level("ERROR"):
        built = build_merchant_dags(snapshot_path=snapshot)

    assert list(built) == ["gocardless_sync__acme"]
    assert any("'wayne'" in r.getMessage() and "AirflowTimetableInvalid" in r.getMessage() for r in caplog.records)


def test_building_leaves_the_garbage_collector_as_it_found_it(snapshot):
    import gc

    build_merchant_dags(snapshot_path=snapshot)
    assert gc.isenabled()
    gc.disable()
    try:
        build_merchant_dags(snapshot_path=snapshot)
        assert not gc.isenabled()
    finally:
        gc.enable()
