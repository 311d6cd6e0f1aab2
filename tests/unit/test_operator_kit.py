"""The operator's kit in config/: alert rules that promtool accepts, a dashboard whose every query
uses metrics alertgate exports, a compose file with the whole stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alertgate.observability.metrics import GatewayMetrics, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_GAUGES = {"alertgate_tickets_open", "alertgate_queue_depth", "alertgate_redis_up", "alertgate_intents_waiting", "alertgate_timers_overdue",
                 "alertgate_redis_memory_used_bytes", "alertgate_redis_memory_max_bytes", "alertgate_redis_evicting",
                 "alertgate_redis_persistence_failed"}  # (read at scrape time; tests/integration/test_redis_refuses_writes.py)


def exported() -> set[str]:
    names = set(SCRAPE_GAUGES)
    for metrics in (GatewayMetrics(), WorkerMetrics()):
        for family in metrics.registry.collect():
            names.add(family.name + ("_total" if family.type == "counter" else ""))
            if family.type == "histogram":
                names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
            names |= {sample.name for sample in family.samples}
    return names


def used_in(text: str) -> set[str]:
    return set(re.findall(r"\balertgate_[a-z_]+\b", text))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_alerting_rules_pass_promtool():
    done = subprocess.run(["promtool", "check", "rules", str(ROOT / "config/prometheus/alertgate-rules.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_in_rules_and_dashboard_exists():
    rules = (ROOT / "config/prometheus/alertgate-rules.yml").read_text()
    dashboard = json.loads((ROOT / "config/grafana/dashboards/alertgate.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert used_in(rules) and used_in(exprs)
    assert used_in(rules) - exported() == set()
    assert used_in(exprs) - exported() == set()
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for wanted in ("outcome", "dedup ratio", "open tickets", "sla breaches", "escalations", "queue depth", "latency"):
        assert wanted in titles


def test_compose_runs_the_whole_stack_with_the_readme_commands():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "gateway", "worker", "alertmanager", "prometheus", "grafana"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert services["gateway"]["command"][:2] == ["alertgate", "serve"]
    assert services["worker"]["command"] == ["alertgate", "worker"]


def _urls(value: object) -> list[str]:
    """Every http(s) URL in a loaded YAML document."""
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return re.findall(r"https?://[^\s'\"]+", value) if isinstance(value, str) else []


def _targets(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [t for t in value.get("targets", []) if isinstance(t, str)] if "targets" in value else []
        return found + [t for v in value.values() for t in _targets(v)]
    if isinstance(value, list):
        return [t for v in value for t in _targets(v)]
    return []


def test_every_shipped_address_is_a_compose_service_and_every_mount_exists():
    """Issue #19: Alertmanager posted to `alertgate:8080` while the service is `gateway`."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = set(compose["services"])
    shipped = [ROOT / "config/alertmanager/alertmanager.yml", ROOT / "config/prometheus/prometheus.yml",
               ROOT / "config/grafana/provisioning/datasources/prometheus.yml"]
    hosts = []
    for path in shipped:
        document = yaml.safe_load(path.read_text())
        hosts += [(path.name, re.match(r"https?://([^:/]+)", url).group(1)) for url in _urls(document)]
        hosts += [(path.name, target.split(":")[0]) for target in _targets(document)]
    assert hosts and [(f, h) for f, h in hosts if h not in services] == []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./config"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            elif source.startswith("./var/secrets/"):
                assert "var/secrets" in (ROOT / "docker-compose.yml").read_text().split("services:")[0]


