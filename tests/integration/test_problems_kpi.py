"""Problem records and KPIs through the API, with a real RQ worker running the jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
import redis

from alertgate.settings import load_settings
from alertgate.workers.worker import create_worker, work_burst
from tests.conftest import BOOTSTRAP, DESK_SECRET, ROOT, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
# Tickets are registered when the gateway receives them (today), and a KPI period counts faults that
# began within it, so the faults here began yesterday and the period is the days around today. The
# period ends two days ahead: these are computed at collection, and a run may pass midnight before a
# test registers its tickets (CI, 2026-12-06: registered at 00:07 after a period ending at 00:00).
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
PERIOD = ((date.today() - timedelta(days=2)).isoformat(), (date.today() + timedelta(days=2)).isoformat())
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}


def burst(redis_url: str) -> None:
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    work_burst(settings, redis.Redis.from_url(redis_url))


def fire(client, name: str, minute: int, **labels) -> dict:
    body = am_body(am_alert(name, starts=f"{YESTERDAY}T03:{minute:02d}:00Z", **labels))
    return client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]


def resolve_and_close(client, ticket_id: str, closure: str = "completed", headers=DESK) -> None:
    client.post(f"/api/v1/tickets/{ticket_id}/actions/resolve", json={"resolution_code": "resolved_by_workaround"},
                headers=headers)
    assert client.post(f"/api/v1/tickets/{ticket_id}/actions/close", json={"closure_code": closure},
                       headers=headers).status_code == 200


def problems(client) -> list[dict]:
    return client.get("/api/v1/problems", headers=VIEW).json()["problems"]


def test_closing_a_p1_or_with_problem_opens_a_problem_once(redis_url):
    with client_for(redis_url) as client:
        p1 = fire(client, "DiskFull", 0, severity="critical")["ticket_id"]
        p3 = fire(client, "Other", 0)["ticket_id"]
        p4 = fire(client, "Third", 0, severity="info")["ticket_id"]
        resolve_and_close(client, p1)
        resolve_and_close(client, p3, "completed_with_problem")
        resolve_and_close(client, p4)
        burst(redis_url)
        burst(redis_url)  # jobs run again: still one problem per trigger
        found = problems(client)
        assert sorted(p["incident_ids"][0] for p in found) == sorted([p1, p3])
        reasons = {p["incident_ids"][0]: p["reason"] for p in found}
        assert reasons[p1] == "a P1 incident was closed"
        detail = client.get(f"/api/v1/problems/{found[0]['id']}", headers=VIEW)
        assert detail.status_code == 200 and detail.json()["id"] == found[0]["id"]
        assert client.get("/api/v1/problems/PRB-999999", headers=VIEW).status_code == 404


def test_third_recurrence_within_seven_days_opens_a_problem_linking_them(redis_url):
    with client_for(redis_url) as client:
        ids = []
        for minute in range(4):   # new, then three recurrences
            result = fire(client, "Flapping", minute)
            ids.append(result["ticket_id"])
            assert result["outcome"] == ("new" if minute == 0 else "recurrence")
            burst(redis_url)
            if minute < 3:
                assert problems(client) == []
            resolve_and_close(client, result["ticket_id"])
        burst(redis_url)
        [problem] = problems(client)
        assert problem["reason"] == "recurred 3 times within 7 days"
        assert set(problem["incident_ids"]) == set(ids)


def test_kpi_endpoint_and_report_cli(redis_url):
    with client_for(redis_url) as client:
        closed = fire(client, "DiskFull", 0, severity="critical")["ticket_id"]
        fire(client, "DiskFull", 5, severity="critical")          # a duplicate: never an incident
        fire(client, "Other", 0)
        resolve_and_close(client, closed)
        kpi = client.get("/api/v1/kpi", params={"from": f"{PERIOD[0]}T00:00:00Z", "to": f"{PERIOD[1]}T00:00:00Z"},
                         headers=VIEW).json()
        assert kpi["overall"]["incidents"] == 2
        assert kpi["overall"]["closed"] == {"count": 1, "ratio": 0.5}
        assert kpi["overall"]["major_incidents"]["count"] == 1
        assert set(kpi["by_priority"]) == {"1", "3"}
        bad = client.get("/api/v1/kpi", params={"from": "yesterday"}, headers=VIEW)
        assert bad.status_code == 400 and bad.json()["detail"][0]["path"] == "from"
    env = {"ALERTGATE_REDIS_URL": redis_url, "ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "alertgate", "report", "--from", PERIOD[0], "--to", PERIOD[1],
                           "--format", "csv"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "overall,all,incidents,2," in done.stdout
    as_json = subprocess.run([sys.executable, "-m", "alertgate", "report", "--from", PERIOD[0], "--to", PERIOD[1]],
                             capture_output=True, text=True, env=env)
    assert json.loads(as_json.stdout)["overall"]["incidents"] == 2


def test_sweep_dispatches_forgotten_masters_and_counts_open_tickets(redis_url):
    """If the queue could not take a dispatch job, the periodic sweep dispatches the master."""

    from alertgate.keys import intents_keys
    from alertgate.workers import jobs

    with client_for(redis_url) as client:
        tid = fire(client, "DiskFull", 0, severity="critical")["ticket_id"]
        fire(client, "Other", 0, severity="warning")
        # duplicates are neither dispatched nor counted open (the sweep passes over them)
        assert [fire(client, "DiskFull", m, severity="critical")["outcome"] for m in (1, 2)] == ["duplicate"] * 2
        redis.Redis.from_url(redis_url).delete(*intents_keys())   # (as if their intents were lost)
        assert client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["status"] == "open"
        settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url})
        create_worker(settings, redis.Redis.from_url(redis_url))
        assert jobs.sweep(interval=0.0) == "2 dispatch queued again"
        burst(redis_url)
        assert client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["status"] == "assigned"
        metrics = client.get("/metrics", headers=VIEW).text
        assert 'alertgate_tickets_open{priority="1"} 1' in metrics
        assert 'alertgate_tickets_open{priority="3"} 1' in metrics


def test_sweep_finds_masters_stored_before_the_masters_index(redis_url):
    """Masters written by a version without the masters index are added to it once, by the
    first sweep, and a forgotten one among them is dispatched."""
    from alertgate.keys import MASTERS_INDEXED, masters_keys
    from alertgate.keys import intents_keys
    from alertgate.workers import jobs

    with client_for(redis_url) as client:
        tid = fire(client, "DiskFull", 0, severity="critical")["ticket_id"]
        fire(client, "DiskFull", 1, severity="critical")
        state = redis.Redis.from_url(redis_url)
        state.delete(*intents_keys())   # (as if the intent were lost)
        state.delete(MASTERS_INDEXED, *masters_keys())  # as an older version left it
        settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url})
        create_worker(settings, state)
        assert jobs.sweep(interval=0.0) == "1 dispatch queued again"
        assert [m for key in masters_keys() for m in state.zrange(key, 0, -1)] == [tid.encode()]
        assert state.get(MASTERS_INDEXED) == b"1"
        burst(redis_url)
        assert client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["status"] == "assigned"


def test_queues_can_live_on_a_separate_redis(redis_url, tmp_path):
    """ALERTGATE_QUEUE_REDIS_URL: jobs go to the queue Redis, tickets stay in the state Redis
    (RQ does not run on Redis Cluster, so the queue Redis may be a standalone server)."""
    from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port

    queue_server = EmbeddedRedis(tmp_path / "queue-redis", port=free_port())
    queue_server.start()
    try:
        with client_for(redis_url, ALERTGATE_QUEUE_REDIS_URL=queue_server.url) as client:
            tid = fire(client, "DiskFull", 0, severity="critical")["ticket_id"]
            queued = redis.Redis.from_url(queue_server.url)
            # the dispatch is an intent in the state Redis, beside its ticket (workers/intents.py)
            assert 'alertgate_intents_waiting 1' in client.get("/metrics", headers=VIEW).text
            assert client.post(f"/api/v1/tickets/{tid}/actions/assign", headers=DESK, json={"group": "network"}).status_code == 200
            assert queued.llen("rq:queue:alertgate-notify") == 1      # an action's job: on the queue Redis
            assert redis.Redis.from_url(redis_url).llen("rq:queue:alertgate-notify") == 0
            metrics = client.get("/metrics", headers=VIEW).text
            assert 'alertgate_queue_depth{queue="alertgate-notify"} 1' in metrics
            settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url,
                                      "ALERTGATE_QUEUE_REDIS_URL": queue_server.url})
            work_burst(settings, queued)
            assert client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["status"] == "assigned"
            assert 'alertgate_intents_waiting 0' in client.get("/metrics", headers=VIEW).text
    finally:
        queue_server.stop()
