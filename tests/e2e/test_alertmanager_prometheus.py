"""Real Alertmanager and Prometheus (Debian packages) in front of a running gateway."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import SOURCE_SECRET, VIEWER_SECRET, stop_process

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS = shutil.which("prometheus")
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
pytestmark = pytest.mark.e2e
needs_am = pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
needs_prom = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (apt-get install prometheus)")


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def start_alertmanager(tmp_path: Path, gateway: str, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    config = {
        "route": {"receiver": "alertgate", "group_by": ["alertname", "instance"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "alertgate", "webhook_configs": [{
            "url": f"{gateway}/api/v1/alerts/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": SOURCE_SECRET}}}]}],
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=(tmp_path / "am.log").open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ok(base + "/-/ready"), 20, "alertmanager to be ready")
    return process, base


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def tickets(gateway: str) -> list[dict]:
    return httpx.get(f"{gateway}/api/v1/tickets?limit=100", headers=VIEW).json()["tickets"]


@needs_am
def test_alertmanager_delivers_and_resolves_tickets(gateway, tmp_path):
    am, base = start_alertmanager(tmp_path, gateway)
    try:
        now = datetime.now(timezone.utc)
        alerts = [{"labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical", "device": d},
                   "annotations": {"summary": f"disk {d} almost full"}, "startsAt": now.isoformat(),
                   "generatorURL": "http://prometheus/graph"} for d in ("sda", "sdb")]
        assert httpx.post(base + "/api/v2/alerts", json=alerts).status_code == 200
        def two_tickets() -> list[dict] | None:
            found = tickets(gateway)
            return found if len(found) == 2 else None

        def all_resolved() -> list[dict] | None:
            found = tickets(gateway)
            return found if found and all(t["status"] == "resolved" for t in found) else None

        found = wait_until(two_tickets, 30, "two tickets")
        kinds = sorted(t["kind"] for t in found)
        assert kinds == ["duplicate", "master"]
        master = next(t for t in found if t["kind"] == "master")
        assert (master["ci"], master["symptom"], master["priority"]) == ("db1", "DiskFull", 1)
        assert master["duplicate_count"] == 1

        ended = [dict(a, endsAt=(now + timedelta(seconds=1)).isoformat()) for a in alerts]
        time.sleep(1.2)
        assert httpx.post(base + "/api/v2/alerts", json=ended).status_code == 200
        resolved = wait_until(all_resolved, 30, "the master and its duplicate to resolve")
        master = next(t for t in resolved if t["kind"] == "master")
        assert master["resolution_code"] == "monitoring_recovered" and master["outage_end"]
    finally:
        stop_process(am)


class _Target:
    """A scrape target whose value the test flips."""

    def __init__(self) -> None:
        self.value = 1
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = f"# TYPE demo_up gauge\ndemo_up {target.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_prometheus(tmp_path: Path, am_base: str, target: _Target, gateway: str) -> tuple[subprocess.Popen, str]:
    """Prometheus scraping the demo target (rule DemoDown: demo_up == 0) and the gateway, alerting
    through ``am_base``."""
    port = free_port()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "demo", "rules": [{
        "alert": "DemoDown", "expr": "demo_up == 0", "for": "0s",
        "labels": {"severity": "critical"}, "annotations": {"summary": "demo target is down"}}]}]}))
    gateway_hostport = gateway.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_base.removeprefix("http://")]}]}]},
        "scrape_configs": [
            {"job_name": "demo", "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}]},
            {"job_name": "alertgate", "authorization": {"type": "Bearer", "credentials": VIEWER_SECRET},
             "static_configs": [{"targets": [gateway_hostport]}]},
        ],
    }))
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=(tmp_path / "prom.log").open("wb"), stderr=subprocess.STDOUT)
    prom_base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ok(prom_base + "/-/ready"), 30, "prometheus to be ready")
    return prom, prom_base


@contextmanager
def demo_target_down(tmp_path: Path, gateway: str):
    """Alertmanager and Prometheus in front of ``gateway``, the demo target going down once they
    run; yields Prometheus's base URL and the target (whose value a test may set back to 1)."""
    am, am_base = start_alertmanager(tmp_path, gateway)
    target = _Target()
    prom, prom_base = start_prometheus(tmp_path, am_base, target, gateway)
    try:
        time.sleep(2)
        target.value = 0
        yield prom_base, target
    finally:
        stop_process(prom)
        stop_process(am)
        target.server.shutdown()


