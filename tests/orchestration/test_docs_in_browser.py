"""Hostile merchant names in the real Airflow UI: the sync DAG's Docs panel, opened in a headless
Chromium, shows them as the characters typed (no injected heading, link or image).

Heavy (an Airflow metadata DB, the api-server, a browser: about a minute), so marked ``browser``
(``make test`` runs it; ``-m "not browser"`` leaves it out). Needs ``chromium`` and
``chromium-driver`` (apt; ``make test`` installs them when missing) and selenium (the ``test``
extra); the browser is ``tests/fixtures/browser.py``'s. The screenshots are kept in the test's
temporary folder (their paths are printed) for a person to look at.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gocardless_commerce.names import terminal_safe
from gocardless_commerce.registry import Registry
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.browser

#: Registered through the registry (one line: what validation lets through).
HOSTILE = "Acme # Hacked [Reset your token](https://evil.example) <img src=x onerror=alert(1)> **now** www.evil.example"
#: Written into the snapshot directly, as an entry from before names were checked.
LEGACY = "Legacy Ltd\n# Injected heading\n[Reset your token](https://evil.example)\n<img src=x onerror=alert(1)>"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    """An api-server on a throw-away AIRFLOW_HOME whose DAGs include two hostile-named merchants."""
    root = tmp_path_factory.mktemp("browser")
    from gocardless_commerce.warehouse.engine import get_engine
    from gocardless_commerce.warehouse.migrations import apply_migrations

    snapshot = root / "merchants.json"
    engine = get_engine(f"duckdb:///{root / 'wh.duckdb'}")
    apply_migrations(engine)
    Registry(engine, snapshot).connect("acme", HOSTILE, organisation_id="OR1")
    body = json.loads(snapshot.read_text())
    body["merchants"].append({**body["merchants"][0], "user_id": "legacy", "id": "dc-legacy", "user_name": LEGACY})
    snapshot.write_text(json.dumps(body))

    env = {
        **os.environ, "AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "GC_COMMERCE_REGISTRY_SNAPSHOT": str(snapshot), "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    for command in (["airflow", "db", "migrate"], ["airflow", "dags", "reserialize"]):
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    port = _free_port()
    log = (root / "api-server.log").open("w")
    server = subprocess.Popen(["airflow", "api-server", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, (root / "api-server.log").read_text()[-2000:]
            time.sleep(1)
        yield base, root
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started, by its id
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _open_docs(browser, url: str):
    """The DAG page, then its "Dag Docs" dialog (as a person would open it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    wait = WebDriverWait(browser, 60)
    wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='Dag Docs']"))).click()

    def docs_dialog(driver):
        found = [e for e in driver.find_elements(By.CSS_SELECTOR, "[role=dialog]") if "Dag Documentation" in e.text]
        return found[0] if found and "Extracts the GoCardless account" in found[0].text else False

    return wait.until(docs_dialog)


@pytest.mark.parametrize("user_id, name", [("acme", HOSTILE), ("legacy", LEGACY)])
def test_the_docs_panel_shows_a_hostile_name_as_literal_text(airflow_ui, browser, user_id, name):
    from selenium.webdriver.common.by import By

    base, root = airflow_ui
    dialog = _open_docs(browser, f"{base}/dags/gocardless_sync__{user_id}")
    screenshot = root / f"docs-{user_id}.png"
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")

    # The rendered doc_md: the element holding the DAG's own heading (not the dialog's title).
    docs = dialog.find_element(By.XPATH, ".//h3[starts-with(normalize-space(.), 'GoCardless sync')]/..")
    shown = terminal_safe(name)  # what a reader must see: the characters typed, newlines as \n
    assert shown in docs.text.replace("\n", " ")
    assert docs.find_elements(By.CSS_SELECTOR, "a") == []
    assert docs.find_elements(By.CSS_SELECTOR, "img") == []
    headings = [h.text for h in docs.find_elements(By.CSS_SELECTOR, "h1, h2, h3, h4, h5, h6")]
    assert len(headings) == 1 and headings[0].startswith("GoCardless sync")  # the DAG's own heading only
