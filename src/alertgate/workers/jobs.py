"""RQ jobs. Each re-reads the ticket and acts only if the ticket still needs it, so running a job
twice (a retry, a duplicate timer) changes nothing the second time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import structlog

from alertgate.dedup import layout
from alertgate.keys import OPEN_BY_PRIORITY
from alertgate.durations import parse_duration
from alertgate.problems import triggers
from alertgate.problems.store import ProblemStore
from alertgate.runtime.connections import StateRedis, connect_queue_redis, connect_state, shared_queue_redis
from alertgate.rules.policy import DEFAULT_GROUP
from alertgate.settings import Role
from alertgate.tickets import cascade
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor, IllegalTransition
from alertgate.tickets.model import (
    Ticket,
    TicketKind,
    TicketStatus,
    TimelineEntry,
)
from alertgate.tickets.store import TicketNotFound, TicketStore
from alertgate.workers.context import WorkerContext, context
from alertgate.workers.delivery import deliver
from alertgate.workers.dispatch import dispatch_many, dispatch_on, plan_after
from alertgate.workers.dispatch import now as _now
from alertgate.workers.intents import IntentConsumer, IntentStreams
from alertgate.workers.notices import after_action, compose
from alertgate.workers.plan import Timer, plan, still_due
from alertgate.workers.source_sync import sync
from alertgate.workers.timers import TimerSets
from alertgate.workers import flapping, recovery
from alertgate.work_queue import (action_job, closure_reminder_job, dispatch_job, enqueue_all, held_restoration_job,
                                  pending_work)

log = structlog.get_logger("alertgate.jobs")
SCHEDULER = Actor("alertgate", Role.SERVICE_DESK)   # resumes a ticket suspended until a time
SINCE_SLACK = 0.001   # (seconds: an entry's time and its timer's, as floats, compared)

T = TypeVar("T")


def _run(body: Awaitable[T]) -> T:
    return asyncio.run(body)


class _JobStateStore:
    """An asyncio Redis client for the state store, for the life of one job."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.redis = connect_state(ctx.settings, fail_fast=False)

    async def __aenter__(self) -> tuple[StateRedis, TicketStore]:
        await layout.ensure(self.redis)  # (known already in a worker: read when it started)
        return self.redis, TicketStore(self.redis)

    async def __aexit__(self, *exc: object) -> None:
        await self.redis.aclose()


def dispatch(ticket_id: str, reason: str) -> str:
    """Assign the routed group, tell it, plan the timers (new, recurring or reopened master)."""
    return _run(_dispatch(context(), ticket_id, reason))


async def _dispatch(ctx: WorkerContext, ticket_id: str, reason: str) -> str:
    async with _JobStateStore(ctx) as (redis, store):
        return await dispatch_on(ctx, redis, store, ticket_id, reason)


def intent_consumer(ctx: WorkerContext, redis: StateRedis, queue_redis: Any, **options: Any) -> IntentConsumer:
    """The intents consumer that dispatches and fires timers with these jobs' code (``workers/intents.py``)."""
    return IntentConsumer(ctx, redis, queue_redis, dispatch_on, fire_due_on, dispatch_many=dispatch_many, **options)


def replan(ticket_id: str, note: str = "") -> str:
    """After an action changed the ticket (its SLA clocks may have moved)."""
    ctx = context()

    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            seen = await store.owed(ticket_id, "replan")
            ticket = await store.get(ticket_id)
            planned = await plan_after(ctx, redis, ticket)
            desk = ctx.letterhead
            notices = [compose(ticket, kind, recipient, desk, step=step, detail=detail)
                       for kind, recipient, step, detail in after_action(ticket, note)]
            if notices:
                await deliver(ctx, redis, notices, ticket.notice_channels)
            await store.settle(ticket_id, "replan", seen)
            return f"{len(planned)} timers planned"
    return _run(body())


def fire_due(ticket_id: str, since: float) -> str:
    """A ticket's timer entry as an RQ job: one the intents consumer handed over (it failed there)."""
    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            return await fire_due_on(ctx, redis, store, ticket_id, since)
    ctx = context()
    return _run(body())


def fire_timer(ticket_id: str, kind: str, step: str, at: str) -> str:
    """One timer as an RQ job, as an earlier version queued it (one per timer): the ticket's
    timers due since its time are fired (``fire_due``)."""
    return fire_due(ticket_id, datetime.fromisoformat(at).timestamp())


