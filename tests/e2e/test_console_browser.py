"""The console (SPEC §12, issue #24) in a real browser: Debian's Chromium driven headless by
Selenium through Debian's chromedriver (no download), against a real `alertgate serve` fed by a
real Alertmanager. The service desk and an engineer work a ticket from the queue to its closure,
a new alert appears without a reload, a viewer sees no action, a `<script>` label stays text, the
rules page explains a payload, the language switches, every step is done with the keyboard where
a person would, and the browser reports no Content-Security-Policy violation. With
ALERTGATE_SCREENSHOTS=<folder> the queue and a ticket are photographed in both languages."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import ADMIN_SECRET, DESK_SECRET, ENGINEER_SECRET, VIEWER_SECRET, serving
from tests.e2e.test_alertmanager_prometheus import ALERTMANAGER, start_alertmanager, stop_process

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # (the test extra is not installed)
    webdriver = None

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(webdriver is None, reason="selenium is not installed (pip install -e '.[test]')"),
              pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                 reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"),
              pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed")]


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium'}", "--lang=en-US"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def console(gateway_env, tmp_path):
    """A gateway (its queue polled every 0.3 s) behind a real Alertmanager; (gateway URL, AM URL)."""
    port = free_port()
    am, am_base = start_alertmanager(tmp_path, f"http://127.0.0.1:{port}")
    try:
        with serving(gateway_env | {"ALERTGATE_PORT": str(port), "ALERTGATE_CONSOLE_POLL": "0.3s"}, tmp_path) as base:
            yield base, am_base
    finally:
        stop_process(am)


def wait(driver, condition, seconds: float = 20):
    """(An element replaced meanwhile, by a navigation or the queue's refresh, is looked up again.)"""
    return WebDriverWait(driver, seconds, poll_frequency=0.1,
                         ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))


def first_row(driver) -> tuple[str, str]:
    """The queue's first ticket row, once there is one: (its ticket id, its text)."""
    script = ('const row = document.querySelector("#queue-rows tr[data-ticket]");'
              'return row && [row.getAttribute("data-ticket"), row.innerText];')  # (read at once: rows are replaced live)
    found = wait(driver, lambda d: d.execute_script(script), 30)
    return found[0], found[1]


def sign_in(driver, base: str, secret: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/console/login")
    token = driver.find_element(By.ID, "token")
    token.send_keys(secret)
    token.send_keys(Keys.ENTER)  # (the keyboard submits the form)
    wait(driver, lambda d: d.current_url.endswith("/console/queue"))


def fire(am: str, **labels: str) -> None:
    alert = {"labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical", **labels}}
    alert["annotations"] = {"summary": f"{alert['labels']['alertname']} on {alert['labels']['instance'].split(':')[0]}"}
    assert httpx.post(am + "/api/v2/alerts", json=[alert]).status_code == 200


def act(driver, action: str, **fields: str) -> None:
    """Fills the action's form with the keyboard and submits it with Enter."""
    form = driver.find_element(By.CSS_SELECTOR, f'form[data-action="{action}"]')
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.send_keys(value)
    form.find_element(By.ID, f"do-{action}").send_keys(Keys.ENTER)
    wait(driver, lambda d: "done=" + action in d.current_url)


def status(driver) -> str:
    return driver.find_element(By.ID, "status").get_attribute("data-status")


def csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def shoot(driver, name: str) -> None:
    folder = os.environ.get("ALERTGATE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_the_service_desk_and_an_engineer_work_a_ticket_in_the_browser(browser, console):
    base, am = console
    sign_in(browser, base, DESK_SECRET)
    assert browser.find_element(By.ID, "signed-in").text.startswith("bootstrap-service_desk")
    browser.execute_script("window.notReloaded = true;")

    fire(am, team="<script>window.hacked = 1</script>")  # through Alertmanager's webhook to the gateway
    ticket_id, row = first_row(browser)
    assert browser.execute_script("return window.notReloaded === true;")  # it came in without a reload
    assert "P1" in row and "db1" in row
    shoot(browser, "queue-en")

    link = browser.find_element(By.LINK_TEXT, ticket_id)
    link.send_keys(Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.ID, "status"))
    assert "<script>window.hacked = 1</script>" in browser.find_element(By.ID, "labels").text
    assert browser.execute_script("return window.hacked === undefined;")
    shoot(browser, "ticket-en")
    act(browser, "assign", group="dba", assignee="engineer-li")
    assert status(browser) == "assigned"

    sign_in(browser, base, ENGINEER_SECRET)
    browser.get(f"{base}/console/tickets/{ticket_id}")
    assert not browser.find_elements(By.CSS_SELECTOR, 'form[data-action="close"]')  # (the desk closes)
    act(browser, "accept")
    assert status(browser) == "in_progress"
    act(browser, "resolve", resolution_code="resolved_by_workaround", solution="cleaned /var/log")
    assert status(browser) == "resolved"

    sign_in(browser, base, DESK_SECRET)
    browser.get(f"{base}/console/tickets/{ticket_id}")
    act(browser, "close", closure_code="completed")
    assert status(browser) == "closed"
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    assert "bootstrap-engineer" in timeline and "bootstrap-service_desk" in timeline

    browser.get(f"{base}/console/queue")
    assert ticket_id not in browser.find_element(By.ID, "queue-rows").text  # (resolved: out of the queue)
    assert csp_violations(browser) == []


