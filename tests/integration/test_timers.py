"""Issue #27, items 4 and 5: a ticket's timers are one entry in its shard's timer set (at its next
timer), moved into the intents stream once due and fired by the dispatcher, once, whichever worker
dies at whichever step: a real Redis, real SMTP, the consumer stopped as a SIGKILL would stop it (a BaseException
nothing catches), then another consumer taking over."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import yaml
from redis.asyncio import Redis as AsyncRedis

from alertgate.keys import intents_keys, ticket_key, timers_keys
from alertgate.workers import jobs
from alertgate.workers.context import set_context
from alertgate.workers.intents import IntentStreams
from alertgate.workers.plan import Timer
from alertgate.workers.timers import TimerSets
from alertgate.workers.worker import work_burst
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_intents import Killed, fire, run_consumer, settings_for
from tests.integration.test_workers import config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


@pytest.fixture
def escalating(config):  # noqa: F811
    """P1: only an escalation comes due within the test (1 s); SLA targets and stakeholders later."""
    tables = yaml.safe_load((config / "tables.yaml").read_text())
    tables["sla_minutes"][1] = [60, 60, 120]
    tables["notification"]["timeline"] = {1: ["1h", "2h"]}
    tables["escalation"] = {1: [{"after": "1s", "notify": "project_manager"}]}
    (config / "tables.yaml").write_text(yaml.safe_dump(tables))
    return config


def entries(redis_url: str, ticket_id: str) -> list[tuple[bytes, float]]:
    """The ticket's entries in the timer sets (its own, and any an earlier version wrote per timer)."""
    state = redis.Redis.from_url(redis_url)
    return [(m, score) for key in timers_keys() for m, score in state.zrange(key, 0, -1, withscores=True)
            if m.split(b"\t")[0] == ticket_id.encode()]


def first_timer(redis_url: str, config, ticket_id: str, after: float = 0.0) -> float:  # noqa: F811
    """When the ticket's first timer (after ``after``) is due, as ``workers/plan.py`` plans it from
    the stored ticket."""
    from alertgate.tickets.store import TicketStore
    from alertgate.workers.plan import plan

    settings = settings_for(redis_url, config)
    ctx = set_context(settings)

    async def read():
        client = AsyncRedis.from_url(redis_url)
        try:
            return await TicketStore(client).get(ticket_id)
        finally:
            await client.aclose()
    return min(at for t in plan(asyncio.run(read()), ctx.tables, settings.notify.warn_at)
               if (at := t.at.timestamp()) > after)


def timer_intents(redis_url: str) -> list[str]:
    state = redis.Redis.from_url(redis_url)
    return [f[b"ticket"].decode() for s in intents_keys() for _, f in state.xrange(s) if f[b"work"] == b"timer"]


def consume(settings, name: str, fire=None, read_only: bool = False, claim_idle: float = 0.0) -> int:
    """One consumer's step: due timers moved, intents read (and, unless ``read_only``, worked)."""
    return run_consumer(settings, name, read_only=read_only, claim_idle=claim_idle, fire=fire or jobs.fire_due_on)


def escalations(redis_url: str, ticket_id: str) -> int:
    timeline = redis.Redis.from_url(redis_url).lrange(ticket_key(ticket_id) + ":tl", 0, -1)
    return [json.loads(e)["action"] for e in timeline].count("escalate")


def dispatched_p1(redis_url: str, config, host: str) -> str:  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, host)["ticket_id"]
    assert consume(settings_for(redis_url, config), "dispatch") == 1
    return tid


def test_a_master_s_timers_are_one_set_entry_at_its_first_and_planning_again_adds_none(redis_url, config):  # noqa: F811
    tid = dispatched_p1(redis_url, config, "core-sw-1")
    first = entries(redis_url, tid)
    assert first == [(tid.encode(), first_timer(redis_url, config, tid))]
    set_context(settings_for(redis_url, config))
    answer = jobs.replan(tid)
    assert int(answer.split()[0]) >= 4, answer   # (SLA targets, the escalation steps, the stakeholders)
    assert entries(redis_url, tid) == first
    assert redis.Redis.from_url(redis_url).zcard("rq:scheduled:alertgate-timers") == 0   # (none in RQ)


