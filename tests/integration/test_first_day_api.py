"""What a new user met on the first day through the API (issue #19): unchecked list filters,
invisible rejections, a reopened ticket showing the old outage end, a follow-up with spent clocks,
dates the CLI took and the API refused."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import structlog
import structlog.testing

from alertgate.observability.rejections import Rejections
from tests.conftest import DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


@pytest.mark.parametrize("query, path", [
    ("status=Open", "status"), ("priority=P9", "priority"), ("kind=parent", "kind"),
    ("source=zabbix", "source"), ("alert_source=nagios", "alert_source"), ("colour=red", "colour"),
    ("since=yesterday", "since"),
])
def test_a_bad_list_filter_is_a_400_naming_it_and_the_allowed_values(redis_url, query, path):
    with client_for(redis_url) as client:
        answer = client.get(f"/api/v1/tickets?{query}", headers=VIEW)
    assert answer.status_code == 400
    detail = answer.json()["detail"][0]
    assert detail["path"] == path and ("one of" in detail["message"] or "date" in detail["message"])


def test_tickets_filter_by_sender(redis_url):
    with client_for(redis_url) as client:
        client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Disk")), headers=SOURCE)
        client.post("/api/v1/alerts/zabbix", json=zabbix_event(), headers=SOURCE)
        by_zabbix = client.get("/api/v1/tickets?alert_source=zabbix", headers=VIEW).json()["tickets"]
        by_am = client.get("/api/v1/tickets?alert_source=alertmanager&since=2026-01-01", headers=VIEW).json()
    assert [t["alert_source"] for t in by_zabbix] == ["zabbix"]
    assert [t["alert_source"] for t in by_am["tickets"]] == ["alertmanager"]


def test_kpi_takes_the_plain_dates_the_cli_takes(redis_url):
    with client_for(redis_url) as client:
        assert client.get("/api/v1/kpi?from=2026-11-01&to=2026-12-01", headers=VIEW).status_code == 200
        bad = client.get("/api/v1/kpi?from=November", headers=VIEW)
    assert bad.status_code == 400 and bad.json()["detail"][0]["path"] == "from"


def rejected(client, **labels: str) -> float:
    text = client.get("/metrics", headers=VIEW).text
    for line in text.splitlines():
        if line.startswith("alertgate_requests_rejected_total{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_every_rejection_is_counted_and_logged_without_the_secret(redis_url, capsys):
    url = "/api/v1/alerts/alertmanager"
    with client_for(redis_url) as client:
        client.post(url, json=am_body(am_alert()), headers={"Authorization": "Bearer mistyped-secret"})
        client.post(url, json=am_body(am_alert()))
        client.post(url, content=b"{not json", headers=SOURCE)
        client.post(url, json=am_body(am_alert()), headers=VIEW)
        client.get("/api/v1/tickets?status=Open", headers=VIEW)
        assert rejected(client, endpoint=url, status="401", reason="unknown_credential") == 1
        assert rejected(client, endpoint=url, status="401", reason="missing_credential") == 1
        assert rejected(client, endpoint=url, status="400", reason="invalid_input") == 1
        assert rejected(client, endpoint=url, status="403", reason="role_not_allowed") == 1
        assert rejected(client, endpoint="/api/v1/tickets", status="400") == 1
    logged = capsys.readouterr().out
    assert "request_rejected" in logged and "mistyped-secret" not in logged and "not json" not in logged


def test_a_flood_of_rejections_logs_one_line_per_reason_and_caller_a_minute():
    class Counter:
        def __init__(self) -> None:
            self.value = 0

        def labels(self, *_: str) -> "Counter":
            return self

        def inc(self) -> None:
            self.value += 1

    clock = [0.0]
    counter = Counter()
    rejections = Rejections(counter, clock=lambda: clock[0])
    with structlog.testing.capture_logs() as captured:
        for _ in range(1000):
            rejections.record("/api/v1/alerts/zabbix", 401, "unknown_credential", None, "10.0.0.9")
        clock[0] = 61.0
        rejections.record("/api/v1/alerts/zabbix", 401, "unknown_credential", None, "10.0.0.9")
        rejections.record("/api/v1/alerts/zabbix", 403, "role_not_allowed", "viewer", "10.0.0.9")
        lines = captured
    assert counter.value == 1002
    assert len(lines) == 3 and lines[1]["held_back"] == 999 and lines[2]["credential"] == "viewer"


def test_a_reopened_ticket_is_open_again_and_records_its_second_recovery(redis_url):
    body = lambda status, starts: am_body(am_alert("Flap", starts=starts, status=status))  # noqa: E731
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=body("firing", "2026-11-22T03:00:00Z"),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        client.post("/api/v1/alerts/alertmanager", json=body("resolved", "2026-11-22T03:00:00Z"), headers=SOURCE)
        assert client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["outage_end"]
        again = client.post("/api/v1/alerts/alertmanager", json=body("firing", "2026-11-22T03:10:00Z"),
                            headers=SOURCE).json()["results"][0]
        assert again["outcome"] == "reopened"
        reopened = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
        assert reopened["status"] == "in_progress" and reopened["outage_end"] is None
        second = am_alert("Flap", starts="2026-11-22T03:10:00Z", status="resolved")
        second["endsAt"] = "2026-11-22T03:40:00Z"
        client.post("/api/v1/alerts/alertmanager", json=am_body(second), headers=SOURCE)
        ticket = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
    assert ticket["status"] == "resolved" and ticket["outage_end"].startswith("2026-11-22T03:40")


def test_a_manual_reopen_clears_the_outage_end(redis_url):
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Manual")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Manual", status="resolved")), headers=SOURCE)
        answer = client.post(f"/api/v1/tickets/{tid}/actions/reopen", json={}, headers=DESK).json()
    assert answer["status"] == "in_progress" and answer["outage_end"] is None


def test_a_follow_up_has_its_own_clocks_from_its_creation(redis_url):
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Late")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        act = lambda action, **b: client.post(f"/api/v1/tickets/{tid}/actions/{action}", json=b, headers=DESK)  # noqa: E731
        act("assign", group="network", assignee="wu")
        act("accept")
        act("resolve", resolution_code="resolved_by_workaround")
        closed = act("close", closure_code="not_completed").json()
        follow = [t for t in client.get("/api/v1/tickets", headers=VIEW).json()["tickets"]
                  if t["origin"] == "follow_up"][0]
    created = datetime.fromisoformat(follow["created_at"])
    by_target = {entry["target"]: entry for entry in follow["sla"]}
    assert datetime.fromisoformat(by_target["assignment"]["met_at"]) == created
    assert datetime.fromisoformat(by_target["acceptance"]["due_at"]) > created
    assert by_target["acceptance"]["met_at"] is None and by_target["resolution"]["met_at"] is None
    assert follow["escalation_level"] == 0
    assert json.dumps(follow["sla"]) != json.dumps(closed["sla"])


def test_readyz_says_degraded_when_redis_may_drop_or_refuse_tickets(redis_url):
    """A maxmemory policy that evicts drops tickets and dedup state without a word; a Redis near
    its maxmemory soon refuses new tickets (ingest then answers 503). Both are told by /readyz."""
    from redis import Redis

    with Redis.from_url(redis_url) as state, client_for(redis_url) as client:
        assert client.get("/readyz", headers=VIEW).json()["checks"]["redis"] == "ok"
        state.config_set("maxmemory-policy", "allkeys-lru")
        try:
            answer = client.get("/readyz", headers=VIEW)
            assert answer.status_code == 200 and answer.json()["status"] == "degraded"
            assert answer.json()["checks"]["redis"].startswith("maxmemory-policy allkeys-lru evicts keys")
            assert "alertgate_redis_evicting 1" in client.get("/metrics", headers=VIEW).text
        finally:
            state.config_set("maxmemory-policy", "noeviction")
        assert "alertgate_redis_evicting 0" in client.get("/metrics", headers=VIEW).text
        used = int(state.info("memory")["used_memory"])
        state.config_set("maxmemory", used + used // 20)
        try:
            near = client.get("/readyz", headers=VIEW).json()["checks"]["redis"]
            gauges = client.get("/metrics", headers=VIEW).text
        finally:
            state.config_set("maxmemory", 0)
    assert near.startswith("memory 9") and near.endswith("new tickets are refused once full")
    assert f"alertgate_redis_memory_max_bytes {used + used // 20}" in gauges


def test_readyz_says_degraded_while_no_worker_is_alive(redis_url):
    """Issue #19: with the worker gone, /readyz answered ready; ingest still works, so it stays 200."""
    with client_for(redis_url) as client:
        answer = client.get("/readyz", headers=VIEW)
    assert answer.status_code == 200 and answer.json()["status"] == "degraded"
    assert answer.json()["checks"]["workers"].startswith("none alive")
