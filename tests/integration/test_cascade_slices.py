"""A master's duplicates follow it into resolved and closed a slice at a time (tickets/cascade.py).

One script carrying 100,000 duplicates held Redis for 1.4–3.0 s (bench/cascade_pause.py): every
sender's alert waited that long. Now the call that changes the master moves the first slice
(``cascade.SLICE`` duplicates), its caller the rest a slice per call, and the worker's sweep
finishes a cascade cut short (a gateway killed between two slices: here the continuation is
left out, which leaves Redis as such a crash would)."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from alertgate.keys import cascades_key, tag_of, ticket_key
from alertgate.tickets import cascade
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_lost_jobs import DESK, recover
from tests.integration.test_workers import config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

SLICE = cascade.SLICE
DUPLICATES = 2_500    # three slices


def firing(client, name: str, first: int, count: int) -> list[dict]:
    """``count`` occurrences of one alert (a start time each), 500 a request."""
    results = []
    for start in range(first, first + count, 500):
        alerts = [am_alert(name, host="sw-9", starts=f"2026-11-22T03:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z")
                  for n in range(start, min(start + 500, first + count))]
        answer = client.post("/api/v1/alerts/alertmanager", json=am_body(*alerts), headers=SOURCE)
        assert answer.status_code == 200, answer.text
        results += answer.json()["results"]
    return results


def master_with_duplicates(client, name: str) -> str:
    results = firing(client, name, 0, DUPLICATES + 1)
    assert [r["outcome"] for r in results] == ["new"] + ["duplicate"] * DUPLICATES
    return results[0]["ticket_id"]


def statuses(redis_url: str, master: str, count: int = DUPLICATES) -> list[str]:
    pipe = redis.Redis.from_url(redis_url).pipeline(transaction=False)
    for k in range(1, count + 1):
        pipe.hget(ticket_key(f"{master}-{k}"), "status")
    return [value.decode() for value in pipe.execute()]


def entries(redis_url: str, ticket_id: str) -> list[str]:
    return [json.loads(e)["action"] for e in redis.Redis.from_url(redis_url).lrange(ticket_key(ticket_id) + ":tl", 0, -1)]


def listed(redis_url: str, master: str) -> bool:
    return redis.Redis.from_url(redis_url).zscore(cascades_key(tag_of(master)), master) is not None


def recovery(client, name: str) -> dict:
    [result] = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(
        am_alert(name, host="sw-9", starts="2026-11-22T03:00:00.000Z", status="resolved"))).json()["results"]
    return result


@contextmanager
def crash_between_slices():
    """The callers' continuation left out: Redis as a gateway killed after the first slice leaves it."""
    async def nothing(redis, master_ids) -> int:
        return 0
    finish, cascade.finish = cascade.finish, nothing
    try:
        yield
    finally:
        cascade.finish = finish


def test_the_desk_s_resolve_and_close_carry_every_duplicate(redis_url):
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedDesk")
        for action, body in (("resolve", {"resolution_code": "resolved_by_workaround"}),
                             ("close", {"closure_code": "completed"})):
            answer = client.post(f"/api/v1/tickets/{master}/actions/{action}", json=body, headers=DESK)
            assert answer.status_code == 200, answer.text
    assert set(statuses(redis_url, master)) == {"closed"}
    assert entries(redis_url, f"{master}-{DUPLICATES}") == ["cascade_resolved", "cascade_closed"]
    assert not listed(redis_url, master)
    assert not redis.Redis.from_url(redis_url).hexists(ticket_key(master), "cascade")


def test_a_recovery_resolves_every_duplicate_and_answers_resolved(redis_url):
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedRecovery")
        answer = recovery(client, "SlicedRecovery")
    assert (answer["outcome"], answer["ticket_id"], answer["master_id"]) == ("resolved", master, master)
    assert set(statuses(redis_url, master)) == {"resolved"}
    assert not listed(redis_url, master)


def test_a_resolve_cut_short_is_finished_by_the_sweep(redis_url, config):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        master = master_with_duplicates(client, "SlicedCrash")
        with crash_between_slices():
            answer = client.post(f"/api/v1/tickets/{master}/actions/resolve", headers=DESK,
                                 json={"resolution_code": "resolved_by_workaround"})
        assert answer.status_code == 200
    shown = statuses(redis_url, master)
    assert shown[:SLICE] == ["resolved"] * SLICE and set(shown[SLICE:]) == {"open"}   # (one slice in the transaction)
    assert listed(redis_url, master)
    assert "1 cascades to duplicates finished" in recover(redis_url, config)
    assert set(statuses(redis_url, master)) == {"resolved"}
    assert entries(redis_url, f"{master}-1") == entries(redis_url, f"{master}-{DUPLICATES}") == ["cascade_resolved"]
    assert not listed(redis_url, master)
    assert "cascades" not in recover(redis_url, config)


