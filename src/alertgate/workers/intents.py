"""The workers' side of the intents streams (issue #27): the work the ingest script wrote in the
same atomic call that created, reopened or resolved a master (``dedup/ingest.lua`` ``intend``).

Every worker reads the 32 shard streams in one consumer group (``keys.INTENTS_GROUP``), so each
intent goes to one worker. Delivery is at least once, and the work is done once:

- an intent is acknowledged (and deleted) only after its work is done or handed to RQ;
- an intent a worker read and never acknowledged (the worker was killed, or hung) is taken over
  by any worker after ``intent_claim_idle`` (30 s) of silence (``XPENDING`` … ``IDLE``, then ``XCLAIM``);
- a dispatch is a no-op once done (``dispatched_for``, ``workers/dispatch.py``), and each
  notice carries a dedup key with a per-recipient sent mark (``workers/delivery.py``);
- a dispatch that fails or outlasts ``DISPATCH_TIMEOUT`` here, or an intent delivered
  ``RELAY_AFTER`` times already (it may be what kills the worker), is handed to RQ as the
  dispatch job it used to be: retried with backoff in a forked work horse, and kept in RQ's
  failed registry once every attempt failed. A restoration is always handed to RQ (rare).

Timers come the same way: a due timer is moved from its shard's timer set into the shard's
stream (``workers/timers.py``, checked every ``RELEASE_EVERY``), and fired here like a dispatch.

Dispatches and timers run here in one process, many at a time, with no RQ job and no fork each.
A read's dispatches are done together first (``workers/dispatch.dispatch_many``: a few round
trips for all); what that batch leaves (a ticket changed since its read), and timers, are done
one by one, ``CONCURRENCY`` at a time. After a small read the consumer waits ``LINGER`` (20 ms)
before the next, so that masters arriving one by one in a storm are read in batches.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import RedisCluster
from redis.exceptions import RedisError, ResponseError

from alertgate.keys import INTENTS_GROUP, intents_keys
from alertgate.runtime.connections import find_again
from alertgate.runtime.pipelining import Pipelined
from alertgate.tickets.store import TicketNotFound, TicketStore
from alertgate.work_queue import action_job, dispatch_job, enqueue_all, timer_job
from alertgate.workers.delivery import RETRIED_ELSEWHERE
from alertgate.workers.timers import TimerSets, since_of

log = structlog.get_logger("alertgate.intents")
BATCH = 50                 # intents read per stream and call; dispatched together
CONCURRENCY = 16           # dispatches in flight at once (each holds a Redis connection while it waits)
CLAIM_IDLE = 30.0          # seconds an intent may stay unacknowledged before another worker takes it (default)
CLAIM_EVERY = 5.0          # how often a worker looks for such intents
RELAY_AFTER = 3            # deliveries after which the intent is handed to RQ instead
DISPATCH_TIMEOUT = 60.0    # seconds one dispatch may take here before it is handed to RQ
RELEASE_EVERY = 1.0        # how often due timers are moved into the streams (RQ's scheduler: 1 s too)
LINGER = 0.02              # seconds ``run`` waits after a read of fewer than LINGER_BELOW intents
LINGER_BELOW = BATCH // 2
DISPATCHES = frozenset({"new", "recurrence", "reopened"})
TIMER = "timer"
Dispatch = Callable[[Any, Any, TicketStore, str, str], Awaitable[str]]   # (ctx, redis, store, ticket id, reason)
Fire = Callable[[Any, Any, TicketStore, str, float], Awaitable[str]]     # (ctx, redis, store, ticket id, since)
# (ctx, redis, store, [(ticket id, reason)]) → per item: "done", "failed" (to RQ) or "one_by_one" (to Dispatch)
DispatchMany = Callable[[Any, Any, TicketStore, list[tuple[str, str]]], Awaitable[list[Any]]]


@dataclass(frozen=True)
class Intent:
    stream: str
    entry: str
    ticket_id: str
    work: str            # new | recurrence | reopened | restoration | timer
    deliveries: int = 1
    timer: str = ""      # a timer entry's due time (workers/timers.py)

    @property
    def kind(self) -> str:
        """The sweep's name for the work (workers/recovery.py)."""
        return "dispatch" if self.work in DISPATCHES else "timers" if self.work == TIMER else self.work


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)   # (a hand-made entry: not found, acknowledged)


