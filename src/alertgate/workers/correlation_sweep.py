"""Promotion of correlated tickets (SPEC §11), every sweep: a correlated ticket whose parent's
master is resolved or closed (or gone), while its own occurrence has no recovery, becomes a
master then: listed with the masters, its SLA clocks started anew from that moment, dispatched.
A real second fault behind a parent that recovered is never swallowed. Correlated tickets that
recovered are left alone and drop off the list.

The promotion is one transaction in the child's slot (WATCH on its hash): a child that changed
meanwhile (recovered, promoted by another sweep) is read again. The dispatch is owed in the same
transaction (``owed_dispatch``), so a lost job is found by the work sweep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
import structlog
from redis.exceptions import WatchError

from alertgate.keys import correlated_keys, masters_key, tag_of, ticket_key
from alertgate.runtime.connections import connect_queue_redis, connect_state
from alertgate.tickets.codec import names_to_read, picked
from alertgate.tickets.lifecycle import initial_sla
from alertgate.tickets.model import SlaEntry, TimelineEntry
from alertgate.work_queue import dispatch_job, enqueue_all
from alertgate.rules.tables import Tables
from alertgate.workers.context import context
from alertgate.workers.recovery import UNRESOLVED

log = structlog.get_logger("alertgate.correlation")
_sla = msgspec.json.Decoder(list[SlaEntry])
_encode = msgspec.json.Encoder().encode
PROMOTE_READ = ("kind", "status", "outage_end", "sla", "caused_by", "priority", "route_group")


class CorrelationSweep:
    def run(self) -> str:
        return asyncio.run(self._sweep())

    async def _sweep(self) -> str:
        settings, tables = context().settings, context().tables
        redis = connect_state(settings, fail_fast=False)
        promoted: list[str] = []
        dropped = 0
        try:
            for listed in correlated_keys():
                children = [c.decode() for c in await redis.zrange(listed, 0, -1)]
                if not children:
                    continue
                pipe = redis.pipeline(transaction=False)
                for child in children:
                    pipe.hmget(ticket_key(child), "kind", "status", "caused_by")
                rows = await pipe.execute()
                parents = await _statuses(redis, {row[2].decode() for row in rows if row[2]})
                done = []
                for child, (kind, status, caused_by) in zip(children, rows):
                    if kind != b"correlated" or status not in UNRESOLVED:
                        done.append(child)   # promoted already, recovered, closed or gone
                    elif caused_by is None or parents.get(caused_by.decode()) not in UNRESOLVED:
                        if await _promote(redis, child, datetime.now(UTC), tables):
                            promoted.append(child)
                if done:
                    await redis.zrem(listed, *done)
                    dropped += len(done)
        finally:
            await redis.aclose()
        if promoted:
            enqueue_all(connect_queue_redis(settings),
                        [dispatch_job(child, "promoted", settings.notify.max_attempts) for child in promoted])
        return f"correlation: {len(promoted)} promoted, {dropped} no longer correlated"


async def _statuses(redis, masters: set[str]) -> dict[str, bytes | None]:
    """Each parent master's status, read at once (they live in any slot)."""
    ordered = sorted(masters)
    if not ordered:
        return {}
    pipe = redis.pipeline(transaction=False)
    for master in ordered:
        pipe.hget(ticket_key(master), "status")
    return dict(zip(ordered, await pipe.execute()))


async def _promote(redis, child: str, now: datetime, tables: Tables) -> bool:
    """The child becomes a master now, if it still is an unresolved correlated ticket with no
    recovery; False otherwise."""
    key = ticket_key(child)
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                kind, status, outage_end, sla, caused_by, priority, group = picked(
                    PROMOTE_READ, await pipe.hmget(key, *names_to_read(PROMOTE_READ))).values()
                if kind != b"correlated" or status not in UNRESOLVED or outage_end:
                    return False
                try:
                    minutes = [entry.minutes for entry in _sla.decode(sla or b"[]")]
                except (msgspec.DecodeError, ValueError):
                    minutes = []
                at = repr(now.timestamp())
                fields = {"kind": "master", "promoted_at": at, "owed_dispatch": at, "updated_at": at}
                if len(minutes) == 3:
                    calendar = tables.calendar_for(int(priority or 3), (group or b"").decode() or None)
                    fields["sla"] = _encode(initial_sla(minutes, now, calendar))
                note = f"promoted: the master it was correlated to ({(caused_by or b'?').decode()}) is resolved"
                pipe.multi()
                pipe.hset(key, mapping=fields)
                pipe.zadd(masters_key(tag_of(child)), {child: now.timestamp()})
                pipe.rpush(f"{key}:tl", _encode(TimelineEntry(at=now, actor="alertgate", action="promote", note=note)))
                await pipe.execute()
                log.info("correlated_promoted", ticket_id=child, caused_by=(caused_by or b"").decode())
                return True
            except WatchError:
                continue