@needs_am
@needs_prom
def test_prometheus_rule_fires_through_alertmanager_and_scrapes_the_gateway(gateway, tmp_path):
    with demo_target_down(tmp_path, gateway) as (prom_base, target):
        found = wait_until(lambda: [t for t in tickets(gateway) if t["symptom"] == "DemoDown"], 60, "a DemoDown ticket")
        assert found[0]["ci"] == "127.0.0.1" and found[0]["priority"] == 1

        def processed() -> float | None:
            answer = httpx.get(prom_base + "/api/v1/query",
                               params={"query": 'sum(alertgate_alerts_processed_total{outcome="new"})'}).json()
            result = answer["data"]["result"]
            return float(result[0]["value"][1]) if result and float(result[0]["value"][1]) >= 1 else None
        assert wait_until(processed, 60, "Prometheus to scrape alertgate_alerts_processed_total") >= 1

        target.value = 1
        wait_until(lambda: [t for t in tickets(gateway) if t["symptom"] == "DemoDown" and t["status"] == "resolved"],
                   60, "the DemoDown ticket to resolve")


CATALOGUE = """
- name: demo-db
  aliases: ["127.0.0.1", DEMO-DB.prod.example, demo database]
  service: billing
  criticality: 2
"""
ZABBIX_SYMPTOM = """
classify:
  - name: zabbix-demo-down
    when: {all: [{field: source, equals: zabbix}, {field: title, regex: '(?i)demo.*down'}]}
    set: {symptom: DemoDown}
"""


@needs_am
@needs_prom
def test_one_machine_seen_by_prometheus_zabbix_and_a_round_is_one_ci_and_one_master(gateway_env, tmp_path):
    """SPEC §11 with the real clients: Prometheus names the machine by its scrape address
    (127.0.0.1:port, the port stripped), a Zabbix payload by its FQDN in capitals, an inspection
    round by a description; the catalogue makes them one CI, so they deduplicate into one master."""
    from tests.conftest import ROOT, serving

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "cmdb" / "demo.yaml").write_text(CATALOGUE)
    (config / "rules" / "00-symptoms.yaml").write_text(ZABBIX_SYMPTOM)
    with serving(gateway_env | {"ALERTGATE_CONFIG_DIR": str(config)}, tmp_path) as gateway:
        with demo_target_down(tmp_path, gateway):
            [master] = wait_until(lambda: [t for t in tickets(gateway) if t["symptom"] == "DemoDown"], 60,
                                  "a DemoDown ticket from Prometheus")
            assert (master["ci"], master["ci_raw"], master["affected_service"]) == ("demo-db", "127.0.0.1", "billing")
            source = {"Authorization": f"Bearer {SOURCE_SECRET}"}
            zabbix = httpx.post(f"{gateway}/api/v1/alerts/zabbix", headers=source, json={
                "event_id": "77001", "event_value": "1", "event_update_status": "0", "event_nseverity": "4",
                "event_name": "Demo service is down", "host": "DEMO-DB.PROD.EXAMPLE", "trigger_id": "9901",
                "event_timestamp": str(int(time.time()))}).json()["results"][0]
            finding = httpx.post(f"{gateway}/api/v1/findings", headers=source, json={
                "ci": "Demo Database", "title": "demo service not answering", "check": "DemoDown",
                "finding_id": "round-42"}).json()["results"][0]
            assert (zabbix["outcome"], zabbix["master_id"]) == ("duplicate", master["id"])
            assert (finding["outcome"], finding["master_id"]) == ("duplicate", master["id"])
            assert [t["id"] for t in tickets(gateway) if t["kind"] == "master"] == [master["id"]]

