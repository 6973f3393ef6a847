"""docker-compose.yml describes the production shape (no Docker engine here: parse and check it)."""

from __future__ import annotations

import yaml

from tests.conftest import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


def test_every_production_component_is_a_service():
    assert set(AIRFLOW_SERVICES) | {"postgres", "redis", "warehouse", "airflow-init", "sandbox"} <= set(SERVICES)
    for name, command in AIRFLOW_SERVICES.items():
        assert SERVICES[name]["command"] == command, name


def test_airflow_services_run_airflow_3_3_2_with_celery_on_postgres_and_redis():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    for name in AIRFLOW_SERVICES:
        env = SERVICES[name]["environment"]
        assert SERVICES[name]["image"] == "gocardless-commerce-airflow:3.3.2"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://airflow:")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0"
        assert env["WAREHOUSE_URL"].startswith("postgresql+psycopg://warehouse:")
        assert env["WAREHOUSE_URL"].endswith("@warehouse/warehouse")
        # Secrets come from the environment, never from the file.
        assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${FERNET_KEY")
        assert "healthcheck" in SERVICES[name]


def test_databases_and_broker_use_pinned_images_with_healthchecks():
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["warehouse"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "warehouse", "redis"):
        assert "healthcheck" in SERVICES[name]


def test_sandbox_is_optional_and_init_migrates_both_databases():
    assert SERVICES["sandbox"]["profiles"] == ["sandbox"]
    assert "--port" in SERVICES["sandbox"]["command"]
    # it binds every interface only because compose says so, and its admin secret is no literal
    command = SERVICES["sandbox"]["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert SERVICES["sandbox"]["environment"]["GC_SANDBOX_ADMIN_SECRET"] == "${GC_SANDBOX_ADMIN_SECRET:-}"
    init = "\n".join(SERVICES["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "gocardless_commerce warehouse migrate" in init
    for name in AIRFLOW_SERVICES:
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_compose_runs_with_the_settings_the_celery_test_runs_with():
    from gocardless_commerce.devtools.cluster import CELERY_SETTINGS

    for name in AIRFLOW_SERVICES:
        env = SERVICES[name]["environment"]
        assert {key: env.get(key) for key in CELERY_SETTINGS} == CELERY_SETTINGS, name
        # as in the test: the result backend is the metadata database, psycopg 3 for sync and async
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == \
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg://", "+psycopg_async://")


def test_every_worker_stages_through_storage_they_all_reach():
    for name in AIRFLOW_SERVICES:
        url = SERVICES[name]["environment"]["GC_COMMERCE_STAGING_URL"]
        assert url.startswith("${GC_COMMERCE_STAGING_URL:-file:///opt/airflow/staging}"), name
        assert "staging-volume:/opt/airflow/staging" in SERVICES[name]["volumes"], name
    assert "staging-volume" in COMPOSE["volumes"]