def test_every_scraped_service_serves_metrics_and_restarts():
    """Issue #19: the worker's counts (SLA breaches, escalations, notices) must reach Prometheus."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prometheus = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for t in _targets(job)}
    worker = compose["services"]["worker"]
    assert f"worker:{worker['environment']['ALERTGATE_WORKER_METRICS_PORT']}" in targets
    assert "gateway:8080" in targets
    for name in ("redis", "gateway", "worker"):
        assert compose["services"][name].get("restart") == "unless-stopped", name


PROMTOOL_TEST = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'alertgate_requests_rejected_total{{endpoint="/api/v1/alerts/alertmanager",status="401",reason="unknown_credential"}}'
        values: '0 3 6 9 12 15'
      - series: 'alertgate_requests_rejected_total{{endpoint="/api/v1/tickets",status="400",reason="invalid_input"}}'
        values: '0 1 2 3 4 5'
    alert_rule_test:
      - eval_time: 5m
        alertname: AlertgateIngestErrors
        exp_alerts:
          - exp_labels: {{severity: warning, endpoint: /api/v1/alerts/alertmanager, status: "401", reason: unknown_credential}}
            exp_annotations:
              summary: "/api/v1/alerts/alertmanager refused requests (401 unknown_credential): alerts are being lost"
  - interval: 1m
    input_series:
      - series: 'alertgate_alerts_truncated_total{{source="alertmanager"}}'
        values: '0 0 150 150'
    alert_rule_test:
      - eval_time: 3m
        alertname: AlertgateAlertsTruncated
        exp_alerts:
          - exp_labels: {{severity: warning, source: alertmanager}}
            exp_annotations:
              summary: "alertmanager leaves alerts out of its webhooks (they never become tickets): set max_alerts: 0 on the alertgate receiver"
  - interval: 1m
    input_series:
      - series: 'alertgate_timers_overdue{{job="alertgate",instance="gateway:8080"}}'
        values: '5000x20 20x10'
    alert_rule_test:
      - eval_time: 10m
        alertname: AlertgateTimersOverdue
        exp_alerts: []
      - eval_time: 16m
        alertname: AlertgateTimersOverdue
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations:
              summary: "5000 tickets' SLA, escalation or notice timers are overdue: the workers are short (add workers; new dispatches still go first)"
      - eval_time: 25m
        alertname: AlertgateTimersOverdue
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'alertgate_sweep_last_success_timestamp_seconds{{part="heartbeats",job="alertgate-worker",instance="worker:9109"}}'
        values: '0+60x5 300x20'
      - series: 'alertgate_sweep_last_success_timestamp_seconds{{part="work",job="alertgate-worker",instance="worker:9109"}}'
        values: '0+60x25'
      - series: 'alertgate_sweep_interval_seconds{{job="alertgate-worker",instance="worker:9109"}}'
        values: '30x25'
    alert_rule_test:
      - eval_time: 12m
        alertname: AlertgateSweepStalled
        exp_alerts: []
      - eval_time: 16m
        alertname: AlertgateSweepStalled
        exp_alerts:
          - exp_labels: {{severity: critical, part: heartbeats}}
            exp_annotations:
              summary: "The workers' heartbeats sweep has not succeeded for 11m 0s: see the worker's sweep_failed logs"
  - interval: 1m
    input_series:
      - series: 'up{{job="alertgate-worker",instance="worker:9109"}}'
        values: '0 0 0 0'
    alert_rule_test:
      - eval_time: 3m
        alertname: AlertgateDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: alertgate-worker, instance: "worker:9109"}}
            exp_annotations:
              summary: "alertgate-worker (worker:9109) does not answer scrapes"
  - interval: 1m
    input_series:
      - series: 'alertgate_redis_memory_used_bytes{{job="alertgate",instance="gateway:8080"}}'
        values: '950x10'
      - series: 'alertgate_redis_memory_max_bytes{{job="alertgate",instance="gateway:8080"}}'
        values: '1000x10'
      - series: 'alertgate_redis_evicting{{job="alertgate",instance="gateway:8080"}}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 6m
        alertname: AlertgateRedisMemory
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: "alertgate's Redis evicts keys or is over 90% of its maxmemory (docs/operations.md: memory)"
  - interval: 1m
    input_series:
      - series: 'alertgate_redis_memory_used_bytes{{job="alertgate",instance="gateway:8080"}}'
        values: '950x10'
      - series: 'alertgate_redis_memory_max_bytes{{job="alertgate",instance="gateway:8080"}}'
        values: '0x10'
      - series: 'alertgate_redis_evicting{{job="alertgate",instance="gateway:8080"}}'
        values: '0x4 1x6'
    alert_rule_test:
      - eval_time: 3m
        alertname: AlertgateRedisMemory
        exp_alerts: []
      - eval_time: 10m
        alertname: AlertgateRedisMemory
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: "alertgate's Redis evicts keys or is over 90% of its maxmemory (docs/operations.md: memory)"
  - interval: 1m
    input_series:
      - series: 'alertgate_redis_persistence_failed{{job="alertgate",instance="gateway:8080"}}'
        values: '0x2 1x6'
    alert_rule_test:
      - eval_time: 2m
        alertname: AlertgateRedisDiskFault
        exp_alerts: []
      - eval_time: 5m
        alertname: AlertgateRedisDiskFault
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations:
              summary: "alertgate's Redis failed to write to its disk and refuses writes (docs/operations.md: memory)"
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_a_mistyped_sender_token_fires_the_shipped_ingest_rule(tmp_path):
    """Issue #19: AlertgateIngestErrors could never fire; it now fires on refused ingest requests
    (not on a refused ticket read) and AlertgateDown covers the worker (promtool test rules).
    AlertgateRedisMemory fires past 90% of maxmemory, or on an evicting policy, and not without a
    maxmemory. AlertgateRedisDiskFault fires a minute after Redis failed to write its AOF or
    snapshot. AlertgateTimersOverdue fires when timers stay overdue for 15 minutes.
    AlertgateSweepStalled fires when a part of the sweep has not succeeded for ten intervals."""
    test = tmp_path / "rules_test.yml"
    test.write_text(PROMTOOL_TEST.format(rules=ROOT / "config/prometheus/alertgate-rules.yml"))
    done = subprocess.run(["promtool", "test", "rules", str(test)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_says_what_a_bare_machine_lacks(tmp_path):
    """Issue #19: durable-rules compiles C on install; without a compiler `make run` must say so."""
    import os
    import sys

    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "dirname"):
        (bare / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(["sh", str(ROOT / "scripts/check-build-tools.sh"), sys.executable],
                          env={**os.environ, "PATH": str(bare)}, capture_output=True, text=True)
    assert done.returncode == 2 and "build-essential" in done.stderr and "C compiler" in done.stderr
    if shutil.which("cc"):
        ok = subprocess.run(["sh", str(ROOT / "scripts/check-build-tools.sh"), sys.executable],
                            capture_output=True, text=True)
        assert ok.returncode == 0, ok.stderr
