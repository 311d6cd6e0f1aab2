"""Issue #20: a bad record must never break a read, a job that always fails must stop, and a
master is dispatched once whatever queued it. A real Redis and a real RQ worker."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import redis
import structlog.testing
import yaml

from alertgate.keys import ticket_prefix
from alertgate.settings import load_settings
from alertgate.workers import jobs, recovery
from alertgate.workers.context import set_context
from alertgate.work_queue import dispatch_job, enqueue_all
from tests.conftest import BOOTSTRAP, DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_workers import burst, config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}


def sweep_now(queue_redis: redis.Redis) -> str:
    """One sweep that treats everything owed as overdue (interval 0)."""
    return jobs.sweep(0.0)


def ticket_hash(redis_url: str, ticket_id: str) -> tuple[redis.Redis, str]:
    return redis.Redis.from_url(redis_url), ticket_prefix(ticket_id.split("-")[1]) + ticket_id


def test_a_master_is_dispatched_once_whatever_queued_it(redis_url, config, mailbox, sink):  # noqa: F811
    """The sweep's job and RQ's retry of a killed one both ran: two notices under two keys
    (`…:incident:sweep:…` and `…:incident:new:…`). Now the second finds the ticket dispatched."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        body = am_body(am_alert("InterfaceDown", host="core-sw-4", severity="critical"))
        tid = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"]
        enqueue_all(redis.Redis.from_url(redis_url), [dispatch_job(tid, "sweep")])  # queued twice
        burst(redis_url, config)
        timeline = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]["timeline"]
    assert [e["action"] for e in timeline].count("assign") == 1
    assert len([m for m in mailbox.to("net@example.com") if tid in m["Subject"]]) == 1
    keys = {h[1]["X-Alertgate-Dedup-Key"] for h in sink.requests if h[2]["notice"]["kind"] == "incident"}
    assert len(keys) == 1 and "sweep" not in keys.pop()


def test_a_poisoned_record_never_breaks_a_read(redis_url):
    """A time outside the years 1–9999, a bad enum, broken JSON, a broken timeline entry, stored
    by an older version or by hand: the list, the ticket, its actions and the KPIs still answer."""
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Poison")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        store, key = ticket_hash(redis_url, tid)
        store.hset(key, mapping={"outage_start": "-62135600400", "outage_end": "1e300", "priority": "P9",
                                 "sla": "[{broken", "status": "exploded"})
        store.rpush(key + ":tl", b'{"at": "0000-00-00", "actor": 1}')
        listed = client.get("/api/v1/tickets", headers=VIEW)
        shown = client.get(f"/api/v1/tickets/{tid}", headers=VIEW)
        kpi = client.get("/api/v1/kpi?from=2000-01-01&to=2100-01-01", headers=VIEW)
        acted = client.post(f"/api/v1/tickets/{tid}/actions/comment", json={"note": "still readable"}, headers=DESK)
    assert listed.status_code == shown.status_code == kpi.status_code == 200
    assert acted.status_code in (200, 409)
    ticket = shown.json()["ticket"]
    assert ticket["outage_start"] is None and ticket["priority"] == 3
    note = [e["note"] for e in ticket["timeline"] if e["action"] == "unreadable"][0]
    for field in ("outage_start", "outage_end", "priority", "sla", "status", "timeline"):
        assert field in note