def _intent(stream: Any, entry: Any, fields: dict | None, deliveries: int = 1) -> Intent | None:
    fields = {_text(k): _text(v) for k, v in (fields or {}).items()}
    if "ticket" not in fields:
        return None
    return Intent(_text(stream), _text(entry), fields["ticket"], fields.get("work", "new"), deliveries,
                  fields.get("timer", ""))


class IntentStreams:
    """The Redis side: read, take over, acknowledge. One call per stream on a Cluster (each stream
    is in its shard's slot); one call for all of them on a single Redis."""

    def __init__(self, redis: Any, consumer: str | None = None) -> None:
        self.redis = redis
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}"
        self.cluster = isinstance(redis, RedisCluster)
        self._streams = intents_keys()

    async def ensure_groups(self) -> None:
        """The group on every stream, from its first entry (intents written before it count)."""
        for stream in self._streams:
            try:
                await self.redis.xgroup_create(stream, INTENTS_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(self, count: int = BATCH, block_ms: int | None = None) -> list[Intent]:
        """New intents for this consumer; waits up to ``block_ms`` for one on a single Redis."""
        try:
            return await self._read(count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_groups()   # (a Redis that restarted without its data)
            return []

    async def _read(self, count: int, block_ms: int | None) -> list[Intent]:
        if not self.cluster:
            replies = await self.redis.xreadgroup(INTENTS_GROUP, self.consumer, {s: ">" for s in self._streams},
                                                  count=count, block=block_ms)
        else:
            pipe = self.redis.pipeline()
            for stream in self._streams:
                pipe.xreadgroup(INTENTS_GROUP, self.consumer, {stream: ">"}, count=count)
            replies = [reply for replies in await pipe.execute() for reply in (replies or [])]
        return [intent for stream, entries in replies or [] for entry, fields in entries
                if (intent := _intent(stream, entry, fields)) is not None]

    async def take_over(self, idle: float = CLAIM_IDLE, count: int = BATCH) -> list[Intent]:
        """Intents read by a worker and left unacknowledged for ``idle`` seconds (it died or hung),
        claimed by this one, with how often each was delivered (this time included)."""
        taken: list[Intent] = []
        idle_ms = int(idle * 1000)
        if self.cluster:
            pendings = [await self.redis.xpending_range(stream, INTENTS_GROUP, "-", "+", count, idle=idle_ms)
                        for stream in self._streams]
        else:   # (one round trip for the 32 streams)
            pipe = self.redis.pipeline(transaction=False)
            for stream in self._streams:
                pipe.xpending_range(stream, INTENTS_GROUP, "-", "+", count, idle=idle_ms)
            pendings = await pipe.execute()
        for stream, pending in zip(self._streams, pendings):
            if not pending:
                continue
            times = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
            claimed = await self.redis.xclaim(stream, INTENTS_GROUP, self.consumer, idle_ms, list(times))
            for entry, fields in claimed:
                intent = _intent(stream, entry, fields, times.get(_text(entry), 0) + 1)
                if intent is not None:
                    taken.append(intent)
                else:   # (an entry without a ticket: nothing to do, ever)
                    await self.done([Intent(stream, _text(entry), "", "")])
        return taken

    async def done(self, intents: list[Intent]) -> None:
        """Acknowledged and deleted: a stream holds only the work not done yet."""
        if not intents:
            return
        by_stream: dict[str, list[str]] = {}
        for intent in intents:
            by_stream.setdefault(intent.stream, []).append(intent.entry)
        pipe = Pipelined(self.redis)
        for stream, entries in by_stream.items():
            pipe.command("XACK", stream, INTENTS_GROUP, *entries)
            pipe.command("XDEL", stream, *entries)
        await pipe.execute()

    async def waiting(self) -> set[tuple[str, str]]:
        """(kind, ticket id) of every intent not done yet: work the sweep must not queue again."""
        found = set()
        for stream in self._streams:
            for entry, fields in await self.redis.xrange(stream):
                intent = _intent(stream, entry, fields)
                if intent is not None:
                    found.add((intent.kind, intent.ticket_id))
        return found

    async def backlog(self) -> int:
        """Intents not done yet, over every stream (``alertgate_intents_waiting``)."""
        total = 0
        for stream in self._streams:
            total += await self.redis.xlen(stream)
        return total


class IntentConsumer:
    """Dispatches what the streams hold, a batch at a time (``run`` in ``alertgate worker``'s
    dispatcher process; ``drain`` for a burst: tests and the benchmark)."""

    def __init__(self, ctx: Any, redis: Any, queue_redis: Any, dispatch: Dispatch, fire: Fire,
                 consumer: str | None = None, timeout: float = DISPATCH_TIMEOUT,
                 dispatch_many: DispatchMany | None = None) -> None:
        """``dispatch``, ``fire`` and ``dispatch_many``: ``workers/dispatch.dispatch_on``,
        ``jobs.fire_due_on`` and ``dispatch.dispatch_many`` (``jobs.intent_consumer``); without
        ``dispatch_many``, every dispatch is done one by one."""
        self._ctx = ctx
        self._dispatch_on = dispatch
        self._dispatch_many = dispatch_many
        self._fire_on = fire
        self.streams = IntentStreams(redis, consumer)
        self.timers = TimerSets(redis)
        self._released_at = 0.0
        self._store = TicketStore(redis)
        self._queue = queue_redis
        self._timeout = timeout
        self._claim_idle = float(ctx.settings.intent_claim_idle)
        self._claimed_at = 0.0
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def step(self, block_ms: int | None = None, claim_idle: float | None = None) -> int:
        """Move due timers into the streams (every ``RELEASE_EVERY``), take over abandoned intents
        (every ``CLAIM_EVERY``), read new ones, work them; returns how many were done (acknowledged)."""
        intents: list[Intent] = []
        idle = self._claim_idle if claim_idle is None else claim_idle
        if time.monotonic() - self._released_at >= min(RELEASE_EVERY, idle):
            self._released_at = time.monotonic()
            await self.timers.release_due(time.time())
        if time.monotonic() - self._claimed_at >= min(CLAIM_EVERY, idle):
            self._claimed_at = time.monotonic()
            intents += await self.streams.take_over(idle)
        intents += await self.streams.read(block_ms=None if intents else block_ms)
        return await self.work(intents) if intents else 0

    async def work(self, intents: list[Intent]) -> int:
        here, relay = [], []
        for intent in intents:
            (here if (intent.work in DISPATCHES or intent.work == TIMER) and intent.deliveries <= RELAY_AFTER
             else relay).append(intent)
        done, here, failed = await self._batch(here)
        relay += failed
        results = await asyncio.gather(*(self._dispatch(i) for i in here))
        relay += [intent for intent, ok in zip(here, results) if not ok]
        done += [intent for intent, ok in zip(here, results) if ok]
        if relay:
            try:
                jobs = [job for intent in relay if (job := self._job(intent)) is not None]
                await asyncio.to_thread(enqueue_all, self._queue, jobs)
                done += relay
                log.info("intents_handed_to_rq", count=len(relay), tickets=[i.ticket_id for i in relay][:20])
            except (RedisError, OSError) as exc:   # left pending: taken over after intent_claim_idle
                log.error("intents_relay_failed", error=type(exc).__name__, message=str(exc)[:300])
        await self.streams.done(done)
        return len(done)

    async def _batch(self, intents: list[Intent]) -> tuple[list[Intent], list[Intent], list[Intent]]:
        """The dispatches among ``intents`` done together (``dispatch_many``), ``BATCH`` at a time
        (each batch within the dispatch timeout): (done, left to be done one by one — the timers
        too —, failed: handed to RQ). A batch that fails or hangs as a whole leaves every one of
        its dispatches to be done one by one."""
        if self._dispatch_many is None:
            return [], intents, []
        batch, rest = [], []
        for intent in intents:
            (batch if intent.work in DISPATCHES else rest).append(intent)
        done, failed = [], []
        RETRIED_ELSEWHERE.set(True)
        for start in range(0, len(batch), BATCH):
            chunk = batch[start:start + BATCH]
            try:
                outcomes = await asyncio.wait_for(self._dispatch_many(
                    self._ctx, self.streams.redis, self._store, [(i.ticket_id, i.work) for i in chunk]), self._timeout)
            except Exception as exc:
                log.error("dispatch_batch_failed", count=len(chunk), error=type(exc).__name__, message=str(exc)[:300])
                rest += chunk
                continue
            for intent, outcome in zip(chunk, outcomes):
                value = getattr(outcome, "value", outcome)   # (workers/dispatch.Outcome)
                (done if value == "done" else failed if value == "failed" else rest).append(intent)
        return done, rest, failed

    async def _dispatch(self, intent: Intent) -> bool:
        async with self._slots:
            return await self._dispatch_one(intent)

    async def _dispatch_one(self, intent: Intent) -> bool:
        redis = self.streams.redis
        RETRIED_ELSEWHERE.set(True)   # (a notice that fails here is not the last attempt: RQ retries it)
        try:
            if intent.work == TIMER:
                since = since_of(intent.timer)
                if since is None:   # (not a timer of ours: nothing to do, ever)
                    log.warning("intent_without_timer", ticket_id=intent.ticket_id, timer=intent.timer[:200])
                    return True
                work = self._fire_on(self._ctx, redis, self._store, intent.ticket_id, since)
            else:
                work = self._dispatch_on(self._ctx, redis, self._store, intent.ticket_id, intent.work)
            await asyncio.wait_for(work, self._timeout)
            return True
        except TicketNotFound:
            log.warning("intent_without_ticket", ticket_id=intent.ticket_id)
            return True
        except Exception as exc:   # handed to RQ, which retries it with backoff
            log.error("dispatch_failed_here" if intent.work != TIMER else "timer_failed_here", ticket_id=intent.ticket_id,
                      error=type(exc).__name__, message=str(exc)[:300], deliveries=intent.deliveries)
            return False

    def _job(self, intent: Intent) -> tuple | None:
        attempts = self._ctx.settings.notify.max_attempts
        if intent.work in DISPATCHES:
            return dispatch_job(intent.ticket_id, intent.work, attempts)
        if intent.work == TIMER:
            since = since_of(intent.timer)
            if since is not None:
                return timer_job(intent.ticket_id, since, attempts)
            return None   # (not a timer of ours)
        return action_job(intent.work, intent.ticket_id, "monitoring recovered", attempts)

    async def drain(self) -> int:
        """Until the streams hold nothing this consumer can take (abandoned intents included), or
        nothing could be done (RQ unreachable for what must be handed to it)."""
        await self.streams.ensure_groups()
        total = 0
        while (worked := await self.step(claim_idle=0)):
            total += worked
        return total

    async def run(self, keep_going: Any) -> None:
        """Until ``keep_going()`` is false; a Redis fault is logged and tried again."""
        delay, ready = 1.0, False
        block = None if self.streams.cluster else int(min(1.0, float(self._ctx.settings.redis_timeout) / 2) * 1000)
        while keep_going():
            try:
                if not ready:
                    await self.streams.ensure_groups()
                    ready = True
                worked = await self.step(block_ms=block)
                if not worked and self.streams.cluster:
                    await asyncio.sleep(0.2)
                elif 0 < worked < LINGER_BELOW:
                    # (a storm's masters arrive one by one: waiting a moment lets the next read
                    # take them as one batch, a fraction of the CPU each; an alert alone still goes
                    # at once)
                    await asyncio.sleep(LINGER)
                delay = 1.0
            except (RedisError, OSError) as exc:
                log.error("intents_unavailable", error=type(exc).__name__, message=str(exc)[:300], retry_in=delay)
                ready = False
                await find_again(self.streams.redis, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