async def fire_due_on(ctx: WorkerContext, redis: StateRedis, store: TicketStore, ticket_id: str, since: float) -> str:
    """The ticket's timers due from ``since`` (its entry's time, ``workers/timers.py``) to now, each
    fired if still due, in their order; then its entry put back at its next timer, and
    ``next_timer_at`` noted (on a client of the caller's: the intents consumer's, or an RQ job's own)."""
    upto = _now()
    try:
        ticket = await store.get(ticket_id)
    except TicketNotFound:
        return "no such ticket"
    due = [t for t in plan(ticket, ctx.tables, ctx.settings.notify.warn_at)
           if since - SINCE_SLACK <= t.at.timestamp() and t.at <= upto]
    done = []
    unknown = False   # (whether the ticket may have changed in a way ``ticket`` does not show)
    for timer in due:
        if unknown:
            ticket = await store.get(ticket_id)
        told, after = await _fire(ctx, redis, store, ticket, timer)
        done.append(told)
        ticket, unknown = (after, False) if after is not None else (ticket, True)
    try:
        # (planned from the ticket the last change wrote: read again only when a step did not
        # say how it left it; three whole reads a ticket were a fifth of the timers' CPU)
        await plan_after(ctx, redis, await store.get(ticket_id) if unknown else ticket, upto)
    except TicketNotFound:
        pass
    return "; ".join(done) or "nothing due"


async def _fire(ctx: WorkerContext, redis: StateRedis, store: TicketStore, ticket: Ticket,
                timer: Timer) -> tuple[str, Ticket | None]:
    """One timer: what it did, and the ticket as it left it (None: to be read again)."""
    ticket_id = ticket.id
    if not still_due(ticket, timer, ctx.tables):
        return "left alone: no longer due", ticket
    now, desk = _now(), ctx.letterhead
    if timer.kind == "resume":
        return await _resume(ctx, store, ticket_id, now), None
    if timer.kind == "sla_warning":   # (issue #26, item 9: before the breach, not only at it)
        await deliver(ctx, redis, [compose(ticket, "sla_warning", ticket.handling_group, desk, step=timer.step)],
                      ticket.notice_channels)
        return f"{timer.step.partition(':')[0]} warned", ticket
    # A breach and an escalation are told first and written after: a worker killed between the two
    # tells again (skipped: each notice's sent mark) and writes; written first, the timer would no
    # longer be due when done again, and its notice lost.
    if timer.kind == "sla":
        def breach(t: Ticket) -> Ticket | None:
            if not still_due(t, timer):
                return None
            sla = [msgspec.structs.replace(e, breached=True) if e.target.value == timer.step else e for e in t.sla]
            entry = TimelineEntry(at=now, actor="alertgate", action="sla_breach",
                                  note=f"{timer.step} target missed (due {timer.at.isoformat()})")
            return msgspec.structs.replace(t, sla=sla, updated_at=now, timeline=t.timeline + [entry])
        told = breach(ticket) or ticket   # (the incident manager is told of every breach: handbook §3.1.3.6)
        await deliver(ctx, redis, [compose(told, "sla_breach", r, desk, step=timer.step)
                                   for r in (told.handling_group, Role.INCIDENT_MANAGER.value)], told.notice_channels)
        changed = await store.change(ticket_id, breach)
        if changed is None:
            return "left alone: already marked", None
        ctx.metrics.sla_breaches.labels(str(ticket.priority), timer.step).inc()
        return f"{timer.step} breached", await store.as_shown(changed)
    if timer.kind == "escalation":
        level = int(timer.step)
        steps = ctx.tables.escalation_steps(ticket.priority, ticket.escalation_policy)
        role = steps[level - 1].notify   # (still_due checked the level against these steps)

        def escalate(t: Ticket) -> Ticket | None:
            if t.escalation_level >= level:
                return None
            entry = TimelineEntry(at=now, actor="alertgate", action="escalate", note=f"level {level}: {role}")
            return msgspec.structs.replace(t, escalation_level=level, updated_at=now, timeline=t.timeline + [entry])
        told = escalate(ticket) or ticket
        await deliver(ctx, redis, [compose(told, "escalation", role, desk, step=str(level))], told.notice_channels)
        changed = await store.change(ticket_id, escalate)
        if changed is None:
            return "left alone: already escalated", None
        ctx.metrics.escalations.labels(str(ticket.priority), str(level)).inc()
        return f"escalated to level {level} ({role})", await store.as_shown(changed)
    number, _, role = timer.step.partition(":")
    await deliver(ctx, redis, [compose(ticket, "stakeholder", role, desk, step=number)], ticket.notice_channels)
    return f"stakeholder {role} notified", ticket


