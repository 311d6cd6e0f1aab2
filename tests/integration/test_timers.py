"""Issue #27, item 4: a ticket's timers are one entry each in its shard's timer set, moved into the
intents stream once due and fired by the dispatcher, once, whichever worker dies at whichever
step: a real Redis, real SMTP, the consumer stopped as a SIGKILL would stop it (a BaseException
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
from tests.integration.helpers import client_for
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


def planned(redis_url: str, ticket_id: str) -> list[bytes]:
    state = redis.Redis.from_url(redis_url)
    return [m for key in timers_keys() for m in state.zrange(key, 0, -1) if m.startswith(ticket_id.encode() + b"\t")]


def timer_intents(redis_url: str) -> list[str]:
    state = redis.Redis.from_url(redis_url)
    return [f[b"ticket"].decode() for s in intents_keys() for _, f in state.xrange(s) if f[b"work"] == b"timer"]


def consume(settings, name: str, fire=None, read_only: bool = False, claim_idle: float = 0.0) -> int:
    """One consumer's step: due timers moved, intents read (and, unless ``read_only``, worked)."""
    return run_consumer(settings, name, read_only=read_only, claim_idle=claim_idle, fire=fire or jobs.fire_on)


def escalations(redis_url: str, ticket_id: str) -> int:
    timeline = redis.Redis.from_url(redis_url).lrange(ticket_key(ticket_id) + ":tl", 0, -1)
    return [json.loads(e)["action"] for e in timeline].count("escalate")


def dispatched_p1(redis_url: str, config, host: str) -> str:  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, host)["ticket_id"]
    assert consume(settings_for(redis_url, config), "dispatch") == 1
    return tid


def test_a_master_s_timers_are_one_set_entry_each_and_planning_again_adds_none(redis_url, config):  # noqa: F811
    tid = dispatched_p1(redis_url, config, "core-sw-1")
    first = planned(redis_url, tid)
    assert len(first) >= 4   # (SLA targets, the escalation steps, the stakeholders)
    set_context(settings_for(redis_url, config))
    assert jobs.replan(tid) == f"{len(first)} timers planned"
    assert sorted(planned(redis_url, tid)) == sorted(first)
    assert redis.Redis.from_url(redis_url).zcard("rq:scheduled:alertgate-timers") == 0   # (none in RQ)


def test_due_timers_become_one_intent_each_however_many_workers_look(redis_url):
    """Four clients move the same 1,000 due timers at once: each timer becomes exactly one intent."""
    due = datetime.now(UTC) - timedelta(seconds=5)
    tickets = [f"INC-{c}{c}-{n}" for c in "ABCDEFGHJK" for n in range(1, 26)]

    async def plan() -> None:
        client = AsyncRedis.from_url(redis_url)
        for tid in tickets:
            await TimerSets(client).plan(tid, [Timer(due + timedelta(milliseconds=k), "stakeholder", f"{k}:pm")
                                               for k in range(4)])
        await client.aclose()
    asyncio.run(plan())
    moved: list[int] = []

    def release() -> None:
        async def body() -> None:
            client = AsyncRedis.from_url(redis_url)
            sets = TimerSets(client)
            while (n := await sets.release_due(time.time(), count=7)):
                moved.append(n)
            await client.aclose()
        asyncio.run(body())
    workers = [threading.Thread(target=release) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    found = timer_intents(redis_url)
    assert sum(moved) == len(found) == 1000
    assert sorted(set(found)) == sorted(tickets) and all(found.count(t) == 4 for t in tickets)
    assert sum(redis.Redis.from_url(redis_url).zcard(k) for k in timers_keys()) == 0


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
    assert len(queued) == 1 and queued[0].startswith(f"{tid}-timer-escalation-1-")
    work_burst(settings, redis.Redis.from_url(redis_url))   # RQ's forked work horse fires it
    assert escalations(redis_url, tid) == 1
    assert len([m for m in mailbox.to("pm@example.com") if "Escalation 1" in m["Subject"]]) == 1


def test_the_sweep_counts_a_due_timer_not_yet_moved_as_pending(redis_url, escalating):  # noqa: F811
    """A dispatcher behind (or down a while) is not lost work: the sweep re-plans nothing for it."""
    dispatched_p1(redis_url, escalating, "core-sw-4")
    time.sleep(1.3)   # next_timer_at (the escalation) is overdue, the timer still in its set
    set_context(settings_for(redis_url, escalating))
    assert jobs.sweep(interval=0.0) == "nothing owed"
