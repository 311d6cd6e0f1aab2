"""The Watchdog as a heartbeat (SPEC §9, issue #22), with a real Prometheus and Alertmanager fed
the shipped files (config/prometheus/alertgate-rules.yml's Watchdog group, the Watchdog route of
config/alertmanager/alertmanager.yml, the shipped rule in config/rules/00-suppress.yaml), and a
separate gateway and worker: the Watchdog keeps the heartbeat alive; Prometheus stopped, a ticket
opens after the timeout; started again, the ticket resolves. The worker is killed and restarted
in the middle, and the expiry still makes exactly one ticket. With the shipped 15-minute timeout,
a stopped Prometheus opens its ticket as soon as Alertmanager sends the resolved Watchdog."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import ROOT, SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.e2e.test_alertmanager_prometheus import ALERTMANAGER, PROMETHEUS, _ok, wait_until

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed "
                                                              "(apt-get install prometheus-alertmanager)"),
              pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (apt-get install prometheus)")]
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
NAME = "prometheus:e2e"


def shipped_alertmanager(tmp_path: Path, gateway: str) -> tuple[subprocess.Popen, str]:
    """The shipped alertmanager.yml, pointed at this gateway, its Watchdog route repeating fast."""
    config = yaml.safe_load((ROOT / "config/alertmanager/alertmanager.yml").read_text())
    hook = config["receivers"][0]["webhook_configs"][0]
    hook["url"] = f"{gateway}/api/v1/alerts/alertmanager"
    hook["http_config"]["authorization"] = {"type": "Bearer", "credentials": SOURCE_SECRET}
    [watchdog] = config["route"]["routes"]
    watchdog.update(group_interval="1s", repeat_interval="2s")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=(tmp_path / "am.log").open("ab"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ok(base + "/-/ready"), 20, "alertmanager to be ready")
    return process, base


def start_prometheus(tmp_path: Path, alertmanager: str, port: int) -> subprocess.Popen:
    """The shipped prometheus.yml and rules (the Watchdog group), this machine's Alertmanager, fast clocks."""
    config = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", external_labels={"prometheus": "e2e"})
    config["rule_files"] = [str(ROOT / "config/prometheus/alertgate-rules.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager.removeprefix("http://")]
    config["scrape_configs"] = []
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s"],
        stdout=(tmp_path / "prom.log").open("ab"), stderr=subprocess.STDOUT)
    wait_until(lambda: _ok(f"http://127.0.0.1:{port}/-/ready"), 30, "prometheus to be ready")
    return process


def watchdog_chain(tmp_path: Path, gateway: str, started: list) -> tuple[str, int]:
    """The shipped Alertmanager, then a Prometheus sending it the Watchdog (each appended to
    ``started`` as it starts, the Prometheus last): the Alertmanager's URL and Prometheus' port."""
    am, am_base = shipped_alertmanager(tmp_path, gateway)
    started.append(am)
    prom_port = free_port()
    started.append(start_prometheus(tmp_path, am_base, prom_port))
    return am_base, prom_port


def heartbeat(base: str) -> dict:
    return httpx.get(f"{base}/api/v1/heartbeats/{NAME}", headers=VIEW).json()


def heartbeat_tickets(base: str) -> list[dict]:
    found = httpx.get(f"{base}/api/v1/tickets?alert_source=heartbeat&limit=100", headers=VIEW).json()["tickets"]
    return [t for t in found if t["symptom"] == f"heartbeat_missing:{NAME}"]


def test_the_watchdog_keeps_its_heartbeat_alive_and_its_silence_opens_then_resolves_one_ticket(gateway_env, tmp_path):
    metrics_port = free_port()
    env = gateway_env | {"ALERTGATE_SWEEP_INTERVAL": "1s", "ALERTGATE_WORKER_METRICS_PORT": str(metrics_port)}
    gateway = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    worker = start_alertgate(["worker"], env, tmp_path, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    am = prom = None
    prom_port = free_port()
    try:
        wait_for_http(base + "/healthz", process=gateway)
        # The operator sets this heartbeat's timeout (the shipped rule's 15m would make a slow test).
        assert httpx.post(f"{base}/api/v1/heartbeats/{NAME}", headers=SOURCE, json={"timeout": "8s"}).status_code == 200
        am, am_base = shipped_alertmanager(tmp_path, base)
        prom = start_prometheus(tmp_path, am_base, prom_port)

        first = heartbeat(base)["last_seen"]
        wait_until(lambda: heartbeat(base)["last_seen"] != first, 60, "a Watchdog to ping the heartbeat")
        wait_until(lambda: (heartbeat(base)["age_seconds"] or 99) < 3, 30, "pings to keep coming")
        assert heartbeat(base)["status"] == "ok" and heartbeat_tickets(base) == []
        # the worker's metrics show each heartbeat's age and the count per status
        worker_metrics = wait_until(lambda: (lambda text: text if f'alertgate_heartbeat_age_seconds{{name="{NAME}"}}' in text
                                             else None)(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text),
                                    20, "the heartbeat metrics")
        assert 'alertgate_heartbeats{status="ok"} 1.0' in worker_metrics
        # and when each part of the sweep last ran to its end (rule AlertgateSweepStalled)
        assert 'alertgate_sweep_last_success_timestamp_seconds{part="heartbeats"}' in worker_metrics
        assert "alertgate_sweep_interval_seconds 1.0" in worker_metrics

        stop_process(prom)  # the Prometheus dies: no Watchdog any more
        stop_process(worker, signal.SIGKILL)  # and so does the worker, mid-way
        worker = start_alertgate(["worker"], env, tmp_path, tmp_path / "worker.log")
        opened = wait_until(lambda: heartbeat_tickets(base), 90, "the expired heartbeat's ticket")
        assert len(opened) == 1 and opened[0]["status"] in ("open", "assigned")   # (dispatched at once by the worker)
        assert heartbeat(base)["status"] == "expired"
        outage_start = opened[0]["outage_start"]

        prom = start_prometheus(tmp_path, am_base, prom_port)
        wait_until(lambda: heartbeat_tickets(base)[0]["status"] == "resolved", 90, "the ticket to resolve")
        [ticket] = heartbeat_tickets(base)
        assert ticket["resolution_code"] == "monitoring_recovered" and ticket["outage_start"] == outage_start
        assert heartbeat(base)["status"] == "ok"
    finally:
        for process in (prom, am):
            if process is not None:
                stop_process(process)
        stop_process(worker)
        stop_process(gateway)


def test_a_stopped_prometheus_opens_its_ticket_by_the_resolved_watchdog_long_before_the_timeout(gateway_env, tmp_path):
    """Prometheus stops: Alertmanager resolves the Watchdog once its end passes and sends that;
    the heartbeat fails then, not 15 minutes on. Started again, the ticket resolves."""
    gateway = start_alertgate(["serve"], gateway_env, tmp_path, tmp_path / "serve.log")
    base, chain = f"http://127.0.0.1:{gateway_env['ALERTGATE_PORT']}", []
    try:
        wait_for_http(base + "/healthz", process=gateway)
        am_base, prom_port = watchdog_chain(tmp_path, base, chain)
        wait_until(lambda: httpx.get(f"{base}/api/v1/heartbeats/{NAME}", headers=VIEW).status_code == 200, 60,
                   "a Watchdog to register the heartbeat")
        assert heartbeat(base)["timeout"] == 900.0 and heartbeat(base)["status"] == "ok"   # (the shipped rule's 15m)

        stop_process(chain.pop())   # the Prometheus
        opened = wait_until(lambda: heartbeat_tickets(base), 60, "the resolved Watchdog's ticket")
        assert len(opened) == 1 and heartbeat(base)["status"] == "expired"
        assert "heartbeat_failed" in (tmp_path / "serve.log").read_text()

        chain.append(start_prometheus(tmp_path, am_base, prom_port))
        wait_until(lambda: heartbeat_tickets(base)[0]["status"] == "resolved", 90, "the ticket to resolve")
        assert heartbeat(base)["status"] == "ok" and len(heartbeat_tickets(base)) == 1
    finally:
        for process in chain:
            stop_process(process)
        stop_process(gateway)
