"""The Data quality page in a real headless Chromium, against a real Airflow API server: a
merchant connected through the sandbox's OAuth, whose sandbox serves a few payments with a
negative amount (odd-record mode ``negative_amount``: they land, the model quarantines them),
syncs; the page shows the rules with non-zero failed counts, the quarantined rows with their
rules and reasons, and links to the Data Docs, which the API server serves only to a logged-in
user and which load nothing from another host.

Heavy (Airflow, a DAG run, a browser: a few minutes), so marked ``browser``. The screenshots are
kept in the test's temporary folder (their paths are printed); the browser is
``tests/fixtures/browser.py``'s.
"""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.commerce_api import CommerceAirflow, call, connect_merchant, credentials_body, wait_for_sync

pytestmark = pytest.mark.browser

USER = "dq-shop"
BROKEN_PER_MERCHANT = 3


@pytest.fixture(scope="module")
def synced(commerce_airflow: CommerceAirflow) -> CommerceAirflow:
    """A merchant whose first sync quarantined the sandbox's broken payments."""
    server = commerce_airflow
    sandbox = server.sandbox
    broken = [{"resource": "payments", "id": payment["id"], "mode": "negative_amount"}
              for merchant in sandbox.merchants
              for payment in sorted(sandbox.store.all_bodies(merchant.organisation_id, "payments"),
                                    key=lambda p: p["id"])[:BROKEN_PER_MERCHANT]]
    odd = requests.put(f"{sandbox.base_url}/sandbox/odd_records", json={"bad_fields": broken},
                       headers=sandbox.admin_headers, timeout=10)
    assert odd.status_code == 200, odd.text
    assert call(server, "PUT", "/providers/gocardless/credentials", json=credentials_body(server)).status_code == 200
    assert call(server, "PUT", "/providers/gocardless/settings", json={"auto_connect": True}).status_code == 200
    assert call(server, "POST", "/users/legal", json={"id": USER, "name": "Data Quality Shop"}).status_code == 201
    _, callback = connect_merchant(server, USER)
    assert requests.get(callback, headers=server.headers("operator"), timeout=300).status_code == 200
    done = wait_for_sync(server, USER)
    assert done["status"] == "SUCCESS", (done, server.log_tail())
    return server


def _log_in(browser, server: CommerceAirflow, user: str = "viewer") -> None:
    """Airflow's UI keeps the JWT in the ``_token`` cookie; the pages' fetches carry it."""
    browser.get(f"{server.url}/api/v2/monitor/health")
    browser.add_cookie({"name": "_token", "value": server.token(user), "path": "/"})


def _quarantining_run(server: CommerceAirflow) -> dict:
    """The run that quarantined the broken payments. Connecting starts a manual run and Airflow
    the DAG's latest scheduled one; whichever validates second is incremental: it rebuilds
    nothing new, so its counts are zeros."""
    runs = call(server, "GET", f"/users/{USER}/data-quality/runs", user="viewer").json()["result"]
    found = [run for run in runs if any(rule["failed"] for table in run["tables"] for rule in table["rules"])]
    assert len(found) == 1, runs
    return found[0]


def _assert_nothing_from_elsewhere(browser, server: CommerceAirflow) -> None:
    """Every style, script, image and API call of the page came from this server."""
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith(server.url)] == []


def test_the_api_reports_the_quarantined_rows_and_failed_counts(synced):
    run = _quarantining_run(synced)
    rules = {(table["table"], rule["rule"]): rule for table in run["tables"] for rule in table["rules"]}
    negative = rules[("commerce.transactions", "amount_non_negative")]
    assert negative["failed"] == BROKEN_PER_MERCHANT and negative["evaluated"] > negative["failed"]
    quarantine = call(synced, "GET", f"/users/{USER}/data-quality/quarantine", user="viewer",
                       params={"rule": "amount_non_negative"}).json()
    assert quarantine["total"] == BROKEN_PER_MERCHANT
    assert all(any(rule["rule"] == "amount_non_negative" and rule["reason"] for rule in row["failed_rules"])
               for row in quarantine["result"])


def test_the_data_docs_are_served_to_a_logged_in_user_only(synced):
    url = f"{synced.url}/commerce/{_quarantining_run(synced)['data_docs_url']}"
    assert requests.get(url, timeout=30).status_code == 401
    page = requests.get(url, headers=synced.headers("viewer"), timeout=30)
    assert page.status_code == 200 and "amount_non_negative" in page.text
    assert "https://" not in page.text
    escape = requests.get(f"{synced.url}/commerce/data-docs/..%2F..%2Fwarehouse.duckdb", headers=synced.headers("viewer"),
                          timeout=30)  # encoded: requests would resolve a plain "../" itself
    assert escape.status_code == 404 and escape.json()["error"]["status"] == 404


def test_the_page_shows_failed_counts_quarantined_rows_and_the_data_docs(synced, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    run = _quarantining_run(synced)
    _log_in(browser, synced)
    browser.get(f"{synced.url}/commerce/ui/data-quality?user={USER}")
    wait = WebDriverWait(browser, 60)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "tr.cc-quarantined")))
    Select(browser.find_element(By.ID, "run")).select_by_value(run["run_id"])
    wait.until(ready.presence_of_element_located(
        (By.CSS_SELECTOR, f"tr[data-rule='amount_non_negative'][data-failed='{BROKEN_PER_MERCHANT}']")))
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "tr.cc-quarantined")))
    shots = tmp_path_factory.mktemp("data-quality-page")
    _assert_nothing_from_elsewhere(browser, synced)
    browser.save_screenshot(str(shots / "data-quality.png"))
    print(f"screenshot: {shots / 'data-quality.png'}")

    failed = browser.find_element(By.CSS_SELECTOR, "section[data-table='commerce.transactions'] "
                                                   "tr[data-rule='amount_non_negative']")
    assert failed.get_attribute("data-failed") == str(BROKEN_PER_MERCHANT)
    assert str(BROKEN_PER_MERCHANT) in failed.text
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.cc-quarantined")
    assert len(rows) == BROKEN_PER_MERCHANT
    assert all("amount_non_negative" in row.text and "expect_column_values_to_be_between" in row.text for row in rows)

    browser.execute_script("document.getElementById('quarantine').scrollIntoView()")
    browser.save_screenshot(str(shots / "quarantine.png"))
    print(f"screenshot: {shots / 'quarantine.png'}")

    browser.find_element(By.ID, "run-data-docs").click()
    wait.until(lambda driver: "/commerce/data-docs/runs/" in driver.current_url)
    wait.until(ready.presence_of_element_located((By.TAG_NAME, "h1")))
    assert "amount_non_negative" in browser.page_source
    _assert_nothing_from_elsewhere(browser, synced)
    browser.save_screenshot(str(shots / "data-docs.png"))
    print(f"screenshot: {shots / 'data-docs.png'}")
    chunk = browser.find_element(By.PARTIAL_LINK_TEXT, "chunk 0")
    chunk.click()
    wait.until(lambda driver: "chunk-00000.html" in driver.current_url)
    browser.save_screenshot(str(shots / "gx-chunk-page.png"))
    print(f"screenshot: {shots / 'gx-chunk-page.png'}")
    _assert_nothing_from_elsewhere(browser, synced)
