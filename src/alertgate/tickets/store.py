"""Tickets in Redis: read (duplicates show their master's content), list with filters and a
cursor, open user-reported tickets, and carry out lifecycle actions under optimistic locking."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, Callable

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import WatchError

from alertgate.keys import (
    MASTERS_INDEXED, correlated_children_key, index_key, major_members_key, master_of_duplicate, masters_key, masters_keys, random_tag,
    shard_of, state_key, tag_of, ticket_id_of, ticket_key, ticket_prefix,
)
from alertgate.runtime.pipelining import Pipelined
from alertgate.tickets import cascade, index, scripts
from alertgate.tickets import lifecycle
from alertgate.tickets.codec import SKIP_FIELDS, from_hash, names_to_read, picked, to_hash
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor
from alertgate.tickets.model import UNRESOLVED, Ticket, TicketKind, TicketStatus, TimelineEntry
from alertgate.tickets.timeline import FIRST, NEWEST, shown_in_answer

log = structlog.get_logger("alertgate.tickets")

# What a duplicate shows of its master ("copying its content", SPEC §2) without storing it twice.
CONTENT_FIELDS = (
    "title", "description", "category", "area", "subarea", "nature", "affected_service", "impact",
    "urgency", "symptom", "severity", "labels", "links", "location", "route_group", "ci_operational",
    "ci", "priority", "source",
)
FILTER_FIELDS = ("status", "kind", "ci", "priority", "source", "alert_source")
MASTER_READ = (*CONTENT_FIELDS, "created_at", "updated_at")  # what a duplicate shown reads of its master
_encode = msgspec.json.Encoder().encode
_UNRESOLVED_VALUES = frozenset(s.value for s in UNRESOLVED)
_LONG_AGO = datetime(1970, 1, 1, tzinfo=timezone.utc)   # (a time no duplicate's update can have)


class TicketNotFound(Exception):
    pass


class TicketFilter(msgspec.Struct, kw_only=True):
    status: str | None = None
    kind: str | None = None
    ci: str | None = None
    priority: str | None = None
    source: str | None = None
    alert_source: str | None = None
    since: datetime | None = None


def _key_of(ticket_id: str) -> str:
    try:
        return ticket_key(ticket_id)
    except KeyError:
        raise TicketNotFound(ticket_id) from None


def valid_cursor(cursor: str) -> bool:
    """``<created_at>:<ticket id>``, as ``TicketStore.list`` hands them out."""
    score, _, last_id = cursor.partition(":")
    try:
        return math.isfinite(float(score)) and last_id.startswith("INC-")
    except ValueError:
        return False


class TicketStore:
    SCANNED_PER_PAGE = 30_000   # index entries one ``list`` reads at most (about half a second)

    def __init__(self, redis: Redis, on_created: Callable[[Ticket], None] | None = None) -> None:
        self._redis = redis
        self._on_created = on_created   # each ticket ``create`` and a closure's follow-up make (the metric)

    async def _read(self, ticket_id: str, client: Any = None) -> Ticket:
        return from_hash(*await self._read_raw(ticket_id, client), ticket_id)

    async def _read_raw(self, ticket_id: str, client: Any = None) -> tuple[dict, list]:
        """The ticket's hash and timeline: one round trip, or two in a transaction's watch (``client``)."""
        key = _key_of(ticket_id)
        if client is None:
            async with self._redis.pipeline(transaction=False) as pipe:
                raw, timeline = await pipe.hgetall(key).lrange(key + ":tl", 0, -1).execute()
        else:
            raw, timeline = await client.hgetall(key), await client.lrange(key + ":tl", 0, -1)
        if not raw:
            raise TicketNotFound(ticket_id)
        return raw, timeline

    async def get(self, ticket_id: str) -> Ticket:
        """One ticket; a duplicate carries its master's content."""
        return await self.as_shown(await self._read(ticket_id))

    async def as_shown(self, ticket: Ticket) -> Ticket:
        """A ticket as ``get`` gives it, from one just read or written (``change``'s answer)."""
        return with_creation_entry(await self._shown(ticket))

    async def get_shown(self, ticket_id: str) -> Ticket:
        """One ticket as an answer shows it (``timeline.shown_in_answer``), in one round trip: of a
        long timeline only the first and newest entries are read and decoded (a flapping master's
        40,000 were read whole)."""
        key = _key_of(ticket_id)
        pairs, length, entries = await self._redis.register_script(scripts.READ_WINDOW)(
            keys=[key, key + ":tl"], args=[FIRST, NEWEST])
        if not pairs:
            raise TicketNotFound(ticket_id)
        ticket = with_creation_entry(await self._shown(from_hash(dict(zip(pairs[::2], pairs[1::2])), entries, ticket_id)))
        if length == len(entries):
            return shown_in_answer(ticket)
        # Head and tail apart: a creation entry derived before them, or an "unreadable" entry
        # after them, is one more entry of the whole.
        whole = length + len(ticket.timeline) - len(entries)
        return msgspec.structs.replace(ticket, timeline=ticket.timeline[:FIRST] + ticket.timeline[-NEWEST:],
                                       timeline_omitted=whole - FIRST - NEWEST)

    async def get_marked(self, ticket_id: str, *marks: str) -> tuple[Ticket, dict[str, str]]:
        """One ticket and the bookkeeping fields asked for (``mark``), in the same read."""
        raw, timeline = await self._read_raw(ticket_id)
        found = {name: raw[name.encode()].decode() for name in marks if name.encode() in raw}
        return with_creation_entry(await self._shown(from_hash(raw, timeline, ticket_id))), found

    async def _shown(self, ticket: Ticket) -> Ticket:
        """The ticket as the API shows it: a duplicate with its master's content."""
        if ticket.kind is TicketKind.DUPLICATE and ticket.master_id and ticket.origin != "user_report":
            # (a user's report linked to its master keeps the user's own words)
            # (only the fields shown, and the times a Ticket needs: not the whole hash and timeline)
            values = await self._redis.hmget(_key_of(ticket.master_id), *names_to_read(MASTER_READ))
            if all(value is None for value in values):
                raise TicketNotFound(ticket.master_id)
            raw = {name.encode(): value for name, value in picked(MASTER_READ, values).items() if value is not None}
            master = from_hash(raw, ticket_id=ticket.master_id)
            ticket = msgspec.structs.replace(ticket, **{name: getattr(master, name) for name in CONTENT_FIELDS})
        return ticket

    async def duplicate_ids(self, master: Ticket) -> list[str]:
        """Every duplicate of a master, in their order (``duplicate_page``)."""
        return (await self.duplicate_page(master, 0, 1 << 62))[0]

    async def duplicate_page(self, master: Ticket, offset: int | None, limit: int) -> tuple[list[str], int]:
        """At most ``limit`` of the master's duplicates from place ``offset`` (0: the first; None:
        the newest ``limit``), and how many it has: a storm's master has 100,000, and an answer
        that listed them all was 2.8 MB. Their order: those a version that kept a list listed
        under ``<master key>:dups``, then ``<master id>-<k>`` up to ``duplicate_count``, numbered
        as ``ingest.lua`` numbers them (``cascade.lua`` walks them by the same rule)."""
        key = _key_of(master.id) + ":dups"
        listed = await self._redis.llen(key)
        total = max(listed, master.duplicate_count)
        offset = max(0, total - limit) if offset is None else offset
        end = min(total, offset + limit)
        first = [] if offset >= min(listed, end) else await self._redis.lrange(key, offset, min(listed, end) - 1)
        return ([d.decode(errors="replace") for d in first]
                + [f"{master.id}-{k}" for k in range(max(offset, listed) + 1, end + 1)]), total

    async def duplicate_fields(self, master: Ticket, fields: tuple[str, ...],
                               chunk: int = 1000) -> AsyncIterator[list[dict[str, bytes | None]]]:
        """The given fields of each of a master's duplicates as stored, a chunk per round trip (a
        Zabbix trigger that opens a new event at every check gives its master thousands)."""
        offset, total = 0, 1
        while offset < total:
            ids, total = await self.duplicate_page(master, offset, chunk)
            offset += chunk
            pipe = Pipelined(self._redis)
            for duplicate_id in ids:
                pipe.command("HMGET", ticket_key(duplicate_id), *fields)
            yield [dict(zip(fields, values)) for values in await pipe.execute()]

    async def masters_created_between(self, start: datetime, end: datetime,
                                      timelines: bool = False) -> AsyncIterator[list[Ticket]]:
        """Masters registered in [start, end), for KPIs, a chunk (≤ 1,000) at a time; with their
        timelines only if asked. A numbered duplicate (<master>-<k>: most of a storm's tickets)
        is passed over by its id."""
        ids = [ticket_id for ticket_id in await index.ids_between(self._redis, start.timestamp(), f"({end.timestamp()}")
               if master_of_duplicate(ticket_id) is None]
        for offset in range(0, len(ids), 1000):
            pipe = Pipelined(self._redis)   # (raw replies, packed by hiredis: a third of redis-py's cost here)
            for ticket_id in ids[offset:offset + 1000]:
                pipe.command("HGETALL", ticket_key(ticket_id))
                if timelines:
                    pipe.command("LRANGE", ticket_key(ticket_id) + ":tl", 0, -1)
            replies = await pipe.execute()
            pairs = zip(replies[::2], replies[1::2]) if timelines else ((h, ()) for h in replies)
            found: list[Ticket] = []
            for flat, timeline in pairs:
                fields = dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else flat
                if fields.get(b"kind") == b"master":
                    found.append(from_hash(fields, timeline))
            yield found

    async def _ids_of_key(self, ticket_id: str) -> list[str]:
        """Every ticket id of the (ci, symptom) key that ``ticket_id`` belongs to, oldest first."""
        tag = tag_of(ticket_id)
        seq = int(await self._redis.hget(state_key(tag), "seq") or 0)
        return [ticket_id_of(tag, n) for n in range(1, seq + 1)]

    async def masters_of_key(self, ticket_id: str) -> list[Ticket]:
        """Every master ticket of the (ci, symptom) key that ``ticket_id`` belongs to."""
        found = []
        for other in await self._ids_of_key(ticket_id):
            raw = await self._redis.hgetall(ticket_key(other))
            if raw and raw.get(b"kind") == b"master":
                found.append(from_hash(raw))
        return found

    async def correlated_to(self, ticket_id: str) -> list[str]:
        """The correlated tickets linked to this master (SPEC §11), each once, oldest first."""
        raw = await self._redis.lrange(correlated_children_key(ticket_id), 0, -1)
        return list(dict.fromkeys(item.decode(errors="replace") for item in raw))

    async def recurrences_of(self, ticket: Ticket) -> list[str]:
        """Masters of the same key that recur this one (newer tickets linking here)."""
        ids = await self._ids_of_key(ticket.id)
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for other in ids:
            pipe.hget(ticket_key(other), "recurrence_of")
        links = await pipe.execute()
        return [other for other, link in zip(ids, links) if link and link.decode(errors="replace") == ticket.id]

    async def list(self, filters: TicketFilter, cursor: str | None, limit: int) -> tuple[list[Ticket], str | None]:
        """Newest first. The cursor is ``<created_at>:<id>`` of the last ticket of the page, or of
        the last one read: a request reads at most ``SCANNED_PER_PAGE`` entries of the index, so a
        filter that few tickets pass answers a shorter page (even an empty one) with a cursor to go
        on from, rather than a read of the whole history (as DynamoDB's filtered queries do)."""
        high: str | float = "+inf"
        after: tuple[float, str] | None = None
        if cursor:
            score, _, last_id = cursor.partition(":")
            after = (float(score), last_id)
            high = float(score)
        low = filters.since.timestamp() if filters.since else "-inf"
        found: list[tuple[str, float]] = []
        candidates: list[tuple[str, float]] = []
        scanned, read_to = 0, None
        entries = index.newest_first(self._redis, high, low, batch=max(limit * 2, 100))
        async for ticket_id, score in entries:
            if after is not None and not (score < after[0] or (score == after[0] and ticket_id < after[1])):
                continue
            candidates.append((ticket_id, score))
            if len(candidates) < 200:
                continue
            found += await self._matching(candidates, filters, limit - len(found))
            scanned, read_to, candidates = scanned + len(candidates), candidates[-1], []
            if len(found) == limit or scanned >= self.SCANNED_PER_PAGE:
                break
        else:
            found += await self._matching(candidates, filters, limit - len(found))
            read_to = None   # (the index was read to its end)
        next_cursor = None
        if len(found) == limit:
            next_cursor = f"{found[-1][1]!r}:{found[-1][0]}"
        elif read_to is not None:
            next_cursor = f"{read_to[1]!r}:{read_to[0]}"
        shown = []
        for ticket_id, _ in found:
            try:
                shown.append(await self.get_shown(ticket_id))
            except TicketNotFound:   # (indexed, and its record gone: passed over, as a filter would)
                log.error("indexed_ticket_missing", ticket_id=ticket_id)
        return shown, next_cursor

    async def _matching(self, candidates: list[tuple[str, float]], filters: TicketFilter,
                        wanted: int) -> list[tuple[str, float]]:
        """The first ``wanted`` candidates whose fields pass ``filters``, decided in Redis: one
        script call per shard (``scripts.FILTER``), a few µs a ticket (read field by field here, with a
        duplicate's master read for what it shows of it, 30–50 µs)."""
        if not candidates or wanted <= 0:
            return []
        checks = [(name, getattr(filters, name)) for name in FILTER_FIELDS if getattr(filters, name) is not None]
        if not checks:
            return candidates[:wanted]
        pairs = [value for pair in checks for value in pair]
        groups: dict[str, list[int]] = {}   # a shard's index key → positions of its candidates
        for position, (ticket_id, _) in enumerate(candidates):
            groups.setdefault(index_key(tag_of(ticket_id)), []).append(position)
        script = self._redis.register_script(scripts.FILTER)
        pipe = Pipelined(self._redis)
        for key, positions in groups.items():
            prefix = ticket_prefix(tag_of(candidates[positions[0]][0]))
            pipe.script(script, [key], [prefix, len(checks), *pairs, *(candidates[p][0] for p in positions)])
        passed = set()
        for positions, answers in zip(groups.values(), await pipe.execute()):
            passed.update(p for p, answer in zip(positions, answers) if answer)
        return [c for position, c in enumerate(candidates) if position in passed][:wanted]

    async def create(self, ticket: Ticket, ticket_id: str | None = None) -> Ticket:
        """Store a ticket no alert key owns (a user report, a follow-up, a major incident) under a
        fresh tag (or as ``ticket_id``, one of ``new_id``'s)."""
        ticket = msgspec.structs.replace(ticket, id=ticket_id or self.new_id())
        pipe = self._redis.pipeline(transaction=True)
        self._write_new(pipe, ticket)
        await pipe.execute()
        if self._on_created is not None:
            self._on_created(ticket)
        return ticket

    @staticmethod
    def new_id() -> str:
        return ticket_id_of(random_tag(), 1)

    async def grouped_under(self, major_id: str) -> list[str]:
        """The masters a storm grouped under this major incident (SPEC §11), oldest first."""
        raw = await self._redis.lrange(major_members_key(major_id), 0, -1)
        return list(dict.fromkeys(item.decode(errors="replace") for item in raw))

    @staticmethod
    def _write_new(pipe: Any, ticket: Ticket) -> None:
        key = ticket_key(ticket.id)
        pipe.hset(key, mapping=to_hash(ticket))
        if ticket.timeline:
            pipe.rpush(key + ":tl", *(_encode(e) for e in ticket.timeline))
        entry = {ticket.id: ticket.created_at.timestamp()}
        pipe.zadd(index_key(tag_of(ticket.id)), entry)
        if ticket.kind in (TicketKind.MASTER, TicketKind.MAJOR):
            pipe.zadd(masters_key(tag_of(ticket.id)), entry)

    async def act(self, ticket_id: str, action: Action, request: ActionRequest, actor: Actor,
                  now: datetime, owe: str | None = None,
                  tables: lifecycle.Tables | None = None) -> tuple[Ticket, lifecycle.Effects]:
        """Carry out one action, its cascade and follow-up, atomically; retried on a race.
        ``owe``: the follow-up work the caller will queue, marked owed in the same transaction
        (workers/recovery.py), so that a lost job is found by the sweep. ``tables``: the
        handbook's tables (re-prioritising reads them)."""
        key = _key_of(ticket_id)
        state = state_key(tag_of(ticket_id))
        master = await self._link_report(ticket_id, request, actor, now) if action is Action.MARK_DUPLICATE else None
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    # (a new duplicate changes its master's duplicate_count: watching the key covers it)
                    await pipe.watch(key, state)
                    ticket = await self._read(ticket_id, pipe)
                    updated, effects = lifecycle.apply(ticket, action, request, actor, now, tables, master)
                    closing = updated.status is TicketStatus.CLOSED and updated.kind is TicketKind.MASTER
                    is_current_master = closing and (await pipe.hget(state, "master") or b"").decode() == ticket_id
                    pipe.multi()
                    self._write_changes(pipe, ticket, updated)
                    if owe is not None and updated.kind is TicketKind.MASTER:
                        pipe.hset(key, f"owed_{owe}", repr(now.timestamp()))
                    if master is not None:   # (a linked report leaves the work queue with its master)
                        pipe.zrem(masters_key(tag_of(ticket_id)), ticket_id)
                    if effects.cascade:
                        self._cascade(pipe, updated, now)
                    if closing:
                        # The key's newest closed master: a new firing may be its recurrence.
                        pipe.hset(state, mapping={"closed": ticket_id, "closed_at": repr(now.timestamp())})
                        if is_current_master:
                            pipe.hdel(state, "master")
                    # (in the closed ticket's shard, so that both are written in one transaction)
                    calendar = tables.calendar_for(updated.priority, updated.handling_group) if tables else None
                    follow_up = lifecycle.follow_up_ticket(
                        updated, ticket_id_of(random_tag(shard_of(tag_of(updated.id))), 1), now, calendar) if effects.follow_up else None
                    if follow_up is not None:
                        self._write_new(pipe, follow_up)
                    await pipe.execute()
                    if effects.cascade and updated.duplicate_count > cascade.SLICE:   # (else done in one)
                        await cascade.carry_on(self._redis, [updated.id])
                    if follow_up is not None and self._on_created is not None:
                        self._on_created(follow_up)
                    if master is not None:
                        updated = await self._follow_master(updated, now)
                    return await self._shown(updated), effects
                except WatchError:
                    continue

    async def _link_report(self, report_id: str, request: ActionRequest, actor: Actor, now: datetime) -> Ticket | None:
        """Before ``mark_duplicate`` (handbook §3.1.3.8): the master it names, as read, and the
        report listed under the master (in the master's slot, so written first and apart: a link
        listed whose report was not changed is passed over, since the report does not name it)."""
        try:
            master = await self._read(request.master_id) if request.master_id else None
        except TicketNotFound:
            master = None
        lifecycle.apply(await self._read(report_id), Action.MARK_DUPLICATE, request, actor, now, master=master)
        await self._redis.rpush(_key_of(master.id) + ":reports", report_id)
        return master

    async def _follow_master(self, report: Ticket, now: datetime) -> Ticket:
        """A report linked as its master was being resolved or closed follows it at once (the
        master's restoration job may have run already)."""
        master = await self._read(report.master_id)
        if master.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            await self.cascade_reports(master, now)
            return await self._read(report.id)
        return report

    async def linked_reports(self, master_id: str) -> list[str]:
        """The user reports marked duplicates of this master, each once, oldest first."""
        listed = await self._redis.lrange(_key_of(master_id) + ":reports", 0, -1)
        return list(dict.fromkeys(item.decode(errors="replace") for item in listed))

    async def cascade_reports(self, master: Ticket, now: datetime) -> list[Ticket]:
        """The linked reports follow their master into resolved or closed (SPEC §2), each in its
        own slot; run by the master's restoration and closure jobs, so done again after a crash.
        Returns every linked report, as it is now."""
        reports = []
        for report_id in await self.linked_reports(master.id):
            def follow(report: Ticket) -> Ticket | None:
                if report.kind is not TicketKind.DUPLICATE or report.master_id != master.id:
                    return None   # (listed, and the link was never written: see _link_report)
                if master.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
                    return None
                moved = lifecycle.cascade(report, master, now)
                return None if moved is report else moved
            try:
                report = await self.change(report_id, follow) or await self._read(report_id)
            except TicketNotFound:
                continue
            if report.master_id == master.id:
                reports.append(report)
        return reports

    async def change(self, ticket_id: str, change: Callable[[Ticket], Ticket | None]) -> Ticket | None:
        """Apply ``change`` under optimistic locking; None from it means "nothing to do"."""
        key = _key_of(ticket_id)
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    ticket = await self._read(ticket_id, pipe)
                    updated = change(ticket)
                    if updated is None:
                        await pipe.unwatch()
                        return None
                    pipe.multi()
                    self._write_changes(pipe, ticket, updated)
                    await pipe.execute()
                    return updated
                except WatchError:
                    continue

    async def masters(self, fields: tuple[str, ...]) -> AsyncIterator[tuple[str, dict[str, bytes | None]]]:
        """Every master with the given fields of its hash (the worker's sweep). Walks the masters
        index, which storms' duplicates do not grow."""
        async for chunk in self._master_chunks(fields):
            for ticket_id, values in chunk:
                yield ticket_id, values

    async def _master_chunks(self, fields: tuple[str, ...]) -> AsyncIterator[list[tuple[str, dict[str, bytes | None]]]]:
        await self._index_older_masters()
        names = names_to_read(fields)
        async for ids in index.all_ids(self._redis, keys=masters_keys()):
            pipe = Pipelined(self._redis)   # (raw replies, packed by hiredis: a third of redis-py's cost)
            for ticket_id in ids:
                pipe.command("HMGET", ticket_key(ticket_id), *names)
            yield [(ticket_id, picked(fields, values)) for ticket_id, values in zip(ids, await pipe.execute())]

    async def unresolved_masters(self, fields: tuple[str, ...],
                                 worth_reading: Callable[[dict[str, bytes | None]], bool] | None = None,
                                 ) -> AsyncIterator[list[Ticket]]:
        """The masters not yet resolved (the work queue), a chunk of the masters index at a time,
        each with only ``fields`` of its hash (and its status and times), and only those whose
        stored values are ``worth_reading`` (a ticket is made of a master's values at ~20 µs).
        A reader keeps what it needs of each chunk (``tickets/shortlist.py``): holding every
        ticket of a queue of hundreds of thousands cost the collector as much again as reading them."""
        wanted = tuple(dict.fromkeys(("status", "created_at", "updated_at", *fields)))
        stored = {name: name.encode() for name in wanted}
        async for chunk in self._master_chunks(wanted):
            found: list[Ticket] = []
            for ticket_id, values in chunk:
                status = values["status"]
                if worth_reading is not None and not worth_reading(values):
                    continue
                if status is not None and status.decode(errors="replace") in _UNRESOLVED_VALUES:
                    found.append(from_hash({stored[k]: v for k, v in values.items() if v is not None},
                                           ticket_id=ticket_id))
            yield found

    async def forget_settled(self, ticket_ids: list[str], kinds: tuple[str, ...], attempts: int) -> int:
        """Take closed masters that owe nothing (``recovery.settled``) out of the masters index,
        each only if it still is so; returns how many left it. Their records stay, listed and
        read as before: only the walks of the masters in work (``masters``) no longer meet them."""
        if not ticket_ids:
            return 0
        script = self._redis.register_script(scripts.FORGET_SETTLED)
        pipe = Pipelined(self._redis)
        for ticket_id in ticket_ids:
            pipe.script(script, [_key_of(ticket_id), masters_key(tag_of(ticket_id))], [ticket_id, attempts, *kinds])
        return sum(int(removed) for removed in await pipe.execute())

    async def owed(self, ticket_id: str, kind: str) -> bytes | None:
        """The mark of follow-up work owed to the ticket (workers/recovery.py), as read now."""
        return await self._redis.hget(_key_of(ticket_id), f"owed_{kind}")

    async def settle(self, ticket_id: str, kind: str, seen: bytes | None) -> None:
        """The work is done: clear its mark, unless it was set again since ``seen`` was read."""
        if seen is not None:
            await self._redis.eval(scripts.SETTLE, 1, _key_of(ticket_id), f"owed_{kind}", seen, f"swept_{kind}")

    async def queued_again(self, ticket_id: str, kind: str, now: datetime, abandoned: bool = False) -> None:
        """The sweep queued the work again (or gave it up): one more sweep counted against it."""
        pipe = self._redis.pipeline(transaction=False)
        if not abandoned and kind != "timers":  # (timers are owed by next_timer_at, which the replan moves)
            pipe.hset(_key_of(ticket_id), f"owed_{kind}", repr(now.timestamp()))
        pipe.hincrby(_key_of(ticket_id), f"swept_{kind}", 1)
        await pipe.execute()

    async def _index_older_masters(self) -> None:
        """Once per Redis: add the masters stored before the masters index existed (a walk of the
        whole ticket index; a numbered duplicate, <master>-<k>, is passed over by its id)."""
        if await self._redis.exists(MASTERS_INDEXED):
            return
        async for ids in index.all_ids(self._redis):
            ids = [ticket_id for ticket_id in ids if master_of_duplicate(ticket_id) is None]
            pipe = self._redis.pipeline(transaction=False)
            for ticket_id in ids:
                pipe.hmget(ticket_key(ticket_id), "kind", "created_at")
            found = [(ticket_id, float(created or 0)) for ticket_id, (kind, created) in zip(ids, await pipe.execute())
                     if kind == b"master"]
            pipe = self._redis.pipeline(transaction=False)
            for ticket_id, created in found:
                pipe.zadd(masters_key(tag_of(ticket_id)), {ticket_id: created})
            await pipe.execute()
        await self._redis.set(MASTERS_INDEXED, "1")

    async def mark(self, ticket_id: str, **fields: str) -> None:
        """Set bookkeeping fields that no rule depends on (e.g. ``dispatched_at``)."""
        await self._redis.hset(_key_of(ticket_id), mapping=fields)

    async def bookkeep(self, ticket_id: str, marks: dict[str, str], unmarks: list[str]) -> None:
        """``mark`` and ``unmark`` in one round trip (in this order)."""
        key = _key_of(ticket_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            if marks:
                pipe.hset(key, mapping=marks)
            if unmarks:
                pipe.hdel(key, *unmarks)
            await pipe.execute()

    async def unmark(self, ticket_id: str, *fields: str) -> None:
        await self._redis.hdel(_key_of(ticket_id), *fields)

    @staticmethod
    def _cascade(pipe: Any, master: Ticket, now: datetime) -> None:
        """Every duplicate follows the master (``lifecycle.cascade``), in the action's transaction:
        a script that finds them in Redis (read one by one here, a master of 20,000 duplicates
        took 8.7 s to resolve, and the storm's next duplicate made the transaction start over),
        the first slice of them at once (``tickets/cascade.py``; ``act`` finishes the rest)."""
        fields: dict[str, str | bytes] = {}
        entries: dict[str, str | bytes] = {}
        for status in TicketStatus:   # (the same fields whatever a duplicate's status; its own entry)
            before = Ticket(id=f"{master.id}-0", kind=TicketKind.DUPLICATE, status=status, created_at=_LONG_AGO,
                            updated_at=_LONG_AGO)
            after = lifecycle.cascade(before, master, now)
            if after is not before:
                changed, [entry] = changes(before, after)
                fields |= changed
                entries[status.value] = entry
        cascade.start(pipe, master.id, now.timestamp(), fields, entries)

    def _write_changes(self, pipe: Any, before: Ticket, after: Ticket) -> None:
        if after is before:
            return
        key = ticket_key(after.id)
        changed, added = changes(before, after)
        if changed:
            pipe.hset(key, mapping=changed)
        if added:
            pipe.rpush(key + ":tl", *added)


def changes(before: Ticket, after: Ticket) -> tuple[dict[str, str | bytes], list[bytes]]:
    """What an action changed: the fields to write, and the timeline entries to append (encoded)."""
    # (fields compared as values first: only those that differ are encoded, and compared encoded)
    pairs = zip(after.__struct_fields__, msgspec.structs.astuple(before), msgspec.structs.astuple(after))
    differ = {name for name, old, new in pairs if old != new} - SKIP_FIELDS
    old, new = to_hash(before, differ), to_hash(after, differ)
    changed = {name: value for name, value in new.items() if old.get(name) != value}
    # Fields a duplicate shows from its master are not copied into it.
    if after.kind is TicketKind.DUPLICATE:
        changed = {n: v for n, v in changed.items() if n not in CONTENT_FIELDS}
    return changed, [_encode(e) for e in after.timeline[len(before.timeline):]]


def with_creation_entry(ticket: Ticket) -> Ticket:
    """The first timeline entry, derived from the record (alert-made tickets do not store it)."""
    if ticket.timeline and ticket.timeline[0].action == "create":
        return ticket
    origin = ticket.origin or "new"
    note = {"duplicate": f"duplicate of {ticket.master_id}", "recurrence": f"recurrence of {ticket.recurrence_of}"}
    entry = TimelineEntry(at=ticket.created_at, actor=ticket.alert_source or "alertgate", action="create",
                          to_status=TicketStatus.OPEN if ticket.kind is TicketKind.MASTER else None,
                          note=note.get(origin, origin))
    return msgspec.structs.replace(ticket, timeline=[entry, *ticket.timeline])
