"""The masters index holds the masters in work, not every master ever opened: the sweep takes a
closed master out once it owes nothing (workers/recovery.py ``settled``), so the walks of the work
queue, the sweep and the reconciliation stay as long as the work, not as the history. The record
itself stays: read, listed and counted as before."""

from __future__ import annotations

import asyncio

import pytest
import redis

from alertgate.keys import masters_key, tag_of
from alertgate.tickets.store import TicketStore
from alertgate.workers import recovery
from tests.integration.helpers import client_for
from tests.integration.test_lost_jobs import DESK, VIEW, lose_every_job, new_p1, recover
from tests.integration.test_workers import burst, config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def indexed(redis_url: str, ticket_id: str) -> bool:
    return redis.Redis.from_url(redis_url).zscore(masters_key(tag_of(ticket_id)), ticket_id) is not None


def close(client, ticket_id: str) -> None:
    for action, body in (("resolve", {"resolution_code": "resolved_by_workaround"}),
                         ("close", {"closure_code": "completed"})):
        assert client.post(f"/api/v1/tickets/{ticket_id}/actions/{action}", json=body, headers=DESK).status_code == 200


def test_a_closed_master_leaves_the_masters_index_and_stays_readable(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        closed, resolved, working = (new_p1(client, name) for name in ("IndexClosed", "IndexResolved", "IndexWorking"))
        burst(redis_url, config)
        close(client, closed)
        assert client.post(f"/api/v1/tickets/{resolved}/actions/resolve", json={"resolution_code": "resolved_by_workaround"},
                           headers=DESK).status_code == 200
        burst(redis_url, config)   # (the closed P1's problem check: its owed mark is cleared)
        assert "1 closed masters out of the masters index" in recover(redis_url, config)
        assert not indexed(redis_url, closed)
        assert indexed(redis_url, resolved) and indexed(redis_url, working)
        assert "closed masters" not in recover(redis_url, config)   # (once)
        assert client.get(f"/api/v1/tickets/{closed}", headers=VIEW).json()["ticket"]["status"] == "closed"
        listed = [t["id"] for t in client.get("/api/v1/tickets?status=closed", headers=VIEW).json()["tickets"]]
        queue = [t["id"] for t in client.get("/api/v1/queue", headers=VIEW).json()["tickets"]]
    assert listed == [closed]
    assert working in queue and closed not in queue and resolved not in queue


def test_a_closed_master_that_still_owes_work_stays_until_it_is_done(redis_url, config, mailbox, sink):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "IndexOwes")
        burst(redis_url, config)
        close(client, tid)
        lose_every_job(redis.Redis.from_url(redis_url))   # its problem check is owed, its job lost
        assert "1 problem_on_close" in recover(redis_url, config)   # (queued again, and done)
        assert indexed(redis_url, tid)
        assert "1 closed masters out of the masters index" in recover(redis_url, config)
        problems = client.get("/api/v1/problems", headers=VIEW).json()["problems"]
    assert not indexed(redis_url, tid)
    assert any(tid in p["incident_ids"] for p in problems)


def test_the_index_is_left_alone_when_work_was_owed_after_the_sweep_read(redis_url, config, mailbox, sink):  # noqa: F811
    """The removal decides again in Redis, atomically: an action that owes the closed master work
    between the sweep's read and its removal keeps it in the index."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = new_p1(client, "IndexRace")
        burst(redis_url, config)
        close(client, tid)
        burst(redis_url, config)
    connection = redis.Redis.from_url(redis_url)
    key = connection.keys(f"*:t:{tid}")[0]
    connection.hset(key, "owed_replan", "1")

    async def forget() -> int:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        try:
            return await TicketStore(client).forget_settled([tid], recovery.FLAGGED, recovery.SWEEP_ATTEMPTS)
        finally:
            await client.aclose()

    assert asyncio.run(forget()) == 0 and indexed(redis_url, tid)
    connection.hset(key, "swept_replan", recovery.SWEEP_ATTEMPTS + 1)   # (given up: nothing more will come of it)
    assert asyncio.run(forget()) == 1 and not indexed(redis_url, tid)
