"""Test-session set-up shared by every test package.

Airflow reads its configuration when it is first imported, so the environment that isolates
the tests (a throw-away AIRFLOW_HOME, the project's dags folder, no examples) is set here,
before any test module can import Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="gc-commerce-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ["GC_COMMERCE_RETRY_DELAY_SECONDS"] = "1"  # a failing DAG test must not wait minutes
os.environ["GC_COMMERCE_DATA_DIR"] = tempfile.mkdtemp(prefix="gc-commerce-data-")

# Shared fixtures live in tests/fixtures/ so each area owns its own file.
pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.warehouse",
    "tests.fixtures.airflow",
    "tests.fixtures.stub_api",
    "tests.fixtures.gocardless_records",
    "tests.fixtures.commerce_api",
    "tests.fixtures.hypothesis_profiles",
    "tests.fixtures.model_runs",
    "tests.fixtures.browser",
]