def test_planning_keeps_the_earlier_time_never_a_later_one(redis_url):
    """``ZADD LT``: a plan whose first timer is later leaves the entry where it was; an earlier one moves it."""
    now = datetime.now(UTC)

    async def body() -> list[float | None]:
        client = AsyncRedis.from_url(redis_url)
        sets, seen = TimerSets(client), []
        for minutes in (10, 20, 5):
            await sets.plan("INC-AA-1", [Timer(now + timedelta(minutes=minutes + k), "stakeholder", f"{k}:pm")
                                         for k in range(3)])
            seen.append(await sets.next_at("INC-AA-1"))
        await sets.plan("INC-AA-1", [])
        seen.append(await sets.next_at("INC-AA-1"))
        seen.append(await sets.next_at("INC-AA-2"))
        await client.aclose()
        return seen
    ten, five = (now + timedelta(minutes=10)).timestamp(), (now + timedelta(minutes=5)).timestamp()
    assert asyncio.run(body()) == [ten, ten, five, five, None]


def test_due_entries_become_one_intent_each_however_many_workers_look(redis_url):
    """Four clients move the same due entries at once: 250 tickets' own, and for each one member an
    earlier version wrote per timer ("<id>\t<kind>\t<ISO>\t<step>"): each becomes exactly one
    intent, carrying its due time."""
    from alertgate.keys import tag_of, timers_key
    from alertgate.workers.timers import since_of

    due = datetime.now(UTC) - timedelta(seconds=5)
    tickets = [f"INC-{c}{c}-{n}" for c in "ABCDEFGHJK" for n in range(1, 26)]

    async def plan() -> None:
        client = AsyncRedis.from_url(redis_url)
        for tid in tickets:
            await TimerSets(client).plan(tid, [Timer(due + timedelta(milliseconds=k), "stakeholder", f"{k}:pm")
                                               for k in range(4)])
            old = due - timedelta(seconds=1)
            await client.zadd(timers_key(tag_of(tid)), {f"{tid}\tstakeholder\t{old.isoformat()}\t1:pm": old.timestamp()})
        await client.aclose()
    asyncio.run(plan())
    moved: list[int] = []

    def release() -> None:
        async def body() -> None:
            client = AsyncRedis.from_url(redis_url)
            sets = TimerSets(client)
            while (n := await sets.release_due(time.time(), count=7, room=10_000)):
                moved.append(n)
            await client.aclose()
        asyncio.run(body())
    workers = [threading.Thread(target=release) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    found = timer_intents(redis_url)
    assert sum(moved) == len(found) == 500
    assert sorted(set(found)) == sorted(tickets) and all(found.count(t) == 2 for t in tickets)
    state = redis.Redis.from_url(redis_url)
    times = sorted({since_of(f[b"timer"].decode()) for s in intents_keys() for _, f in state.xrange(s)})
    assert times == [(due - timedelta(seconds=1)).timestamp(), due.timestamp()]
    assert sum(state.zcard(k) for k in timers_keys()) == 0


@pytest.mark.parametrize("step", ["after_read", "after_notice", "after_change", "before_ack"])
def test_a_consumer_killed_at_each_step_of_an_escalation_escalates_and_tells_once(
        redis_url, escalating, mailbox, step, monkeypatch):  # noqa: F811
    """Killed after reading the due timer, after its notice (before the ticket's change), after the
    change, before the acknowledgement: the next consumer takes it over; one escalation, one notice."""
    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-2")
    time.sleep(1.3)   # the escalation is due
    if step == "after_read":
        assert consume(settings, "first", read_only=True) == 1
    else:
        from alertgate.tickets.store import TicketStore

        real = {"change": TicketStore.change}

        async def change_killed_before(self, ticket_id, update):
            raise Killed

        async def change_killed_after(self, ticket_id, update):
            await real["change"](self, ticket_id, update)
            raise Killed

        async def done(self, intents):
            raise Killed
        owner, name, replacement = {"after_notice": (TicketStore, "change", change_killed_before),
                                    "after_change": (TicketStore, "change", change_killed_after),
                                    "before_ack": (IntentStreams, "done", done)}[step]
        with monkeypatch.context() as patched:
            patched.setattr(owner, name, replacement)
            with pytest.raises(Killed):
                consume(settings, "first")
    assert timer_intents(redis_url) == [tid]                # not acknowledged: still there
    assert consume(settings, "second", claim_idle=0.0) == 1   # taken over
    assert timer_intents(redis_url) == []
    assert escalations(redis_url, tid) == 1
    notices = [m for m in mailbox.to("pm@example.com") if m["Subject"].startswith(f"[P1] Escalation 1 of {tid}")]
    assert len(notices) == 1, [m["Subject"] for m in mailbox.to("pm@example.com")]


def test_a_timer_that_fails_here_is_handed_to_rq_and_fired_there_once(redis_url, escalating, mailbox):  # noqa: F811
    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-3")
    time.sleep(1.3)

    async def broken(ctx, redis_client, store, ticket_id, timer):
        raise RuntimeError("a bug in this timer")
    assert consume(settings, "first", fire=broken) == 1
    assert timer_intents(redis_url) == []
    queued = [q.decode() for q in redis.Redis.from_url(redis_url).lrange("rq:queue:alertgate-timers", 0, -1)]
    assert len(queued) == 1 and queued[0].startswith(f"{tid}-timers-")
    work_burst(settings, redis.Redis.from_url(redis_url))   # RQ's forked work horse fires it
    assert escalations(redis_url, tid) == 1
    assert len([m for m in mailbox.to("pm@example.com") if "Escalation 1" in m["Subject"]]) == 1


def test_the_sweep_counts_a_due_timer_not_yet_moved_as_pending(redis_url, escalating):  # noqa: F811
    """A dispatcher behind (or down a while) is not lost work: the sweep re-plans nothing for it."""
    dispatched_p1(redis_url, escalating, "core-sw-4")
    time.sleep(1.3)   # next_timer_at (the escalation) is overdue, the timer still in its set
    set_context(settings_for(redis_url, escalating))
    assert jobs.sweep(interval=0.0) == "nothing owed"


def test_timers_due_together_fire_in_one_intent_and_the_entry_moves_to_the_next(redis_url, escalating, mailbox):  # noqa: F811
    """The escalation and the first stakeholder notice due in the same second: one intent fires
    both, once each; the entry comes back at the ticket's next timer, and ``next_timer_at`` with it."""
    tables = yaml.safe_load((escalating / "tables.yaml").read_text())
    tables["notification"]["timeline"] = {1: ["1s", "2h"]}
    (escalating / "tables.yaml").write_text(yaml.safe_dump(tables))
    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-5")
    time.sleep(1.3)
    assert consume(settings, "first") == 1
    assert escalations(redis_url, tid) == 1
    told = [m["Subject"] for m in mailbox.to("pm@example.com")]
    assert len([s for s in told if s.startswith(f"[P1] Escalation 1 of {tid}")]) == 1, told
    assert len([s for s in told if s.startswith(f"[P1] Incident notice {tid}")]) == 1, told   # (the 1st stakeholder)
    [(member, due)] = entries(redis_url, tid)
    assert member == tid.encode() and due == first_timer(redis_url, escalating, tid, after=time.time())
    assert float(redis.Redis.from_url(redis_url).hget(ticket_key(tid), "next_timer_at")) == due
    assert consume(settings, "second") == 0   # (nothing more due)


def test_a_timer_an_earlier_version_planned_fires_once_and_the_ticket_gets_its_entry(redis_url, escalating, mailbox):  # noqa: F811
    """A set written before this version: one member per timer. The member is moved and fired as the
    ticket's entry due at its time (the escalation, once); the ticket then has its own entry."""
    from alertgate.keys import tag_of, timers_key

    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-6")
    state = redis.Redis.from_url(redis_url)
    [(_, due)] = entries(redis_url, tid)
    state.zrem(timers_key(tag_of(tid)), tid)
    at = datetime.fromtimestamp(due, UTC)
    state.zadd(timers_key(tag_of(tid)), {f"{tid}\tescalation\t{at.isoformat()}\t1": due})
    time.sleep(1.3)
    assert consume(settings, "first") == 1
    assert escalations(redis_url, tid) == 1
    assert [m for m, _ in entries(redis_url, tid)] == [tid.encode()]


def test_a_timer_job_an_earlier_version_queued_in_rq_still_fires(redis_url, escalating, mailbox):  # noqa: F811
    """``fire_timer(ticket, kind, step, at)``, as RQ held it before: fired by today's code, once."""
    from alertgate.keys import tag_of, timers_key
    from alertgate.work_queue import TIMERS, queue
    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-7")
    [(_, due)] = entries(redis_url, tid)
    connection = redis.Redis.from_url(redis_url)
    connection.zrem(timers_key(tag_of(tid)), tid)   # (only RQ's job can fire it)
    time.sleep(1.3)
    at = datetime.fromtimestamp(due, UTC).isoformat()
    for _ in range(2):   # (and a retry of it)
        queue(TIMERS, connection).enqueue("alertgate.workers.jobs.fire_timer", tid, "escalation", "1", at)
    assert work_burst(settings, connection) == 0   # (no intent: RQ fired it)
    assert escalations(redis_url, tid) == 1
    assert len([m for m in mailbox.to("pm@example.com") if "Escalation 1" in m["Subject"]]) == 1
    assert [m for m, _ in entries(redis_url, tid)] == [tid.encode()]   # (and planned its next)


def test_a_new_master_is_not_queued_behind_a_backlog_of_due_timers(redis_url, escalating, mailbox):  # noqa: F811
    """After a storm of 650,000 masters the streams held 627,000 due timers, every one moved at
    once, and a new P1 waited behind them (a worker fires about 300 a second: 35 minutes). Due
    timers now wait in their sets while a shard's stream holds ``STREAM_ROOM`` intents: the next
    read (50 an intents stream) takes the new master's dispatch with them."""
    from alertgate.keys import tag_of, timers_key
    from alertgate.workers.timers import STREAM_ROOM

    import re

    from alertgate.keys import BASE32
    from tests.conftest import VIEWER_SECRET

    backlog = [f"INC-{shard}{a}{b}ZZZ-1" for shard in BASE32 for a in "ABCDEFGHIJKL" for b in "ABCDEFGHIJK"]
    state = redis.Redis.from_url(redis_url)
    due = time.time() - 60
    with state.pipeline(transaction=False) as pipe:   # (132 a shard: more than two reads take)
        for tid in backlog:
            pipe.zadd(timers_key(tag_of(tid)), {tid: due})
        pipe.execute()
    settings = settings_for(redis_url, escalating)
    assert consume(settings, "first", read_only=True) <= 32 * STREAM_ROOM   # (read: left pending, then taken over)
    assert max(state.xlen(s) for s in intents_keys()) <= STREAM_ROOM
    assert sum(state.zcard(k) for k in timers_keys()) >= len(backlog) - 32 * STREAM_ROOM   # (they wait there)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(escalating)) as client:
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).text
        overdue = float(re.search(r"^alertgate_timers_overdue (\S+)$", scraped, re.M).group(1))
        assert overdue == sum(state.zcard(k) for k in timers_keys())
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(escalating)) as client:
        new = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                          json=am_body(am_alert("CoreDown", "core-sw-9", severity="critical"))).json()["results"][0]
    consume(settings, "second")
    assert state.hget(ticket_key(new["ticket_id"]), "status") == b"assigned"
    while consume(settings, "second"):   # (and the backlog is fired, each timer once)
        pass
    left = [m.decode() for k in timers_keys() for m in state.zrange(k, 0, -1)]
    assert left == [new["ticket_id"]] and sum(state.xlen(s) for s in intents_keys()) == 0   # (its own next timer)


