"""Issue #20: RQ can lose a job (a work horse killed just after the fork leaves it in no queue
and no registry; a queue Redis can restart empty). Each kind of work is found again by the
sweep from the ticket's own marks (workers/recovery.py). A lost job is made here by emptying the
queues before any worker ran it: what a killed horse or an empty queue Redis leaves behind."""

from __future__ import annotations

import time

import pytest
import redis
from rq.registry import ScheduledJobRegistry

from alertgate.keys import ticket_prefix, timers_key
from alertgate.settings import load_settings
from alertgate.workers.context import set_context
from alertgate.work_queue import QUEUES, queue
from tests.conftest import BOOTSTRAP, DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_poison_records import sweep_now
from tests.integration.test_workers import burst, config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}


def lose_every_job(connection: redis.Redis) -> None:
    """RQ's jobs, the intents of ingest and the planned timers (a queue Redis that restarted
    empty, a state Redis restored from a backup older than the intents and timers)."""
    from alertgate.keys import intents_keys, timers_keys

    connection.delete(*intents_keys(), *timers_keys())
    for name in QUEUES:
        q = queue(name, connection)
        q.empty()
        for job_id in ScheduledJobRegistry(queue=q).get_job_ids():
            ScheduledJobRegistry(queue=q).remove(job_id, delete_job=True)


def recover(redis_url: str, config) -> str:  # noqa: F811
    """The sweep finds what is owed, a worker does it."""
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    set_context(settings)
    time.sleep(0.01)
    answer = sweep_now(redis.Redis.from_url(redis_url))
    burst(redis_url, config)
    return answer


def new_p1(client, name: str) -> str:
    body = am_body(am_alert(name, host="core-sw-8", severity="critical"))
    return client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"]


def test_a_lost_dispatch_is_found_again(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "LostDispatch")
        lose_every_job(redis.Redis.from_url(redis_url))
        assert recover(redis_url, config) == "1 dispatch queued again"
        ticket = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
    assert ticket["status"] == "assigned" and len(mailbox.to("net@example.com")) == 1
    assert recover(redis_url, config) == "nothing owed"


def test_a_lost_restoration_notice_is_found_again(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "LostRestoration")
        burst(redis_url, config)
        recovery_body = am_body(am_alert("LostRestoration", host="core-sw-8", severity="critical", status="resolved"))
        assert client.post("/api/v1/alerts/alertmanager", json=recovery_body,
                           headers=SOURCE).json()["results"][0]["outcome"] == "resolved"
        lose_every_job(redis.Redis.from_url(redis_url))
        assert "1 restoration" in recover(redis_url, config)
    restored = [m for m in mailbox.messages if m[1]["Subject"].startswith("[P1] Restored") and tid in m[1]["Subject"]]
    assert restored
    assert recover(redis_url, config) == "nothing owed"


def test_a_lost_replan_after_an_action_is_found_again(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "LostReplan")
        burst(redis_url, config)
        client.post(f"/api/v1/tickets/{tid}/actions/reassign", json={"group": "server", "assignee": "li"}, headers=DESK)
        lose_every_job(redis.Redis.from_url(redis_url))   # the replan and every timer with it
        answer = recover(redis_url, config)
    assert "1 replan" in answer
    assert redis.Redis.from_url(redis_url).zscore(timers_key(tid.split("-")[1]), tid) is not None   # (workers/timers.py)


def test_a_lost_problem_check_is_found_again(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "LostProblem")
        burst(redis_url, config)
        for action, body in (("resolve", {"resolution_code": "resolved_by_workaround"}),
                             ("close", {"closure_code": "completed"})):
            client.post(f"/api/v1/tickets/{tid}/actions/{action}", json=body, headers=DESK)
        lose_every_job(redis.Redis.from_url(redis_url))
        assert "1 problem_on_close" in recover(redis_url, config)
        problems = client.get("/api/v1/problems", headers=VIEW).json()["problems"]
    assert any(tid in p["incident_ids"] for p in problems)


def test_a_lost_timer_is_found_again(redis_url, config, mailbox, sink):  # noqa: F811
    """The escalation timer (1 s after creation in this config) was lost: the ticket's
    next_timer_at is overdue, the sweep re-plans, and the escalation happens."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "LostTimer")
        burst(redis_url, config)
        lose_every_job(redis.Redis.from_url(redis_url))
        store = redis.Redis.from_url(redis_url)
        store.hset(ticket_prefix(tid.split("-")[1]) + tid, "next_timer_at", repr(time.time() - 60))
        assert "1 timers" in recover(redis_url, config)
        deadline = time.monotonic() + 15   # (the re-planned timer fires 1 s on; a loaded machine is slower)
        while True:
            time.sleep(1.2)
            burst(redis_url, config)
            ticket = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
            if ticket["escalation_level"] >= 1 or time.monotonic() > deadline:
                break
    assert ticket["escalation_level"] >= 1
