"""The shipped Zabbix media type's JavaScript, run as Zabbix runs it, against a real gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, SOURCE_SECRET, VIEWER_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (apt-get install nodejs)"),
]
MEDIA_TYPE = ROOT / "config" / "zabbix" / "media_alertgate.yaml"
HARNESS = Path(__file__).with_name("zabbix_harness.js")


def media_type() -> dict:
    return yaml.safe_load(MEDIA_TYPE.read_text())["zabbix_export"]["media_types"][0]


def params_for(base_url: str, token: str, **macros: str) -> dict[str, str]:
    """The media type's parameters with macros substituted as Zabbix does; a macro this event
    does not define stays literal, as Zabbix leaves it."""
    params = {p["name"]: p["value"] for p in media_type()["parameters"]}
    params.update(alertgate_url=base_url, alertgate_token=token)
    for name, value in params.items():
        if value.startswith("{") and value in macros:
            params[name] = macros[value]
    return params


PROBLEM = {
    "{EVENT.ID}": "5501", "{EVENT.VALUE}": "1", "{EVENT.UPDATE.STATUS}": "0",
    "{EVENT.NAME}": "Free disk space is less than 5% on /var", "{EVENT.NSEVERITY}": "4",
    "{EVENT.SEVERITY}": "High", "{EVENT.DATE}": "2026.11.22", "{EVENT.TIME}": "11:32:44",
    "{EVENT.TAGSJSON}": '[{"tag":"scope","value":"capacity"},{"tag":"业务","value":"财务"}]',
    "{EVENT.OPDATA}": "Free: 3.2 %", "{HOST.HOST}": "db-01", "{HOST.NAME}": "数据库 01",
    "{HOST.IP}": "10.1.2.3", "{TRIGGER.ID}": "17001",
    "{TRIGGER.NAME}": "Free disk space is less than 5% on {#FSNAME}",
    "{TRIGGER.DESCRIPTION}": "The disk will be full soon.", "{$ZABBIX.URL}": "https://zabbix.example",
}
UPDATE = PROBLEM | {"{EVENT.UPDATE.STATUS}": "1", "{EVENT.UPDATE.ACTION}": "acknowledged",
                    "{EVENT.UPDATE.MESSAGE}": "looking into it", "{USER.FULLNAME}": "Wang Fang",
                    "{EVENT.UPDATE.DATE}": "2026.11.22", "{EVENT.UPDATE.TIME}": "11:40:00"}
RECOVERY = PROBLEM | {"{EVENT.VALUE}": "0", "{EVENT.RECOVERY.DATE}": "2026.11.22",
                      "{EVENT.RECOVERY.TIME}": "12:02:44"}


def run_media_type(params: dict[str, str], tmp_path: Path) -> dict:
    script, values = tmp_path / "script.js", tmp_path / "params.json"
    script.write_text(media_type()["script"])
    values.write_text(json.dumps(params))
    # The Zabbix server's local zone: {EVENT.DATE}/{EVENT.TIME} are only meaningful there.
    env = dict(os.environ, TZ="Asia/Shanghai")
    done = subprocess.run(["node", str(HARNESS), str(script), str(values)], capture_output=True,
                          text=True, timeout=60, env=env, check=True)
    return json.loads(done.stdout)


def ticket(base_url: str, ticket_id: str) -> dict:
    response = httpx.get(f"{base_url}/api/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {VIEWER_SECRET}"})
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def test_media_type_declares_what_the_gateway_needs():
    mt = media_type()
    names = {p["name"] for p in mt["parameters"]}
    assert mt["type"] == "WEBHOOK"
    assert {"event_id", "event_value", "event_update_status", "event_nseverity", "event_severity",
            "event_name", "event_tags", "host", "host_name", "host_ip", "trigger_id",
            "trigger_description", "event_opdata", "zabbix_url", "alertgate_url", "alertgate_token"} <= names
    assert next(p for p in mt["parameters"] if p["name"] == "event_tags")["value"] == "{EVENT.TAGSJSON}"


def test_problem_update_recovery_through_the_media_type(gateway, tmp_path):
    problem = run_media_type(params_for(gateway, SOURCE_SECRET, **PROBLEM), tmp_path)
    assert problem["ok"], problem
    ticket_id = json.loads(problem["result"])["tags"]["alertgate_ticket"]  # back to Zabbix as an event tag
    master = ticket(gateway, ticket_id)
    assert (master["ci"], master["symptom"], master["status"]) == ("db-01", "17001", "open")
    assert master["labels"] == {"scope": "capacity", "业务": "财务"}
    assert master["description"] == "The disk will be full soon."
    # 11:32:44 in Asia/Shanghai is 03:32:44 UTC: the script converted on the "Zabbix server".
    assert datetime.fromisoformat(master["outage_start"]) == datetime(2026, 11, 22, 3, 32, 44, tzinfo=timezone.utc)

    retried = run_media_type(params_for(gateway, SOURCE_SECRET, **PROBLEM), tmp_path)
    assert retried["ok"] and json.loads(retried["result"])["tags"]["alertgate_ticket"] == ticket_id
    update = run_media_type(params_for(gateway, SOURCE_SECRET, **UPDATE), tmp_path)
    assert update["ok"], update
    recovery = run_media_type(params_for(gateway, SOURCE_SECRET, **RECOVERY), tmp_path)
    assert recovery["ok"], recovery

    master = ticket(gateway, ticket_id)
    assert master["status"] == "resolved" and master["resolution_code"] == "monitoring_recovered"
    assert datetime.fromisoformat(master["outage_end"]) == datetime(2026, 11, 22, 4, 2, 44, tzinfo=timezone.utc)
    updates = [e for e in master["timeline"] if e["action"] == "source_update"]
    assert [(e["actor"], e["note"]) for e in updates] == [("Wang Fang", "acknowledged looking into it")]
    assert master["duplicate_count"] == 0


def test_a_rejected_delivery_throws_so_zabbix_retries(gateway, tmp_path):
    wrong_token = run_media_type(params_for(gateway, "not-the-token", **PROBLEM), tmp_path)
    assert not wrong_token["ok"] and "401" in wrong_token["error"]
    unconfigured = run_media_type(params_for(gateway, "<PLACE THE SOURCE TOKEN HERE>", **PROBLEM), tmp_path)
    assert not unconfigured["ok"] and "alertgate_token" in unconfigured["error"]
    unreachable = run_media_type(params_for("http://127.0.0.1:9", SOURCE_SECRET, **PROBLEM), tmp_path)
    assert not unreachable["ok"]


@pytest.mark.parametrize("url", ["{base}/", "{base}/api/v1/alerts/zabbix", "{base}/api/v1/alerts/zabbix/"])
def test_the_base_url_may_end_in_a_slash_or_be_the_endpoints_own(gateway, tmp_path, url):
    """An administrator who pastes the endpoint's URL, as Alertmanager's receiver has it, is not
    sent to /api/v1/alerts/zabbix/api/v1/alerts/zabbix (a 404 in the action log)."""
    sent = run_media_type(params_for(url.format(base=gateway), SOURCE_SECRET, **PROBLEM), tmp_path)
    assert sent["ok"], sent
