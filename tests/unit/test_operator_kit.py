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
SCRAPE_GAUGES = {"alertgate_tickets_open", "alertgate_queue_depth", "alertgate_redis_up"}


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