async def _resume(ctx: WorkerContext, store: TicketStore, ticket_id: str, now: datetime) -> str:
    """The suspension's time is up: resumed as the handbook's scheduler, its timers planned again."""
    try:
        await store.act(ticket_id, Action.RESUME, ActionRequest(note="the suspension's time is up"), SCHEDULER,
                        now, owe="replan", tables=ctx.tables)
    except IllegalTransition:
        return "left alone: no longer suspended"
    enqueue_all(shared_queue_redis(ctx.settings),
                [action_job("replan", ticket_id, "resume", ctx.settings.notify.max_attempts)])
    return "resumed"


def restoration(ticket_id: str, note: str = "") -> str:
    """The notice that service is restored, to everyone who was told of the incident."""
    ctx = context()

    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            seen = await store.owed(ticket_id, "restoration")
            ticket = await store.get(ticket_id)
            due = flapping.restoration_due(ticket, float(ctx.settings.notify.restoration_hold))
            if due is not None and due > _now():   # (owed still: the sweep sees the scheduled job)
                await asyncio.to_thread(held_restoration_job, shared_queue_redis(ctx.settings), ticket_id, due,
                                        ticket.resolved_at, ctx.settings.notify.max_attempts)
                log.info("restoration_held", ticket_id=ticket_id, until=due.isoformat())
                return f"held until {due.isoformat()}"
            sent = await _restore(ctx, redis, store, ticket)
            await store.settle(ticket_id, "restoration", seen)
            return sent
    return _run(body())


async def _restore(ctx: WorkerContext, redis: StateRedis, store: TicketStore, ticket: Ticket) -> str:
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED) or ticket.kind is not TicketKind.MASTER:
        return "left alone: not resolved"
    told = [ticket.handling_group]
    resolved = ticket.resolved_at or _now()
    steps = ctx.tables.escalation_steps(ticket.priority, ticket.escalation_policy)
    told += [s.notify for s in steps[:ticket.escalation_level]]
    timeline = ctx.tables.notification.timeline.get(ticket.priority, [])
    for role, after in zip(ctx.tables.notification.stakeholders, timeline):
        if ticket.created_at + parse_duration(after) <= resolved:
            told.append(role)
    if ticket.contact:
        told.append(ticket.contact)   # the reporting user (handbook §3.1.3.7: 告知服务已恢复)
    desk = ctx.letterhead
    notices = [compose(ticket, "restoration", r, desk, step=f"r{ticket.reopen_count}") for r in dict.fromkeys(told)]
    sent = await deliver(ctx, redis, notices, ticket.notice_channels)
    # The user reports marked its duplicates follow it, and their users are told (§3.1.3.8).
    for report in await store.cascade_reports(ticket, _now()):
        if report.contact:   # (on the report's own channels)
            user = compose(report, "restoration", report.contact, desk, step=f"r{ticket.reopen_count}",
                           detail=f"with incident {ticket.id}")
            sent += await deliver(ctx, redis, [user], report.notice_channels)
    return f"{sent} restoration notices"


def closure_reminder(ticket_id: str, number: int) -> str:
    """SPEC §9: the service desk is reminded that a resolved ticket waits for its closure (the
    handbook closes only after the user confirms: never automatically)."""
    ctx = context()

    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            now = _now()

            def remind(t: Ticket) -> Ticket | None:
                if t.status is not TicketStatus.RESOLVED or t.closure_reminders >= number:
                    return None
                entry = TimelineEntry(at=now, actor="alertgate", action="closure_reminder",
                                      note=f"reminder {number}: resolved at {t.resolved_at.isoformat() if t.resolved_at else '?'}, "
                                           "waiting for closure")
                return msgspec.structs.replace(t, closure_reminders=number, closure_reminded_at=now,
                                               timeline=t.timeline + [entry])
            try:
                changed = await store.change(ticket_id, remind)
            except TicketNotFound:
                return "no such ticket"
            if changed is None:
                return "left alone: closed, reopened or reminded already"
            ctx.metrics.closure_reminders.inc()
            notice = compose(changed, "closure_reminder", DEFAULT_GROUP, ctx.letterhead, step=str(number))
            await deliver(ctx, redis, [notice], changed.notice_channels)
            return f"closure reminder {number}"
    return _run(body())


