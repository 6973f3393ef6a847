"""The Commerce pages in a real headless Chromium, inside the real Airflow UI: a person logs in on
Airflow's login page, opens Merchants from the navigation, adds a merchant (a name with HTML in
it, shown as typed), connects it through the sandbox's GoCardless OAuth (which approves at once),
sees it CONNECTED and its first sync succeed, sees a second sync refused while one runs (409),
follows the link to its DAG, then opens Insights and sees the charts drawn from its data with
the current month marked partial. A viewer sees the merchants but may not sync (403); without a
login the pages say so.

Heavy (the four Airflow processes of ``commerce_airflow``, a real sync DAG run, a browser: two
to three minutes), so marked ``browser``. The screenshots are kept in the test's temporary
folder (their paths are printed) for a person to look at.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from gocardless_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from tests.fixtures.commerce_api import CommerceAirflow

pytestmark = [pytest.mark.browser, pytest.mark.airflow]

#: Typed into the "Add a merchant" form: must come back as these characters, not as markup.
NAME = "Acme <b>Bold</b> & <img src=x onerror=alert(1)> Ltd"
USER_ID = "acme-ui"


@pytest.fixture(scope="module")
def airflow(commerce_airflow: CommerceAirflow) -> CommerceAirflow:
    """The provider set up through the API (what an administrator does once): sandbox
    credentials, and the first sync started on connection."""
    headers = commerce_airflow.headers("admin")
    credentials = {"credentials": {"is_sandbox": True, "client_id": DEFAULT_OAUTH_CLIENT_ID,
                                   "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
                                   "base_url": commerce_airflow.sandbox.base_url}}
    for path, body in (("/providers/gocardless/credentials", credentials),
                       ("/providers/gocardless/settings", {"auto_connect": True})):
        response = requests.put(f"{commerce_airflow.api}{path}", json=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
    return commerce_airflow


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("page-screenshots")


def _screenshot(browser, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")


def _wait(browser, seconds: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, seconds, poll_frequency=0.5)


def _log_in(browser, airflow: CommerceAirflow, username: str) -> None:
    """Airflow's own login page, as a person fills it in."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready

    browser.delete_all_cookies()
    browser.get(f"{airflow.url}/auth/login")
    _wait(browser).until(ready.presence_of_element_located((By.NAME, "username"))).send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(airflow.passwords[username])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser).until(lambda b: "/auth/login" not in b.current_url)


def _open_from_nav(browser, page: str):
    """Plugins → Commerce → ``page`` in the Airflow navigation; returns the page's frame, entered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready

    browser.switch_to.default_content()
    wait = _wait(browser)
    wait.until(ready.element_to_be_clickable((By.XPATH, "//button[.//*[normalize-space(text())='Plugins']]"))).click()
    wait.until(ready.element_to_be_clickable((By.XPATH, "//*[@role='menuitem'][normalize-space(.)='Commerce']"))).click()
    wait.until(ready.element_to_be_clickable((By.XPATH, f"//*[@role='menuitem'][normalize-space(.)='{page}']"))).click()
    return _enter_frame(browser, page)


def _enter_frame(browser, page: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready

    browser.switch_to.default_content()
    frame = _wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, f"iframe[title='{page}']")))
    browser.switch_to.frame(frame)
    return frame


def _row(browser):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f"tr[data-user-id='{USER_ID}']")


def _click(browser, css: str) -> None:
    """Click what ``css`` finds, again if the page's refresh replaced it in between."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def clicked(b) -> bool:
        try:
            b.find_element(By.CSS_SELECTOR, css).click()
            return True
        except StaleElementReferenceException:
            return False

    _wait(browser, 10).until(clicked)


def _has(css: str):
    from selenium.webdriver.common.by import By

    return lambda b: b.find_elements(By.CSS_SELECTOR, css)