def test_a_viewer_sees_no_action_and_the_language_switches(browser, console):
    base, am = console
    fire(am, instance="web7:9100")
    sign_in(browser, base, VIEWER_SECRET)
    ticket_id, _ = first_row(browser)
    browser.get(f"{base}/console/tickets/{ticket_id}")
    assert browser.find_elements(By.ID, "no-actions") and not browser.find_elements(By.CSS_SELECTOR, "form[data-action]")

    Select(browser.find_element(By.ID, "lang-choice")).select_by_value("zh")
    browser.find_element(By.ID, "lang-switch").send_keys(Keys.ENTER)
    wait(browser, lambda d: d.execute_script("return document.documentElement.lang") == "zh-CN")
    assert "处理记录" in browser.find_element(By.ID, "h-timeline").text
    browser.get(f"{base}/console/queue")
    assert "未解决的事件" in browser.find_element(By.TAG_NAME, "h1").text
    assert csp_violations(browser) == []


def test_screenshots_in_both_languages(browser, console):
    """(A ticket being worked, in Chinese and English, for the README.)"""
    base, am = console
    fire(am, instance="db3:9100", alertname="HighLatency", severity="warning")
    sign_in(browser, base, DESK_SECRET)
    ticket_id, _ = first_row(browser)
    for lang in ("zh", "en"):
        browser.add_cookie({"name": "ag_lang", "value": lang, "path": "/console"})
        browser.get(f"{base}/console/queue")
        shoot(browser, f"queue-{lang}")
        browser.get(f"{base}/console/tickets/{ticket_id}")
        shoot(browser, f"ticket-{lang}")
        assert browser.find_elements(By.CSS_SELECTOR, 'form[data-action="assign"]')
    assert csp_violations(browser) == []


def test_the_rules_page_explains_a_payload(browser, console):
    base, _ = console
    sign_in(browser, base, ADMIN_SECRET)
    browser.get(f"{base}/console/rules")
    payload = {"version": "4", "status": "firing", "receiver": "x", "alerts": [
        {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"},
         "startsAt": "2026-12-01T00:00:00Z"}]}
    area = browser.find_element(By.ID, "payload")
    browser.execute_script("arguments[0].value = arguments[1];", area, json.dumps(payload))
    browser.find_element(By.ID, "explain").send_keys(Keys.ENTER)
    verdicts = wait(browser, lambda d: d.find_elements(By.ID, "verdicts"))[0]
    assert "db1" in verdicts.text and "DiskFull" in verdicts.text
    assert browser.find_elements(By.CSS_SELECTOR, "#verdicts td.rule")
    assert csp_violations(browser) == []


def test_the_desk_links_a_user_report_to_the_suggested_master_and_reads_the_staff_report(browser, console):
    """Handbook §3.1.3.8 (issue #26, item 4): a user's report of a fault Alertmanager already
    opened is shown that master; the desk links it with one button, and the master lists it.
    §3.4 (item 12): the reports page counts per staff member."""
    base, am = console
    fire(am, instance="db4:9100")
    sign_in(browser, base, DESK_SECRET)
    master_id, _ = first_row(browser)
    created = httpx.post(base + "/api/v1/tickets", headers={"Authorization": f"Bearer {DESK_SECRET}"},
                         json={"title": "The database is slow", "ci": "db4", "contact": "zhang@example.com"})
    assert created.status_code == 201 and created.json()["suggested_masters"] == [master_id]
    report_id = created.json()["id"]
    browser.get(f"{base}/console/tickets/{report_id}")
    assert master_id in browser.find_element(By.ID, "suggested").text
    browser.find_element(By.ID, f"link-{master_id}").send_keys(Keys.ENTER)
    wait(browser, lambda d: "done=mark_duplicate" in d.current_url)
    assert browser.find_element(By.LINK_TEXT, master_id)   # "duplicate of" it
    assert "The database is slow" in browser.find_element(By.TAG_NAME, "h1").text   # (the user's words)
    browser.get(f"{base}/console/tickets/{master_id}")
    assert report_id in browser.find_element(By.ID, "reports").text

    browser.get(f"{base}/console/reports")
    Select(browser.find_element(By.ID, "r-by")).select_by_value("staff")
    browser.find_element(By.ID, "r-by").submit()
    staff = wait(browser, lambda d: d.find_elements(By.ID, "staff"))[0]
    assert "alertmanager" in staff.text   # (the one incident; the linked report is its duplicate)
    assert "by=staff" in browser.find_element(By.ID, "csv").get_attribute("href")
    assert csp_violations(browser) == []