def test_poisoned_index_entries_and_link_lists_never_break_a_read(redis_url):
    """The ticket and masters indexes naming a ticket that is gone, or something that is no
    ticket id (non-UTF-8 too), and a master's duplicate, report and correlated lists holding
    bytes that are no text: the list (every page), the queue, the KPIs and the ticket answer."""
    from alertgate.keys import correlated_children_key, index_key, masters_key

    with client_for(redis_url) as client:
        ids = [client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Poison", f"p{n}")),
                           headers=SOURCE).json()["results"][0]["ticket_id"] for n in range(3)]
        raw = redis.Redis.from_url(redis_url)
        created = float(raw.hget(ticket_hash(redis_url, ids[0])[1], "created_at"))
        tag = ids[0].split("-")[1]
        for key in (index_key(tag), masters_key(tag)):
            raw.zadd(key, {b"INC-GONE-1": created + 0.5, b"\xff\xfe": created + 0.25, b"not an id": created - 1})
        master_key = ticket_hash(redis_url, ids[0])[1]
        for key in (master_key + ":dups", master_key + ":reports", correlated_children_key(ids[0])):
            raw.rpush(key, b"\xff\xfe")
        pages, cursor = [], None
        while True:
            page = client.get("/api/v1/tickets", headers=VIEW, params={"limit": 1, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            pages += [t["id"] for t in page.json()["tickets"]]
            if (cursor := page.json()["next_cursor"]) is None:
                break
        assert sorted(pages) == sorted(ids)
        queue = client.get("/api/v1/queue", headers=VIEW)
        assert queue.status_code == 200 and "INC-GONE-1" not in queue.text, queue.text
        assert client.get("/api/v1/kpi?from=2000-01-01&to=2100-01-01", headers=VIEW).status_code == 200
        shown = client.get(f"/api/v1/tickets/{ids[0]}", headers=VIEW)
        assert shown.status_code == 200, shown.text


def test_poisoned_heartbeat_maintenance_and_problem_indexes_never_break_a_read(redis_url):
    """Their sets and indexes naming records that are gone, or bytes that are no text."""
    from alertgate.keys import HEARTBEAT_DEADLINES, HEARTBEAT_NAMES, MAINTENANCE_IDS, MAINTENANCE_LIVE, PROBLEM_INDEX

    raw = redis.Redis.from_url(redis_url)
    with client_for(redis_url) as client:
        assert client.post("/api/v1/heartbeats/nightly", headers=SOURCE).status_code == 200
        raw.sadd(HEARTBEAT_NAMES, b"\xff\xfe", b"gone")
        raw.zadd(HEARTBEAT_DEADLINES, {b"\xff\xfe": 1, b"gone": 1})
        for key in (MAINTENANCE_IDS, MAINTENANCE_LIVE):
            raw.zadd(key, {b"\xff\xfe": 1, b"MW-999999": 2})
        raw.zadd(PROBLEM_INDEX, {b"\xff\xfe": 1, b"PRB-999999": 2})
        answers = [client.get(path, headers=VIEW) for path in (
            "/api/v1/heartbeats", "/api/v1/maintenance", "/api/v1/maintenance?active=true", "/api/v1/problems",
            "/api/v1/kpi?from=2000-01-01&to=2100-01-01")]
        for answer in answers:
            assert answer.status_code == 200, (answer.url, answer.text)
        assert [hb["name"] for hb in answers[0].json()["heartbeats"]] == ["nightly"]
        assert answers[1].json()["windows"] == answers[3].json()["problems"] == []


@pytest.mark.parametrize("record", [b'{"broken', b'{"id": 7}', b"\xff\xfe", b"[" * 100_000,
                                    b'{"id": "PRB-000001", "title": "t", "ci": "c", "reason": "r", '
                                    b'"created_at": "9999-99-99", "updated_at": "x"}'])
def test_a_poisoned_problem_record_never_breaks_a_read(redis_url, record):
    """A problem record stored by hand or by an older version: the list and the problem answer,
    showing it as unreadable with its incidents; a job that links an incident to it still works."""
    import asyncio

    from alertgate.keys import PROBLEM_INDEX, problem_incidents_key, problem_key, problem_trigger_key
    from alertgate.problems.store import ProblemStore

    raw = redis.Redis.from_url(redis_url)
    raw.set(problem_key("PRB-000001"), record)
    raw.zadd(PROBLEM_INDEX, {"PRB-000001": 1e300})
    raw.sadd(problem_incidents_key("PRB-000001"), "INC-A-1")
    raw.set(problem_trigger_key("recurring:web1"), "PRB-000001")
    with client_for(redis_url) as client:
        listed = client.get("/api/v1/problems", headers=VIEW)
        shown = client.get("/api/v1/problems/PRB-000001", headers=VIEW)
    assert listed.status_code == shown.status_code == 200, listed.text
    assert listed.json()["problems"] == [shown.json()]
    assert (shown.json()["status"], shown.json()["incident_ids"]) == ("unreadable", ["INC-A-1"])

    async def link():
        from redis.asyncio import Redis
        client = Redis.from_url(redis_url)
        try:
            return await ProblemStore(client).open_or_link("recurring:web1", "t", "web1", None, "r", ["INC-B-1"])
        finally:
            await client.aclose()
    problem, created = asyncio.run(link())
    assert not created and problem.incident_ids == ["INC-A-1", "INC-B-1"]


@pytest.mark.parametrize("record", [b'{"name": "x", "role": "service_desk", "token_sha256": "zz", "csrf": "c"}',
                                    b'{"name": "x", "role": "pope"}', b"\xff"])
def test_a_poisoned_console_session_signs_out_rather_than_failing(redis_url, record):
    from alertgate.keys import console_session_key

    redis.Redis.from_url(redis_url).set(console_session_key("s1"), record)
    with client_for(redis_url) as client:
        client.cookies.set("ag_console", "s1")
        answer = client.get("/console/queue", follow_redirects=False)
    assert answer.status_code in (200, 303) and "internal" not in answer.text, answer.text


@pytest.fixture
def one_attempt_config(config: Path) -> Path:  # noqa: F811
    settings = yaml.safe_load((config / "alertgate.yaml").read_text())
    settings["notify"]["max_attempts"] = 1
    (config / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    return config


def test_a_dispatch_that_always_fails_stops_is_counted_and_stays_visible(redis_url, one_attempt_config):
    """The sweep queued a failing dispatch again every 30 s, forever. Now it gives up after
    SWEEP_ATTEMPTS tries: counted, logged, the jobs kept in RQ's failed registry."""
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from alertgate.keys import intents_keys

    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(one_attempt_config)) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Stuck")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
    store, key = ticket_hash(redis_url, tid)
    store.delete(key + ":tl")
    store.set(key + ":tl", "not a list")          # every read of the ticket now fails (WRONGTYPE)
    store.hset(key, "created_at", "1700000000")  # old enough for the sweep
    queue_redis = redis.Redis.from_url(redis_url)
    Queue("alertgate-dispatch", connection=queue_redis).empty()
    queue_redis.delete(*intents_keys())          # (its first dispatch lost: the sweep's to do)
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(one_attempt_config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    set_context(settings)
    answers = []
    with structlog.testing.capture_logs() as logged:
        for _ in range(recovery.SWEEP_ATTEMPTS + 2):
            time.sleep(0.01)
            answers.append(sweep_now(queue_redis))
            burst(redis_url, one_attempt_config)
    assert answers[:recovery.SWEEP_ATTEMPTS] == ["1 dispatch queued again"] * recovery.SWEEP_ATTEMPTS
    assert answers[recovery.SWEEP_ATTEMPTS:] == ["nothing owed"] * 2
    failed = FailedJobRegistry("alertgate-dispatch", connection=queue_redis).get_job_ids()
    assert any(tid in job_id for job_id in failed)  # (ids within one second coincide here; 30 s apart in use)
    assert [(e["ticket_id"], e["kind"]) for e in logged if e["event"] == "work_abandoned"] == [(tid, "dispatch")]
    store.delete(key + ":tl")
    shutil.rmtree(one_attempt_config, ignore_errors=True)


@pytest.mark.parametrize("change", [{"recurrence": "FREQ=FORTNIGHTLY"}, {"recurrence": "FREQ=DAILY;UNTIL=garbage"},
                                    {"timezone": "Mars/Olympus", "recurrence": "FREQ=DAILY"}])
def test_a_window_record_that_cannot_be_worked_breaks_no_intake_and_no_read(redis_url, change):
    """Written by hand or by another version: the other windows still hold their alerts, every
    other alert is taken, and the window lists stay readable."""
    from datetime import datetime, timedelta, timezone

    import msgspec

    from alertgate.keys import maintenance_key

    now = datetime.now(timezone.utc)
    with client_for(redis_url) as client:
        ids = [client.post("/api/v1/maintenance", headers=DESK, json={
            "title": f"patch {ci}", "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "matchers": [{"field": "ci", "op": "eq", "value": ci}]}).json()["window"]["id"] for ci in ("db8", "db9")]
    raw = redis.Redis.from_url(redis_url)
    record = msgspec.json.decode(raw.get(maintenance_key(ids[0])))
    raw.set(maintenance_key(ids[0]), msgspec.json.encode({**record, **change}))
    with client_for(redis_url) as client:
        answers = [client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                               json=am_body(am_alert("DiskFull", host=host))) for host in ("db8", "db9", "web1")]
        reads = [client.get(path, headers=VIEW) for path in (
            "/api/v1/maintenance", "/api/v1/maintenance?active=true", f"/api/v1/maintenance/{ids[1]}",
            f"/api/v1/maintenance/{ids[0]}")]
        from tests.integration.test_console import sign_in
        sign_in(client, VIEWER_SECRET)
        console = client.get("/console/maintenance")
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    outcomes = [a.json()["results"][0]["outcome"] for a in answers]
    assert outcomes[1:] == ["suppressed", "new"] and outcomes[0] in ("new", "suppressed")
    assert [r.status_code for r in reads] == [200] * 4, [r.text for r in reads]
    if outcomes[0] == "new":   # (an unknown zone is read as UTC: that window still works)
        assert reads[3].json()["unusable"] and not reads[3].json()["active"]
    assert console.status_code == 200 and "patch db9" in console.text, console.text
    if outcomes[0] == "new":
        assert "unusable" in console.text


def test_heartbeat_and_problem_records_with_zoneless_times_are_read_as_utc(redis_url):
    """Written by hand or by another version: the heartbeat list and one heartbeat answered 500
    (its age, a zoneless time less an aware one); the sweep and a ping still work."""
    import asyncio

    import msgspec

    from alertgate.heartbeats.store import HeartbeatStore
    from alertgate.keys import PROBLEM_INDEX, heartbeat_key, problem_key

    raw = redis.Redis.from_url(redis_url)
    with client_for(redis_url) as client:
        client.post("/api/v1/heartbeats/nightly", headers=SOURCE, json={"timeout": "1h"})
        record = msgspec.json.decode(raw.get(heartbeat_key("nightly")))
        raw.set(heartbeat_key("nightly"), msgspec.json.encode({
            **record, "last_seen": "2026-12-07T10:00:00", "expires_at": "2026-12-07T11:00:00",
            "created_at": "2026-12-07T09:00:00", "schedule": "not a cron"}))
        raw.set(problem_key("PRB-000001"), b'{"id": "PRB-000001", "title": "t", "ci": "c", "reason": "r", '
                                           b'"created_at": "2026-12-07T10:00:00", "updated_at": "2026-12-07T10:00:00"}')
        raw.zadd(PROBLEM_INDEX, {"PRB-000001": 1})
        answers = [client.get(path, headers=VIEW) for path in (
            "/api/v1/heartbeats", "/api/v1/heartbeats/nightly", "/api/v1/problems", "/api/v1/problems/PRB-000001")]
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert answers[1].json()["last_seen"] == "2026-12-07T10:00:00Z"
        assert answers[3].json()["created_at"] == "2026-12-07T10:00:00Z"

        async def sweep():
            from redis.asyncio import Redis
            from alertgate.intake.heartbeats import HeartbeatFeed
            from alertgate.settings import load_settings
            client_ = Redis.from_url(redis_url)
            try:
                async def send(alerts, now):
                    return []
                feed = HeartbeatFeed(HeartbeatStore(client_), load_settings({}), send)
                from datetime import datetime, timezone
                return await feed.sweep(datetime.now(timezone.utc))
            finally:
                await client_.aclose()
        asyncio.run(sweep())   # (its deadline is in the deadlines zset: not due yet; read without a fault)
        assert client.post("/api/v1/heartbeats/nightly", headers=SOURCE).status_code == 200