def test_a_merchant_is_added_connected_and_synced_from_the_merchants_page(airflow, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready

    _log_in(browser, airflow, "operator")
    browser.get(f"{airflow.url}/")
    _open_from_nav(browser, "Merchants")
    assert "/plugin/commerce-merchants" in browser.execute_script("return window.top.location.pathname")

    _wait(browser).until(ready.presence_of_element_located((By.NAME, "name"))).send_keys(NAME)
    browser.find_element(By.NAME, "id").send_keys(USER_ID)
    browser.find_element(By.CSS_SELECTOR, "[data-action=add-merchant]").click()
    connect_button = f"tr[data-user-id='{USER_ID}'] [data-action=connect]"
    _wait(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, connect_button)))
    name_cell = _row(browser).find_element(By.CSS_SELECTOR, "[data-field=name]")
    assert name_cell.text == NAME and name_cell.find_elements(By.CSS_SELECTOR, "*") == []  # text, not markup
    _screenshot(browser, shots, "1-merchant-added")

    # Connect: the whole window goes to the consent page (out of Airflow's sandboxed frame), the
    # sandbox approves, its redirect reaches our callback, which sends the browser back here.
    browser.switch_to.default_content()
    airflow_page = browser.find_element(By.TAG_NAME, "html")
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[title='Merchants']"))
    _click(browser, connect_button)  # found again: the page may have refreshed its rows meanwhile
    browser.switch_to.default_content()
    _wait(browser).until(ready.staleness_of(airflow_page))
    _wait(browser).until(lambda b: b.execute_script("return location.pathname").endswith("/plugin/commerce-merchants")
                         or "/plugin/commerce-merchants/" in b.execute_script("return location.pathname"))
    _enter_frame(browser, "Merchants")
    row = f"tr[data-user-id='{USER_ID}']"
    _wait(browser).until(_has(f"{row} [data-field=connection] [data-status=CONNECTED]"))
    _screenshot(browser, shots, "2-connected")

    # auto_connect started the first sync: the page follows it to SUCCESS.
    try:
        _wait(browser, 600).until(_has(f"{row} [data-field=sync] [data-status=SUCCESS]"))
    except Exception:
        _screenshot(browser, shots, "sync-timeout")
        pytest.fail(f"the first sync did not succeed:\n{_row(browser).text}\n{airflow.log_tail()}")
    assert "records landed" in _row(browser).find_element(By.CSS_SELECTOR, "[data-field=sync]").text
    _screenshot(browser, shots, "3-synced")

    # Sync twice: the first sync was the only one (no scheduled twin), so this one starts; the
    # second is refused while it is queued or running, and says so in the refreshed row.
    _click(browser, f"{row} [data-action=sync]")
    answer = _wait(browser).until(_has(f"{row} .cc-row-message .cc-message"))[0]
    assert "cc-ok" in answer.get_attribute("class") and "queued" in answer.text, answer.text
    _click(browser, f"{row} [data-action=sync]")
    refused = _wait(browser).until(_has(f"{row} .cc-row-message [data-code=SYNC_IN_PROGRESS]"))[0]
    assert "409" in refused.text and "already queued or running" in refused.text
    _screenshot(browser, shots, "4-sync-refused")

    # The DAG link leaves the frame for the DAG's page in the Airflow UI.
    _click(browser, f"{row} [data-link=dag]")
    browser.switch_to.default_content()
    _wait(browser).until(lambda b: b.current_url.endswith(f"/dags/gocardless_sync__{USER_ID}"))


def test_the_insights_page_draws_the_merchants_months(airflow, browser, shots):
    from selenium.webdriver.common.by import By

    browser.get(f"{airflow.url}/")
    _open_from_nav(browser, "Insights")
    _wait(browser).until(_has("svg[data-chart=payments] rect.cc-bar"))
    assert browser.find_element(By.CSS_SELECTOR, "select[name=merchant]").get_attribute("value") == USER_ID
    header_link = browser.find_element(By.CSS_SELECTOR, ".cc-header nav a")  # to Merchants, in the Airflow UI
    assert (header_link.text, header_link.get_attribute("href")) == ("Merchants", f"{airflow.url}/plugin/commerce-merchants")
    for chart in ("payments", "payouts", "mrr", "mrr-movements"):
        assert browser.find_elements(By.CSS_SELECTOR, f"svg[data-chart={chart}]"), chart
    for chart in ("payments", "mrr"):  # the sandbox merchant has payments and subscriptions
        values = [float(bar.get_attribute("data-value"))
                  for bar in browser.find_elements(By.CSS_SELECTOR, f"svg[data-chart={chart}] rect.cc-bar")]
        assert values and max(values) > 0, chart
    # The current month is marked partial, in the charts and in the table below them.
    assert browser.find_elements(By.CSS_SELECTOR, "svg[data-chart=payments] text.cc-partial-label")
    partial_rows = browser.find_elements(By.CSS_SELECTOR, "#insights-table tr.cc-partial")
    assert len(partial_rows) == 1 and "partial" in partial_rows[0].text
    assert partial_rows[0].get_attribute("data-month") == time.strftime("%Y-%m-01", time.gmtime())
    _screenshot(browser, shots, "5-insights")
    browser.execute_script("document.getElementById('insights-table').scrollIntoView()")
    _screenshot(browser, shots, "6-insights-table")


def test_a_viewer_sees_the_merchants_but_may_not_sync(airflow, browser, shots):
    _log_in(browser, airflow, "viewer")
    browser.get(f"{airflow.url}/plugin/commerce-merchants")
    _enter_frame(browser, "Merchants")
    row = f"tr[data-user-id='{USER_ID}']"
    _wait(browser).until(_has(f"{row} [data-action=sync]"))
    _click(browser, f"{row} [data-action=sync]")
    refused = _wait(browser).until(_has(f"{row} .cc-row-message .cc-error"))[0]
    assert "role does not allow" in refused.text
    _screenshot(browser, shots, "7-viewer-refused")


def test_without_a_login_the_page_says_so_and_links_to_it(airflow, browser):
    from selenium.webdriver.common.by import By

    browser.switch_to.default_content()
    browser.delete_all_cookies()
    browser.get(f"{airflow.url}/commerce/ui/merchants")
    error = _wait(browser).until(_has("#messages .cc-error"))[0]
    assert "Not authenticated" in error.text
    link = error.find_element(By.CSS_SELECTOR, "a")
    assert link.text == "Log in to Airflow again" and link.get_attribute("href") == f"{airflow.url}/"
