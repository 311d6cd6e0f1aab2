"""Rules as operators meet them, on a real Redis: the shipped defaults (golden table),
suppression, rules test, reload (good, bad, by file change), CI correction, rule windows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from tests.conftest import ADMIN_SECRET, ROOT, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
AM, ZBX, FINDINGS = "/api/v1/alerts/alertmanager", "/api/v1/alerts/zabbix", "/api/v1/findings"


def _am(name: str, host: str, **labels: str) -> tuple[str, dict]:
    return AM, am_body(am_alert(name, host=host, **labels))


GOLDEN = [
    # (path, body, category, nature, impact, urgency, priority, group, channels)
    (*_am("DiskFull", "db1", severity="critical"), "storage_and_backup", "data", 1, 1, 1, "storage", ["phone", "email"]),
    (*_am("HighCPULoad", "app7", severity="warning"), "servers", "performance", 3, 3, 3, "server", ["email"]),
    (*_am("InterfaceDown", "core-sw-1", severity="high"), "network", "failure", 2, 2, 2, "network", ["email"]),
    (*_am("BackupFailed", "nas2", severity="average"), "storage_and_backup", "failure", 3, 2, 3, "storage", ["email"]),
    (*_am("SSLCertExpiring", "portal", severity="info"), "application_systems", "access", 4, 4, 4, "application", ["log"]),
    (*_am("FanFailure", "srv-12"), "servers", "hardware", 3, 3, 3, "server", ["email"]),
    (*_am("MalwareDetected", "pc-0815", severity="critical"), "other", "security", 1, 1, 1, "security", ["phone", "email"]),
    (*_am("Something", "box"), None, None, 3, 3, 3, "service_desk", ["email"]),
    (ZBX, zabbix_event("1", event_nseverity="5", event_name="Disk full on /var", trigger_id="13001"),
     "storage_and_backup", "data", 1, 1, 1, "storage", ["phone", "email"]),
    (ZBX, zabbix_event("2", event_nseverity="3", event_name="Zabbix agent is unavailable", trigger_id="13002"),
     "application_systems", "failure", 3, 2, 3, "application", ["email"]),
    (ZBX, zabbix_event("3", event_nseverity="1", event_name="Interface eth0: link down", trigger_id="13003"),
     "network", "failure", 4, 4, 4, "network", ["log"]),
    (FINDINGS, {"finding_id": "F1", "ci": "UPS-2", "title": "Battery temperature high", "severity": "high"},
     "servers", "hardware", 2, 2, 2, "server", ["email"]),
]
SLA = {1: (10, 15, 30), 2: (15, 30, 60), 3: (15, 30, 120), 4: (40, 60, 4320)}


@pytest.mark.parametrize("path,body,category,nature,impact,urgency,priority,group,channels", GOLDEN)
def test_shipped_defaults_classify_prioritise_and_route(redis_url, path, body, category, nature, impact,
                                                        urgency, priority, group, channels):
    with client_for(redis_url) as client:
        [result] = client.post(path, json=body, headers=SOURCE).json()["results"]
        assert result["outcome"] == "new"
        t = client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]
        assert (t["category"], t["nature"], t["impact"], t["urgency"], t["priority"]) == (
            category, nature, impact, urgency, priority)
        assert (t["route_group"], t["channels"]) == (group, channels)
        created = datetime.fromisoformat(t["created_at"])
        sla = {e["target"]: e for e in t["sla"]}
        assert datetime.fromisoformat(sla["assignment"]["due_at"]) == created + timedelta(minutes=SLA[priority][0])
        assert [sla[k]["minutes"] for k in ("assignment", "acceptance", "resolution")] == list(SLA[priority])


def test_the_watchdog_is_a_heartbeat_without_a_ticket_firing_or_resolved(redis_url):
    """SPEC §9: the shipped rule answers `heartbeat` (it used to drop the Watchdog as `suppressed`)."""
    with client_for(redis_url) as client:
        body = am_body(am_alert("Watchdog", severity="none"), am_alert("Watchdog", status="resolved"))
        results = client.post(AM, json=body, headers=SOURCE).json()["results"]
        assert [r["outcome"] for r in results] == ["heartbeat", "heartbeat"]
        assert results[0]["ticket_id"] is None
        assert client.get("/api/v1/tickets", headers=VIEW).json()["tickets"] == []
        metrics = client.get("/metrics", headers=VIEW).text
        assert 'alertgate_rule_matches_total{rule="watchdog-heartbeat",stage="suppress"} 2.0' in metrics


def test_rules_test_endpoint_shows_each_stage_and_creates_nothing(redis_url):
    with client_for(redis_url) as client:
        payload = am_body(am_alert("DiskFull", host="db1", severity="critical"))
        response = client.post("/api/v1/rules/test", json={"source": "alertmanager", "payload": payload}, headers=ADMIN)
        assert response.status_code == 200, response.text
        [verdict] = response.json()["results"]
        assert [(s["stage"], s["rule"]) for s in verdict["stages"]] == [
            ("suppress", None), ("classify", "storage-capacity"), ("prioritise", "critical"), ("route", "storage-team")]
        assert (verdict["ticket"]["priority"], verdict["ticket"]["assignment_group"]) == (1, "storage")
        assert client.get("/api/v1/tickets", headers=VIEW).json()["tickets"] == []
        bad = client.post("/api/v1/rules/test", json={"source": "nagios", "payload": {}}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["detail"][0]["path"] == "$.source"
        broken = client.post("/api/v1/rules/test", json={"source": "zabbix", "payload": {"event_value": "1"}}, headers=ADMIN)
        assert broken.status_code == 400 and broken.json()["detail"][0]["path"] == "$.event_id"


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    return target


def test_reload_keeps_the_last_good_rules_when_a_file_is_bad(redis_url, config_dir):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config_dir)) as client:
        assert client.post("/api/v1/rules/reload", headers=VIEW).status_code == 403
        ok = client.post("/api/v1/rules/reload", headers=ADMIN)
        assert ok.status_code == 200 and ok.json()["rules"] > 0
        (config_dir / "rules" / "40-broken.yaml").write_text("route:\n  - name: x\n    when: {field: nope, equals: 1}\n")
        rejected = client.post("/api/v1/rules/reload", headers=ADMIN)
        assert rejected.status_code == 422
        [detail] = rejected.json()["detail"]
        assert detail["path"].endswith("40-broken.yaml:3") and "unknown field 'nope'" in detail["message"]
        payload = am_body(am_alert("DiskFull", host="db1", severity="critical"))
        verdict = client.post("/api/v1/rules/test", json={"source": "alertmanager", "payload": payload},
                              headers=ADMIN).json()["results"][0]
        assert verdict["ticket"]["assignment_group"] == "storage"  # the old rules still run
        metrics = client.get("/metrics", headers=VIEW).text
        assert 'alertgate_rules_reloads_total{outcome="error"} 1.0' in metrics
        assert "last reload rejected" in client.get("/readyz", headers=VIEW).json()["checks"]["rules"]


def test_a_changed_file_is_picked_up_without_a_restart(redis_url, config_dir):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config_dir)) as client:
        (config_dir / "rules" / "05-first.yaml").write_text(
            "classify:\n  - name: ci-fix\n    when: {field: ci, equals: db1}\n    set: {ci: ERP-DB}\n"
            "route:\n  - name: dba\n    when: {field: ci, equals: ERP-DB}\n    set: {assignment_group: dba, dedup_window: 1s}\n")
        payload = {"source": "alertmanager", "payload": am_body(am_alert("Anything", host="db1"))}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            verdict = client.post("/api/v1/rules/test", json=payload, headers=ADMIN).json()["results"][0]
            if verdict["ticket"]["assignment_group"] == "dba":
                break
            time.sleep(0.2)
        assert (verdict["ci"], verdict["ticket"]["assignment_group"], verdict["ticket"]["dedup_window"]) == ("ERP-DB", "dba", 1.0)
        # the corrected CI is the dedup key, and the rule's window decides reopen vs new
        [first] = client.post(AM, json=am_body(am_alert("Anything", host="db1", starts="2026-11-22T03:00:00Z")),
                              headers=SOURCE).json()["results"]
        ticket = client.get(f"/api/v1/tickets/{first['ticket_id']}", headers=VIEW).json()["ticket"]
        assert ticket["ci"] == "ERP-DB"
        client.post(AM, json=am_body(am_alert("Anything", host="db1", starts="2026-11-22T03:00:00Z", status="resolved")),
                    headers=SOURCE)
        time.sleep(1.3)
        [later] = client.post(AM, json=am_body(am_alert("Anything", host="db1", starts="2026-11-22T03:10:00Z")),
                              headers=SOURCE).json()["results"]
        assert later["outcome"] == "new"


def test_cli_rules_check_lists_every_error_and_rules_test_explains(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("bad_regex.yaml", "unknown_field.yaml"):
        shutil.copy(ROOT / "tests" / "rules_invalid" / name, rules / name)
    env = {"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "alertgate", "rules", "check", str(rules)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "bad_regex.yaml:3:" in done.stderr and "unknown_field.yaml:3:" in done.stderr
    ok = subprocess.run([sys.executable, "-m", "alertgate", "rules", "check"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: ")
    payload = tmp_path / "zabbix.json"
    payload.write_text(json.dumps(zabbix_event("9", event_nseverity="5", trigger_id="disk full")))
    explained = subprocess.run([sys.executable, "-m", "alertgate", "rules", "test", str(payload)],
                               capture_output=True, text=True, env=env)
    assert explained.returncode == 0, explained.stderr
    out = json.loads(explained.stdout)
    assert out["source"] == "zabbix" and out["results"][0]["ticket"]["priority"] == 1
    # saved by Notepad ("UTF-8" with a byte order mark): still recognised as Zabbix's
    payload.write_bytes(b"\xef\xbb\xbf" + payload.read_bytes())
    marked = subprocess.run([sys.executable, "-m", "alertgate", "rules", "test", str(payload)],
                            capture_output=True, text=True, env=env)
    assert marked.returncode == 0 and json.loads(marked.stdout) == out, marked.stderr


def many_rules(hosts: int = 1500) -> str:
    """A rule set as an operator generates it from an inventory: a classify rule per host (CI and
    label, 2 values each: 3,000 values in one stage), a broad regex rule placed early, one rule
    listing 1,000 CIs, then a catch-all. durable_rules holds 255 entries in a message and 512
    branches under a node: one ruleset of these failed every alert (error 302) or hung the reload."""
    def host(i: int) -> dict:
        return {"name": f"host-{i}", "when": {"all": [{"field": "ci", "equals": f"h{i}"}, {"label": "env", "equals": "prod"}]},
                "set": {"affected_service": f"S{i}"}}
    classify = [host(i) for i in range(100)]
    classify.append({"name": "broad", "when": {"field": "ci", "regex": "^h12"}, "set": {"affected_service": "Broad"}})
    classify += [host(i) for i in range(100, hosts)]
    classify.append({"name": "listed", "when": {"field": "ci", "in": [f"h{i}" for i in range(hosts - 1000, hosts)]},
                     "set": {"affected_service": "Listed"}})
    classify.append({"name": "rest", "when": {"field": "ci", "exists": True}, "set": {"affected_service": "Rest"}})
    return json.dumps({"classify": classify})   # (JSON is YAML)


def test_a_rule_set_of_thousands_of_rules_reloads_and_each_alert_gets_its_first_matching_rule(redis_url, config_dir):
    (config_dir / "rules" / "15-inventory.yaml").write_text(many_rules())
    payload = config_dir.parent / "payload.json"
    payload.write_text(json.dumps(am_body(am_alert("Anything", host="h1499", env="prod"))))
    env = {"ALERTGATE_CONFIG_DIR": str(config_dir), "PATH": "/usr/bin:/bin"}
    # (a process of its own with a time limit: a regression that hangs durable_rules fails here)
    explained = subprocess.run([sys.executable, "-m", "alertgate", "rules", "test", str(payload)],
                               capture_output=True, text=True, env=env, timeout=300)
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert json.loads(explained.stdout)["results"][0]["ticket"]["affected_service"] == "S1499"
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config_dir)) as client:
        expected = {("h7", "prod"): "S7",            # its own rule, before the broad one
                    ("h1200", "prod"): "Broad",      # the broad rule comes first in the file
                    ("h1234", "dev"): "Broad",
                    ("h1499", "prod"): "S1499",      # in the last part of the host rules
                    ("h1499", "dev"): "Listed",      # no host rule for dev: the list
                    ("h3", "dev"): "Rest"}
        alerts = [am_alert(f"Check{n}", host=ci, env=env_) for n, (ci, env_) in enumerate(expected)]
        results = client.post(AM, json=am_body(*alerts), headers=SOURCE).json()["results"]
        for (key, service), result in zip(expected.items(), results):
            assert result["outcome"] == "new", (key, result)
            shown = client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]
            assert shown["affected_service"] == service, key
        reloaded = client.post("/api/v1/rules/reload", headers=ADMIN)
        assert reloaded.status_code == 200 and reloaded.json()["rules"] > 1500


def test_a_rule_too_large_for_durable_rules_is_refused_with_its_file_and_line(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    tags = "\n".join(f"        t{i}: v" for i in range(250))
    (rules / "10-tags.yaml").write_text(
        "classify:\n  - name: fine\n    when: {field: ci, in: [" + ", ".join(f"h{i}" for i in range(2000)) + "]}\n"
        "    set: {category: x}\n  - name: huge\n    when:\n      tags_any:\n" + tags + "\n    set: {category: y}\n")
    env = {"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "alertgate", "rules", "check", str(rules)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert "10-tags.yaml:5: rule huge has more than 60 conditions" in done.stderr and "1 error(s)" in done.stderr
