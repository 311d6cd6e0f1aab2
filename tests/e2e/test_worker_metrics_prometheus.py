"""Gateway and worker as compose runs them (separate processes, separate metric files) scraped by
a real Prometheus with the shipped prometheus.yml's jobs (issue #19: the worker's SLA breaches,
escalations and notices were counted where nobody scraped)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import ROOT, SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.e2e.test_alertmanager_prometheus import _ok, wait_until
from tests.integration.helpers import am_alert, am_body
from tests.integration.test_workers import config, mailbox, sink  # noqa: F401  (fixtures)

PROMETHEUS = shutil.which("prometheus")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed "
                                                                             "(apt-get install prometheus)")]


def shipped_prometheus_config(tmp_path: Path, addresses: dict[str, str]) -> Path:
    """config/prometheus/prometheus.yml with the compose names replaced by this machine's ports."""
    shipped = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    (tmp_path / "token").write_text(VIEWER_SECRET)
    shipped["global"].update(scrape_interval="1s", evaluation_interval="1s")
    shipped["rule_files"] = [str(ROOT / "config/prometheus/alertgate-rules.yml")]
    shipped.pop("alerting")
    for job in shipped["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(tmp_path / "token")
        for group in job["static_configs"]:
            group["targets"] = [addresses[t] for t in group["targets"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(shipped))
    return path


def query(base: str, expr: str) -> float | None:
    result = httpx.get(base + "/api/v1/query", params={"query": expr}).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_worker_counts_with_the_shipped_jobs(gateway_env, config, tmp_path):  # noqa: F811
    worker_port, prom_port = free_port(), free_port()
    env = gateway_env | {"ALERTGATE_CONFIG_DIR": str(config)}
    gateway = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    worker = start_alertgate(["worker"], env | {"ALERTGATE_WORKER_METRICS_PORT": str(worker_port)},
                             tmp_path, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    prom = None
    try:
        wait_for_http(base + "/healthz", process=gateway)
        wait_for_http(f"http://127.0.0.1:{worker_port}/metrics", process=worker)
        prometheus_yml = shipped_prometheus_config(tmp_path, {
            "gateway:8080": f"127.0.0.1:{env['ALERTGATE_PORT']}", "worker:9109": f"127.0.0.1:{worker_port}"})
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={prometheus_yml}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=(tmp_path / "prom.log").open("wb"), stderr=subprocess.STDOUT)
        prom_base = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: _ok(prom_base + "/-/ready"), 30, "prometheus to be ready")

        body = am_body(am_alert("InterfaceDown", host="core-sw-9", severity="critical"))
        assert httpx.post(base + "/api/v1/alerts/alertmanager", json=body,
                          headers={"Authorization": f"Bearer {SOURCE_SECRET}"}).status_code == 200
        wait_until(lambda: query(prom_base, 'sum(alertgate_sla_breaches_total{job="alertgate-worker"})'), 60,
                   "the worker's SLA breach in Prometheus")
        wait_until(lambda: query(prom_base, 'sum(alertgate_notifications_total{job="alertgate-worker",outcome="sent"})'),
                   60, "the worker's notices in Prometheus")
        wait_until(lambda: query(prom_base, 'sum(alertgate_escalations_total{job="alertgate-worker"})'), 60,
                   "the worker's escalation in Prometheus")
        assert query(prom_base, 'min(up{job=~"alertgate|alertgate-worker"})') == 1.0

        # A mistyped sender token: the shipped AlertgateIngestErrors fires in this Prometheus.
        def mistyped() -> float | None:
            httpx.post(base + "/api/v1/alerts/alertmanager", json=body, headers={"Authorization": "Bearer typo"})
            return query(prom_base, 'ALERTS{alertname="AlertgateIngestErrors",alertstate="firing",'
                                    'reason="unknown_credential"}')
        wait_until(mistyped, 60, "AlertgateIngestErrors to fire")
    finally:
        if prom is not None:
            stop_process(prom)
        stop_process(worker)
        stop_process(gateway)