def test_a_recovery_cut_short_is_finished_by_the_sweep(redis_url, config):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        master = master_with_duplicates(client, "SlicedRecoveryCrash")
        with crash_between_slices():
            assert recovery(client, "SlicedRecoveryCrash")["outcome"] == "resolved"
    assert statuses(redis_url, master).count("resolved") == SLICE
    assert "1 cascades to duplicates finished" in recover(redis_url, config)
    assert set(statuses(redis_url, master)) == {"resolved"}


def test_a_close_before_the_resolve_s_cascade_ended_closes_every_duplicate(redis_url):
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedTwice")
        with crash_between_slices():
            client.post(f"/api/v1/tickets/{master}/actions/resolve", headers=DESK, json={"resolution_code": "resolved_by_workaround"})
        client.post(f"/api/v1/tickets/{master}/actions/close", headers=DESK, json={"closure_code": "completed"})
    assert set(statuses(redis_url, master)) == {"closed"}
    assert entries(redis_url, f"{master}-1") == ["cascade_resolved", "cascade_closed"]
    assert entries(redis_url, f"{master}-{DUPLICATES}") == ["cascade_closed"]   # (open → closed: the close's cascade)
    assert not listed(redis_url, master)


def test_a_master_reopened_mid_cascade_keeps_its_new_duplicates_open(redis_url):
    """The rest of the recovery's cascade resolves the duplicates it had (as one script did
    before the reopening); a duplicate after the reopening is the reopened master's."""
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedReopen")
        with crash_between_slices():
            assert recovery(client, "SlicedReopen")["outcome"] == "resolved"
        assert [r["outcome"] for r in firing(client, "SlicedReopen", 10_000, 2)] == ["reopened", "duplicate"]
        asyncio.run(cascade.finish(aredis.Redis.from_url(redis_url), [master]))
    assert set(statuses(redis_url, master)) == {"resolved"}
    assert statuses(redis_url, master, DUPLICATES + 1)[-1] == "in_progress"


def test_slices_run_twice_at_once_change_each_duplicate_once(redis_url):
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedRace")
        with crash_between_slices():
            client.post(f"/api/v1/tickets/{master}/actions/resolve", headers=DESK, json={"resolution_code": "resolved_by_workaround"})

    async def both() -> None:
        one, two = aredis.Redis.from_url(redis_url), aredis.Redis.from_url(redis_url)
        await asyncio.gather(cascade.finish(one, [master]), cascade.finish(two, [master]), cascade.finish_stale(one, 0))
    asyncio.run(both())
    assert set(statuses(redis_url, master)) == {"resolved"}
    every = redis.Redis.from_url(redis_url).pipeline(transaction=False)
    for k in range(1, DUPLICATES + 1):
        every.llen(ticket_key(f"{master}-{k}") + ":tl")
    assert set(every.execute()) == {1}


def test_an_unreadable_cascade_is_dropped_and_reads_go_on(redis_url):
    with client_for(redis_url) as client:
        master = master_with_duplicates(client, "SlicedPoison")
        with crash_between_slices():
            client.post(f"/api/v1/tickets/{master}/actions/resolve", headers=DESK, json={"resolution_code": "resolved_by_workaround"})
        redis.Redis.from_url(redis_url).hset(ticket_key(master), "cascade", b"\xc1 not msgpack")
        assert asyncio.run(cascade.finish(aredis.Redis.from_url(redis_url), [master])) == 1
        assert not listed(redis_url, master)
        assert client.get(f"/api/v1/tickets/{master}", headers=DESK).json()["ticket"]["status"] == "resolved"


def test_a_listed_cascade_of_no_ticket_is_dropped_and_the_sweep_goes_on(redis_url):
    state = redis.Redis.from_url(redis_url)
    key = cascades_key("A")
    state.zadd(key, {"not a ticket": 1, "INC-AGONE-1": 1})   # (garbage; a master whose record is gone)
    assert asyncio.run(cascade.finish_stale(aredis.Redis.from_url(redis_url), 0)) == 1
    assert state.zcard(key) == 0


def test_redis_lost_after_the_first_slice_still_answers_the_action_done(redis_url, config):  # noqa: F811
    """The resolve is written: a fault while carrying the cascade on is not the desk's to retry
    (its retry would be refused, the ticket being resolved already). The sweep finishes it."""
    async def lost(redis, master_ids) -> int:
        raise RedisConnectionError("gone")
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        master = master_with_duplicates(client, "SlicedLost")
        finish, cascade.finish = cascade.finish, lost
        try:
            answer = client.post(f"/api/v1/tickets/{master}/actions/resolve", headers=DESK,
                                 json={"resolution_code": "resolved_by_workaround"})
            recovered = recovery(client, "SlicedLost")   # (a recovery of the resolved master: nothing to carry on)
        finally:
            cascade.finish = finish
    assert answer.status_code == 200 and answer.json()["status"] == "resolved"
    assert recovered["outcome"] == "recovered"
    assert statuses(redis_url, master).count("resolved") == SLICE
    assert "1 cascades to duplicates finished" in recover(redis_url, config)
    assert set(statuses(redis_url, master)) == {"resolved"}
