"""`alertgate_tickets_created_total{kind,priority}` counts every ticket created, not only those
of the alerts a sender posts: a user report, a closure's follow-up, a correlated ticket, a
heartbeat's failure (the gateway) and a heartbeat's expiry (the worker). Before, a dashboard of
created tickets missed all of these."""

from __future__ import annotations

import shutil
import time

import pytest
import redis
import yaml

from alertgate.settings import load_settings
from alertgate.workers.context import context
from alertgate.workers.heartbeat_sweep import HeartbeatSweep
from alertgate.workers.worker import create_worker
from tests.conftest import BOOTSTRAP, DESK_SECRET, ENGINEER_SECRET, ROOT, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
ENGINEER = {"Authorization": f"Bearer {ENGINEER_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def created(text: str, kind: str, priority: int) -> float:
    line = f'alertgate_tickets_created_total{{kind="{kind}",priority="{priority}"}} '
    return next((float(row[len(line):]) for row in text.splitlines() if row.startswith(line)), 0.0)


def test_tickets_made_outside_a_sender_s_post_are_counted_too(redis_url):
    with client_for(redis_url) as client:
        report = client.post("/api/v1/tickets", headers=DESK, json={
            "title": "printer on fire", "impact": 3, "urgency": 3, "ci": "printer-2"})
        assert report.status_code == 201, report.text
        tid = report.json()["id"]
        for action, body in (("assign", {"group": "desktop"}), ("resolve", {"resolution_code": "unresolvable"}),
                             ("close", {"closure_code": "not_completed"})):
            answer = client.post(f"/api/v1/tickets/{tid}/actions/{action}", headers=DESK, json=body)
            assert answer.status_code == 200, answer.text
        failed = client.post("/api/v1/heartbeats/backup/fail", headers=SOURCE)
        assert failed.status_code == 200, failed.text
        text = client.get("/metrics", headers=VIEW).text
    assert created(text, "master", 3) == 2   # the report and its follow-up
    assert sum(created(text, "master", p) for p in range(1, 5)) == 3   # and the heartbeat's ticket


def test_a_correlated_ticket_is_counted_as_correlated(redis_url, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "cmdb").mkdir(exist_ok=True)
    (config / "cmdb" / "net.yaml").write_text(yaml.safe_dump({"cis": [
        {"name": "core-sw-1"}, {"name": "web7", "parents": ["core-sw-1"]}]}))
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        parent = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("Down", host="core-sw-1")))
        child = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("Down", host="web7")))
        outcomes = [a.json()["results"][0]["outcome"] for a in (parent, child)]
        text = client.get("/metrics", headers=VIEW).text
    assert outcomes == ["new", "correlated"]
    assert sum(created(text, "correlated", p) for p in range(1, 5)) == 1


def test_the_worker_counts_the_tickets_of_heartbeat_expiries(redis_url):
    with client_for(redis_url) as client:
        client.post("/api/v1/heartbeats/etl", headers=SOURCE, json={"timeout": "1s", "ci": "etl-01"})
    time.sleep(1.5)
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    assert "1 expired" in HeartbeatSweep().run()
    counter = context().metrics.tickets_created
    assert sum(counter.labels("master", str(p))._value.get() for p in range(1, 5)) == 1