def test_timers_due_together_are_fired_from_one_read_and_the_next_planned_as_a_fresh_read_would(
        redis_url, escalating, mailbox, monkeypatch):  # noqa: F811
    """Two escalations due in one intent: the ticket is read once, each escalation planned from
    the ticket the one before wrote (three whole reads a ticket were a fifth of the timers' CPU,
    ``bench/timer_rate.py``), and the entry put back where a fresh read plans it."""
    from alertgate.tickets.store import TicketStore

    tables = yaml.safe_load((escalating / "tables.yaml").read_text())
    tables["escalation"] = {1: [{"after": "1s", "notify": "project_manager"}, {"after": "1s", "notify": "maintenance_engineer"}]}
    (escalating / "tables.yaml").write_text(yaml.safe_dump(tables))
    settings = settings_for(redis_url, escalating)
    tid = dispatched_p1(redis_url, escalating, "core-sw-6")
    reads: list[str] = []
    real_get = TicketStore.get

    async def counted_get(self, ticket_id):
        reads.append(ticket_id)
        return await real_get(self, ticket_id)
    monkeypatch.setattr(TicketStore, "get", counted_get)
    time.sleep(1.3)
    assert consume(settings, "first") == 1
    assert escalations(redis_url, tid) == 2 and reads.count(tid) == 1
    told = [m["Subject"] for m in mailbox.to("pm@example.com")]
    assert len([s for s in told if s.startswith(f"[P1] Escalation 1 of {tid}")]) == 1, told
    [(member, due)] = entries(redis_url, tid)
    monkeypatch.setattr(TicketStore, "get", real_get)
    assert member == tid.encode() and due == first_timer(redis_url, escalating, tid, after=time.time())