def sweep(interval: float = 30.0) -> str:
    """Run by each worker's sweeper every ``interval`` (workers/sweeper.py): queue again the work a master is owed for longer than ``interval`` (a lost or
    never queued job: workers/recovery.py), count the open tickets, take the closed masters
    that owe nothing out of the masters index (``recovery.settled``), and finish the cascades to
    duplicates that no slice moved for ``interval`` (``tickets/cascade.py``)."""
    ctx = context()

    async def body() -> str:
        now = _now()
        requeue, open_by_priority, reminders, settled = [], {}, [], []
        every = float(ctx.settings.closure_reminder)
        pending = await asyncio.to_thread(pending_work, queue_redis)  # (waiting in a backlog is not lost)
        async with _JobStateStore(ctx) as (redis, store):
            pending |= await IntentStreams(redis).waiting()   # (an intent not worked yet is not lost either)
            pending |= await TimerSets(redis).due(now.timestamp())   # (nor a timer due, not yet moved to them)
            async for ticket_id, fields in store.masters(recovery.FIELDS):
                if recovery.settled(fields):
                    settled.append(ticket_id)
                    continue
                reminder = recovery.closure_reminder_due(fields, now.timestamp(), every)
                if reminder is not None:
                    reminders.append(closure_reminder_job(ticket_id, reminder, ctx.settings.notify.max_attempts))
                priority = recovery.open_priority(fields)
                if priority is not None:
                    open_by_priority[priority] = open_by_priority.get(priority, 0) + 1
                for owed in recovery.owed_work(fields, now.timestamp() - interval):
                    if (owed.kind, ticket_id) in pending:
                        continue
                    if owed.sweeps < recovery.SWEEP_ATTEMPTS:
                        requeue.append((ticket_id, owed.kind))
                        await store.queued_again(ticket_id, owed.kind, now)
                    elif owed.sweeps == recovery.SWEEP_ATTEMPTS:  # every try failed: stop, once, and say so
                        ctx.metrics.work_abandoned.labels(owed.kind).inc()
                        log.error("work_abandoned", ticket_id=ticket_id, kind=owed.kind, sweeps=owed.sweeps)
                        await store.queued_again(ticket_id, owed.kind, now, abandoned=True)
            forgotten = await store.forget_settled(settled, recovery.FLAGGED, recovery.SWEEP_ATTEMPTS)
            finished = await cascade.finish_stale(redis, interval)   # (cut short by a crash or a Redis fault)
            await redis.delete(OPEN_BY_PRIORITY)
            if open_by_priority:
                await redis.hset(OPEN_BY_PRIORITY, mapping={str(p): n for p, n in open_by_priority.items()})
        if reminders:  # (the job checks again: one queued twice reminds once)
            enqueue_all(queue_redis, reminders)
        if requeue:  # one transaction for all of them
            attempts = ctx.settings.notify.max_attempts
            job = {"dispatch": lambda t: dispatch_job(t, "sweep", attempts),
                   "timers": lambda t: action_job("replan", t, "sweep", attempts)}
            enqueue_all(queue_redis, [job[kind](t) if kind in job else action_job(kind, t, "sweep", attempts)
                                      for t, kind in requeue])
        counts: dict[str, int] = {}
        for _, kind in requeue:
            counts[kind] = counts.get(kind, 0) + 1
        owed = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) + " queued again" if counts else "nothing owed"
        return (owed + (f"; {len(reminders)} closure reminders" if reminders else "")
                + (f"; {finished} cascades to duplicates finished" if finished else "")
                + (f"; {forgotten} closed masters out of the masters index" if forgotten else ""))
    queue_redis = connect_queue_redis(ctx.settings)
    return _run(body())


def problem_on_close(ticket_id: str, note: str = "") -> str:
    """A closed P1, or closure code completed_with_problem, opens a problem record."""
    ctx = context()

    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            seen = await store.owed(ticket_id, "problem_on_close")
            ticket = await store.get(ticket_id)
            if ticket.kind is TicketKind.MASTER:
                await store.cascade_reports(ticket, _now())   # (its linked user reports close with it)
            reason = triggers.on_close(ticket)
            done = "no problem"
            if reason is not None:  # (open_or_link is idempotent: the problem's key is the ticket's)
                problem, created = await ProblemStore(redis).open_or_link(
                    f"ticket:{ticket_id}", ticket.title, ticket.ci, ticket.symptom, reason,
                    [ticket_id] + ([ticket.recurrence_of] if ticket.recurrence_of else []))
                done = f"{'opened' if created else 'linked'} {problem.id}"
            await store.settle(ticket_id, "problem_on_close", seen)
            return done
    return _run(body())


def sync_source(ticket_id: str, action: str = "") -> str:
    """Tell the ticket's source what was done (workers/source_sync.py)."""
    ctx = context()

    async def body() -> str:
        async with _JobStateStore(ctx) as (redis, store):
            try:
                return await sync(ctx, redis, store, ticket_id, action)
            except TicketNotFound:
                return "no such ticket"
    return _run(body())
