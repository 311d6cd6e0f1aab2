"""Issue #27, item 2: an alert's work (the dispatch of a new master, the restoration notice of a
recovery) is written by the ingest script in the call that writes the ticket, as an intent in the
shard's stream, and the workers do it once, whichever of them dies at whichever step: a real
Redis, real SMTP, the consumer stopped at each step as a SIGKILL would stop it (a BaseException
that nothing catches), then another consumer taking over."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis

from alertgate.keys import intents_keys, ticket_key
from alertgate.runtime.connections import connect_state
from alertgate.settings import load_settings
from alertgate.workers import jobs
from alertgate.workers.context import context, set_context
from alertgate.workers.intents import RELAY_AFTER, IntentConsumer
from alertgate.workers.worker import work_burst
from tests.conftest import BOOTSTRAP
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_workers import config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


class Killed(BaseException):
    """The process dies here: nothing after this point runs, nothing is acknowledged."""


def settings_for(redis_url: str, config) -> object:  # noqa: F811
    return load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                          "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})


def intents(redis_url: str) -> list[tuple[str, str]]:
    state = redis.Redis.from_url(redis_url)
    return [(f[b"ticket"].decode(), f[b"work"].decode()) for s in intents_keys() for _, f in state.xrange(s)]


def fire(client, host: str, status: str = "firing", starts: str = "2026-11-22T03:00:00Z") -> dict:
    body = am_body(am_alert("InterfaceDown", host=host, severity="critical", status=status, starts=starts))
    return client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]


def run_consumer(settings, name: str, dispatch=jobs.dispatch_on, timeout: float = 60.0, claim_idle: float = 0.0,
                 read_only: bool = False, fire=jobs.fire_due_on, dispatch_many=None) -> int:
    """One consumer's step (or only its read, due timers moved first, when it dies right after);
    returns what it did. With ``dispatch_many``, dispatches are done in a batch first."""
    async def body() -> int:
        state = connect_state(settings, fail_fast=False)
        try:
            consumer = IntentConsumer(set_context(settings), state, redis.Redis.from_url(settings.queue_url), dispatch,
                                      fire, consumer=name, timeout=timeout, dispatch_many=dispatch_many)
            await consumer.streams.ensure_groups()
            if read_only:
                await consumer.timers.release_due(time.time())
                return len(await consumer.streams.read())
            return await consumer.step(claim_idle=claim_idle)
        finally:
            await state.aclose()
    return asyncio.run(body())


def assigns(redis_url: str, ticket_id: str) -> int:
    timeline = redis.Redis.from_url(redis_url).lrange(ticket_key(ticket_id) + ":tl", 0, -1)
    return [json.loads(e)["action"] for e in timeline].count("assign")


def test_ingest_writes_one_intent_per_master_and_a_retry_or_duplicate_none(redis_url, config, mailbox):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        first = fire(client, "core-sw-1")
        assert fire(client, "core-sw-1")["outcome"] == "repeat"                     # the sender's retry
        assert fire(client, "core-sw-1", starts="2026-11-22T03:05:00Z")["outcome"] == "duplicate"
        assert intents(redis_url) == [(first["ticket_id"], "new")]
        settings, state = settings_for(redis_url, config), redis.Redis.from_url(redis_url)
        # (at least: the P1's escalation timer of FAST_TABLES is due 1 s on, and a burst that
        # runs past it works that too; one run in eight did)
        assert work_burst(settings, state) >= 1
        assert intents(redis_url) == []
        assert fire(client, "core-sw-1", status="resolved")["outcome"] == "resolved"
        assert intents(redis_url) == [(first["ticket_id"], "restoration")]
        assert work_burst(settings, state) >= 1   # (handed to RQ, and sent there)
        assert intents(redis_url) == []
        subjects = [m["Subject"] for m in mailbox.to("net@example.com")]
        assert sum(s.startswith(f"[P1] Incident {first['ticket_id']}") for s in subjects) == 1
        assert sum(s.startswith(f"[P1] Restored {first['ticket_id']}") for s in subjects) == 1, subjects


@pytest.mark.parametrize("step", ["after_read", "after_assign", "after_notices", "before_ack"])
def test_a_consumer_killed_at_each_step_leaves_the_master_dispatched_once(redis_url, config, mailbox, step,  # noqa: F811
                                                                          monkeypatch):
    """Killed after reading, after the assignment, after the notices (before its mark), after the
    whole dispatch (before the acknowledgement): the next consumer takes the intent over, and the
    ticket is assigned once, the group told once, the streams emptied."""
    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-2")["ticket_id"]
    if step == "after_read":
        assert run_consumer(settings, "first", read_only=True) == 1
    else:
        from alertgate.tickets.store import TicketStore
        from alertgate.workers.intents import IntentStreams

        real = {"act": TicketStore.act, "bookkeep": TicketStore.bookkeep, "done": IntentStreams.done}

        async def act(self, *args, **kwargs):
            await real["act"](self, *args, **kwargs)
            raise Killed

        async def bookkeep(self, ticket_id, marks, unmarks):
            if "dispatched_for" in marks:
                raise Killed
            return await real["bookkeep"](self, ticket_id, marks, unmarks)

        async def done(self, intents):
            raise Killed
        target = {"after_assign": ("TicketStore", "act", act), "after_notices": ("TicketStore", "bookkeep", bookkeep),
                  "before_ack": ("IntentStreams", "done", done)}[step]
        owner = TicketStore if target[0] == "TicketStore" else IntentStreams
        with monkeypatch.context() as patched:
            patched.setattr(owner, target[1], target[2])
            with pytest.raises(Killed):
                run_consumer(settings, "first")
    assert [t for t, _ in intents(redis_url)] == [tid]          # not acknowledged: still there
    assert run_consumer(settings, "second", claim_idle=0.0) == 1   # taken over
    assert intents(redis_url) == []
    assert assigns(redis_url, tid) == 1
    incident = [m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {tid}")]
    assert len(incident) == 1
    assert redis.Redis.from_url(redis_url).hget(ticket_key(tid), "dispatched_for") == b"0"


def test_an_intent_not_yet_idle_is_left_to_its_consumer(redis_url, config):  # noqa: F811
    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        fire(client, "core-sw-3")
    assert run_consumer(settings, "first", read_only=True) == 1
    assert run_consumer(settings, "second", claim_idle=30.0) == 0   # its consumer may still be working on it
    assert len(intents(redis_url)) == 1


def test_a_dispatch_that_fails_or_hangs_here_is_handed_to_rq_and_done_there(redis_url, config, mailbox):  # noqa: F811
    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        failing, hanging = fire(client, "core-sw-4")["ticket_id"], fire(client, "core-sw-5")["ticket_id"]

    async def flaky(ctx, redis_client, store, ticket_id, reason):
        if ticket_id == failing:
            raise RuntimeError("a bug in this dispatch")
        await asyncio.sleep(3600)

    assert run_consumer(settings, "first", dispatch=flaky, timeout=0.5) == 2
    assert intents(redis_url) == []
    queued = redis.Redis.from_url(redis_url).lrange("rq:queue:alertgate-dispatch", 0, -1)
    assert sorted(q.decode() for q in queued) == sorted(f"dispatch-{t}-new" for t in (failing, hanging))
    work_burst(settings, redis.Redis.from_url(redis_url))   # RQ's forked work horse does them
    assert assigns(redis_url, failing) == 1 and assigns(redis_url, hanging) == 1


def test_an_intent_that_kills_every_consumer_goes_to_rq(redis_url, config):  # noqa: F811
    """Delivered ``RELAY_AFTER`` times and never acknowledged (it may be what kills the process):
    the next consumer hands it to RQ, whose forked work horse contains the crash."""
    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-6")["ticket_id"]

    async def fatal(*args):
        raise Killed
    with pytest.raises(Killed):
        run_consumer(settings, "c0", dispatch=fatal)
    for n in range(1, RELAY_AFTER):
        with pytest.raises(Killed):
            run_consumer(settings, f"c{n}", dispatch=fatal)
    assert run_consumer(settings, "last", dispatch=fatal) == 1
    assert intents(redis_url) == []
    queued = redis.Redis.from_url(redis_url).lrange("rq:queue:alertgate-dispatch", 0, -1)
    assert [q.decode() for q in queued] == [f"dispatch-{tid}-new"]


def test_the_sweep_counts_an_intent_not_worked_yet_as_pending(redis_url, config):  # noqa: F811
    """A backlog in the streams is not lost work: the sweep queues nothing again for it."""
    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        fire(client, "core-sw-7")
    set_context(settings)
    assert jobs.sweep(interval=0.0) == "nothing owed"


@pytest.mark.parametrize("batched", [False, True])
def test_a_notice_that_fails_in_the_consumer_counts_as_a_retry_and_rq_sends_it(redis_url, config, mailbox,  # noqa: F811
                                                                                monkeypatch, batched):
    """The consumer hands a dispatch whose notice failed to RQ (one by one, or in a batch): that
    failure is not the notice's last attempt (``alertgate_notifications_total{outcome="retry"}``,
    not ``failed``), and RQ sends it."""
    from alertgate.workers.dispatch import dispatch_many
    from alertgate.workers.channels import CHANNELS, ChannelError

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-8")["ticket_id"]

    def counted(outcome: str) -> float:   # (in the context the consumer ran in: its own metrics)
        return context().metrics.notifications.labels("email", outcome)._value.get()

    def smtp_down(notice, address, settings):
        raise ChannelError("connection refused", retryable=True)
    with monkeypatch.context() as patched:
        patched.setitem(CHANNELS, "email", smtp_down)
        assert run_consumer(settings, "first", dispatch_many=dispatch_many if batched else None) == 1
    assert (counted("retry"), counted("failed")) == (1, 0)
    queued = redis.Redis.from_url(redis_url).lrange("rq:queue:alertgate-dispatch", 0, -1)
    assert [q.decode() for q in queued] == [f"dispatch-{tid}-new"]
    work_burst(settings, redis.Redis.from_url(redis_url))
    assert len([m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {tid}")]) == 1


@pytest.mark.parametrize("step", ["after_read", "after_assign", "after_notices", "before_ack"])
def test_a_batch_killed_at_each_step_leaves_every_master_dispatched_once(redis_url, config, mailbox, step,  # noqa: F811
                                                                         monkeypatch):
    """The batch path (``dispatch_many``: one read, one write of the assigns, the notices, one
    write of timers and marks for all): killed after its read, after writing the assigns, after
    the notices (before the marks), before the acknowledgement. The next consumer (batch path
    too) takes the intents over: each of three masters assigned once, its group told once, its
    timers planned, the streams emptied."""
    from alertgate.tickets.batch import ActionWriter
    from alertgate.workers import dispatch
    from alertgate.workers.intents import IntentStreams

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tids = [fire(client, f"core-sw-b{n}")["ticket_id"] for n in range(3)]
    real = {"act_many": ActionWriter.act_many, "finish": dispatch._finish}

    async def read_many(*args):
        raise Killed

    async def act_many(self, acts):
        await real["act_many"](self, acts)
        raise Killed

    async def finish(redis_client, tickets):
        raise Killed

    async def done(self, intents):
        raise Killed
    target = {"after_read": (dispatch, "read_many", read_many), "after_assign": (ActionWriter, "act_many", act_many),
              "after_notices": (dispatch, "_finish", finish), "before_ack": (IntentStreams, "done", done)}[step]
    with monkeypatch.context() as patched:
        patched.setattr(*target)
        with pytest.raises(Killed):
            run_consumer(settings, "first", dispatch_many=dispatch.dispatch_many)
    assert sorted(t for t, _ in intents(redis_url)) == sorted(tids)    # not acknowledged
    assert run_consumer(settings, "second", dispatch_many=dispatch.dispatch_many) == 3
    assert intents(redis_url) == []
    state = redis.Redis.from_url(redis_url)
    for tid in tids:
        assert assigns(redis_url, tid) == 1
        incident = [m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {tid}")]
        assert len(incident) == 1, (tid, step)
        assert state.hget(ticket_key(tid), "dispatched_for") == b"0"
        assert state.hget(ticket_key(tid), "next_timer_at") is not None
    set_context(settings)
    assert jobs.sweep(interval=0.0) == "nothing owed"


def test_a_ticket_changed_after_the_batch_read_is_dispatched_one_by_one(redis_url, config, mailbox, sink,  # noqa: F811
                                                                        monkeypatch):
    """An operator assigns the master between the batch's read and its write: the batch's
    compare-and-set does not write over it; the ticket is dispatched the one-by-one way (its
    assignment kept, no second assign), its group told once; the other master in the batch is
    dispatched by the batch."""
    from alertgate.tickets.batch import ActionWriter
    from alertgate.workers import dispatch
    from tests.conftest import DESK_SECRET

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        taken, other = fire(client, "core-sw-c1")["ticket_id"], fire(client, "core-sw-c2")["ticket_id"]
        real = ActionWriter.act_many

        async def act_many(self, acts):
            answer = client.post(f"/api/v1/tickets/{taken}/actions/assign", json={"group": "db"},
                                 headers={"Authorization": f"Bearer {DESK_SECRET}"})
            assert answer.status_code == 200, answer.text
            return await real(self, acts)
        with monkeypatch.context() as patched:
            patched.setattr(ActionWriter, "act_many", act_many)
            assert run_consumer(settings, "first", dispatch_many=dispatch.dispatch_many) == 2
    state = redis.Redis.from_url(redis_url)
    assert assigns(redis_url, taken) == 1 and assigns(redis_url, other) == 1
    assert state.hget(ticket_key(taken), "assignment_group") == b"db"
    for tid in (taken, other):
        assert state.hget(ticket_key(tid), "dispatched_for") == b"0"
    assert len([m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {other}")]) == 1
    told = [r[2]["notice"] for r in sink.requests if r[2]["notice"]["kind"] == "incident"]   # ("db": no e-mail)
    assert [(n["ticket_id"], n["recipient"]) for n in told if n["ticket_id"] == taken] == [(taken, "db")]


def test_a_read_larger_than_a_batch_is_dispatched_a_batch_at_a_time(redis_url, config, mailbox,  # noqa: F811
                                                                    monkeypatch):
    """Each batch gets the dispatch timeout of its own: five masters read at once, batches of two."""
    from alertgate.workers import dispatch, intents as intents_module

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tids = [fire(client, f"core-sw-d{n}")["ticket_id"] for n in range(5)]
    sizes = []

    async def counted(ctx, redis_client, store, work):
        sizes.append(len(work))
        return await dispatch.dispatch_many(ctx, redis_client, store, work)
    monkeypatch.setattr(intents_module, "BATCH", 2)
    assert run_consumer(settings, "first", dispatch_many=counted) == 5
    assert sorted(sizes) == [1, 2, 2]
    assert intents(redis_url) == [] and all(assigns(redis_url, tid) == 1 for tid in tids)


def test_a_field_the_assign_reads_changed_without_a_timeline_entry_stops_the_batch_write(  # noqa: F811
        redis_url, config, mailbox, monkeypatch):  # noqa: F811
    """A writer that adds no timeline entry changes the master's route group between the batch's
    read and its write: the compare-and-set refuses, and the one-by-one dispatch assigns the group
    the ticket now names."""
    from alertgate.tickets.batch import ActionWriter
    from alertgate.workers import dispatch

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-e1")["ticket_id"]
    real, answers = ActionWriter.act_many, []

    async def act_many(self, acts):
        redis.Redis.from_url(redis_url).hset(ticket_key(tid), "route_group", "db")
        answers.extend(await real(self, acts))
        return answers
    monkeypatch.setattr(ActionWriter, "act_many", act_many)
    assert run_consumer(settings, "first", dispatch_many=dispatch.dispatch_many) == 1
    assert answers == [False]
    state = redis.Redis.from_url(redis_url)
    assert state.hget(ticket_key(tid), "assignment_group") == b"db" and assigns(redis_url, tid) == 1


def test_a_master_with_a_long_timeline_is_dispatched_by_the_batch_reading_its_first_and_newest(
        redis_url, config, mailbox):  # noqa: F811
    """A flapping master's timeline (40,000 entries: 7 MB a read) timed a dispatch batch out. The
    batch reads the first and newest entries only; the assign is appended after all of them."""
    from alertgate.tickets.batch import read_many
    from alertgate.workers import dispatch

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-long")["ticket_id"]
    state = redis.Redis.from_url(redis_url)
    entry = json.dumps({"at": "2026-11-22T03:00:00Z", "actor": "alertgate", "action": "comment", "note": "old"})
    state.rpush(ticket_key(tid) + ":tl", *([entry] * 5000))

    async def read():
        client = connect_state(settings, fail_fast=False)
        try:
            return (await read_many(client, [tid]))[0]
        finally:
            await client.aclose()
    before = asyncio.run(read())
    assert before.timeline_length == 5000 and len(before.ticket.timeline) == 220
    assert before.ticket.timeline_omitted == 4780

    assert run_consumer(settings, "first", dispatch_many=dispatch.dispatch_many) == 1
    stored = state.lrange(ticket_key(tid) + ":tl", 0, -1)
    assert len(stored) == 5001 and json.loads(stored[-1])["action"] == "assign"
    assert state.hget(ticket_key(tid), "dispatched_for") == b"0"
    assert len([m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {tid}")]) == 1


def test_an_intent_naming_no_ticket_is_acknowledged_and_the_consumer_goes_on(redis_url, config):  # noqa: F811
    """An entry written by hand (bytes that are no text, an id of no ticket) must not stop the
    consumer, nor come back on every read; the master beside it is dispatched."""
    from alertgate.workers import dispatch

    settings = settings_for(redis_url, config)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tid = fire(client, "core-sw-7")["ticket_id"]
    state = redis.Redis.from_url(redis_url)
    stream = intents_keys()[0]
    state.xadd(stream, {b"ticket": b"\xff\xfe", b"work": b"new"})
    state.xadd(stream, {b"ticket": b"INC-GONE-1", b"work": b"\xff"})
    assert run_consumer(settings, "first", dispatch_many=dispatch.dispatch_many) == 3
    assert intents(redis_url) == [] and assigns(redis_url, tid) == 1
