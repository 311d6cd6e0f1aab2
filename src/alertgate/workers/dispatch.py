"""The dispatch of a master: assign its routed group, tell that group (and the incident manager
for a P1 or a major incident), plan its timers, count it in its storm group. Once per ticket and
reopening, whatever queued it (ingest's intent, the sweep, RQ's retry of a killed attempt): the
``dispatched_for`` mark is written last, so an attempt cut short is done again, and every step
before it is idempotent (the assign is skipped once assigned; a notice's key does not depend on
the reason; a timer planned twice is one entry).

Two ways, one result:

- ``dispatch_on``: one ticket, about ten round trips (the assign under ``WATCH``): RQ's dispatch
  job, and what the intents consumer does for a ticket the batch left;
- ``dispatch_many``: the intents consumer's batch (issue #27): the batch's tickets read in one
  round trip, their assigns written in one (compare-and-set: ``tickets/batch.py``), their
  notices' sent marks read in one and written in one, their timers and marks in one. A ticket the
  batch cannot take as read (changed since the read, or not a plain open master) is left to
  ``dispatch_on``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

import structlog

from alertgate.keys import tag_of, ticket_key, timers_key
from alertgate.problems import triggers
from alertgate.problems.store import ProblemStore
from alertgate.runtime.connections import StateRedis, shared_queue_redis
from alertgate.runtime.pipelining import Pipelined
from alertgate.settings import Role
from alertgate.tickets.batch import ActionWriter, Read, read_many
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor, apply
from alertgate.tickets.model import UNRESOLVED, Ticket, TicketKind, TicketStatus
from alertgate.tickets.store import TicketStore
from alertgate.work_queue import dispatch_job, enqueue_all
from alertgate.workers.context import WorkerContext
from alertgate.workers import flapping
from alertgate.workers.delivery import DeliveryFailed, deliver, deliver_many
from alertgate.workers.notices import Notice, compose
from alertgate.workers.plan import Timer, plan
from alertgate.workers.storms import StormGrouping
from alertgate.workers.timers import TimerSets, next_due

log = structlog.get_logger("alertgate.jobs")
DISPATCHER = Actor("alertgate-dispatch", Role.SERVICE_DESK)


class Outcome(Enum):
    DONE = "done"              # dispatched, or nothing to do
    FAILED = "failed"          # a notice could not be sent: RQ retries the dispatch
    ONE_BY_ONE = "one_by_one"  # left to dispatch_on


def now() -> datetime:
    return datetime.now(UTC)


async def dispatch_on(ctx: WorkerContext, redis: StateRedis, store: TicketStore, ticket_id: str, reason: str) -> str:
    """One dispatch, on a client of the caller's (an RQ job's own, or the intents consumer's)."""
    ticket, marks = await store.get_marked(ticket_id, "dispatched_for")
    if (why := _left_alone(ticket, marks.get("dispatched_for"))) is not None:
        return why
    if ticket.status is TicketStatus.OPEN:
        ticket, _ = await store.act(ticket_id, Action.ASSIGN, _assign_request(ticket, reason), DISPATCHER, now(),
                                    tables=ctx.tables)
    timers = await schedule(ctx, redis, ticket)
    if reason == "recurrence":
        await _problem_on_recurrence(redis, store, ticket)
    await deliver(ctx, redis, _notices(ctx, ticket), ticket.notice_channels)
    await store.bookkeep(ticket_id, *_dispatched_marks(ctx, ticket, timers))
    await _count_in_storm(ctx, redis, ticket, reason)
    log.info("dispatched", ticket_id=ticket_id, group=ticket.handling_group, reason=reason, timers=len(timers))
    return f"dispatched to {ticket.handling_group}"


async def dispatch_many(ctx: WorkerContext, redis: StateRedis, store: TicketStore,
                        work: list[tuple[str, str]]) -> list[Outcome]:
    """Each (ticket id, reason) dispatched as ``dispatch_on`` would, in a few round trips for all."""
    outcomes = [Outcome.ONE_BY_ONE] * len(work)
    valid = [n for n, (ticket_id, _) in enumerate(work) if _valid_id(ticket_id)]
    reads = dict(zip(valid, await read_many(redis, [work[n][0] for n in valid])))
    going: dict[int, Ticket] = {}
    assigns: list[tuple[int, Read, Ticket]] = []
    for n, read in reads.items():
        if read is None:
            continue   # (dispatch_on says it is not found)
        marked = read.raw.get(b"dispatched_for")
        if _left_alone(read.ticket, marked.decode() if marked else None) is not None:
            outcomes[n] = Outcome.DONE
        elif read.ticket.status is TicketStatus.OPEN:
            assigns.append((n, read, _assigned(ctx, read.ticket, work[n][1])))
        else:
            going[n] = read.ticket
    written = await ActionWriter(redis).act_many([(read, after) for _, read, after in assigns])
    going |= {n: after for (n, _, after), ok in zip(assigns, written) if ok}
    order = sorted(going)
    timers = {n: plan(going[n], ctx.tables, ctx.settings.notify.warn_at) for n in order}
    for n in order:
        if work[n][1] == "recurrence":
            await _problem_on_recurrence(redis, store, going[n])
    delivered = await deliver_many(ctx, redis, [(_notices(ctx, going[n]), going[n].notice_channels) for n in order])
    done = [n for n, result in zip(order, delivered) if not isinstance(result, DeliveryFailed)]
    await _finish(redis, [(going[n], timers[n], _dispatched_marks(ctx, going[n], timers[n]) if n in done else None)
                          for n in order])
    for n, result in zip(order, delivered):
        outcomes[n] = Outcome.FAILED if isinstance(result, DeliveryFailed) else Outcome.DONE
        if isinstance(result, DeliveryFailed):
            log.error("dispatch_failed_here", ticket_id=going[n].id, error="DeliveryFailed", message=str(result)[:300])
            continue
        await _count_in_storm(ctx, redis, going[n], work[n][1])
        log.info("dispatched", ticket_id=going[n].id, group=going[n].handling_group, reason=work[n][1],
                 timers=len(timers[n]))
    return outcomes


# KEYS: the ticket's hash, its shard's timers. ARGV: the ticket's timer entry's due time ('' for
# none: workers/timers.py), the number of marks to set; then (field, value) per mark, and the marks
# to delete. One reply per ticket.
FINISH = """
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[2], 'LT', ARGV[1], ARGV[3]) end
local marks, i = tonumber(ARGV[2]), 4
if marks > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * marks - 1)) end
i = i + 2 * marks
if i <= #ARGV then redis.call('HDEL', KEYS[1], unpack(ARGV, i, #ARGV)) end
return 1
"""


async def _finish(redis: StateRedis, tickets: list[tuple[Ticket, list[Timer], tuple | None]]) -> None:
    """Each ticket's timer entry planned, and the dispatched tickets' marks written (after it):
    one round trip."""
    script = redis.register_script(FINISH)
    pipe = Pipelined(redis)
    for ticket, timers, marks in tickets:
        due = next_due(timers)
        sets, unsets = marks if marks is not None else ({}, [])
        pairs = [value for pair in sets.items() for value in pair]
        pipe.script(script, [ticket_key(ticket.id), timers_key(tag_of(ticket.id))],
                    ["" if due is None else repr(due), len(sets), ticket.id, *pairs, *unsets])
    await pipe.execute()


def _valid_id(ticket_id: str) -> bool:
    try:
        ticket_key(ticket_id)
        return True
    except KeyError:
        return False


def _left_alone(ticket: Ticket, dispatched_for: str | None) -> str | None:
    """Why the ticket needs no dispatch (not a master in work, or dispatched already), if so."""
    if ticket.kind not in (TicketKind.MASTER, TicketKind.MAJOR) or ticket.status not in UNRESOLVED:
        return f"left alone: {ticket.kind.value} {ticket.status.value}"
    if _count(dispatched_for) == ticket.reopen_count:
        return "left alone: already dispatched"
    return None


def _assign_request(ticket: Ticket, reason: str) -> ActionRequest:
    return ActionRequest(group=ticket.routed_group, note=f"dispatch ({reason})")


def _assigned(ctx: WorkerContext, ticket: Ticket, reason: str) -> Ticket:
    """The open master assigned to its routed group (what ``TicketStore.act`` would write)."""
    return apply(ticket, Action.ASSIGN, _assign_request(ticket, reason), DISPATCHER, now(), ctx.tables)[0]


def _notices(ctx: WorkerContext, ticket: Ticket) -> list[Notice]:
    if flapping.quiet_reopening(ticket, float(ctx.settings.notify.restoration_hold)):
        log.info("reopening_not_announced", ticket_id=ticket.id, reopen_count=ticket.reopen_count)
        return []
    desk = ctx.letterhead
    notices = [compose(ticket, "incident", ticket.handling_group, desk, step=f"dispatch{ticket.reopen_count}")]
    if ticket.kind is TicketKind.MAJOR:  # (SPEC §11: a storm's major incident goes to the incident manager too)
        notices.append(compose(ticket, "incident", Role.INCIDENT_MANAGER.value, desk, step=f"major{ticket.reopen_count}"))
    elif ticket.priority == 1:   # handbook §3.1.3.7: a P1 is reported at once ("立即上报")
        notices.append(compose(ticket, "report", Role.INCIDENT_MANAGER.value, desk, step=f"p1-{ticket.reopen_count}",
                               detail="a P1 incident was opened"))
    if ticket.contact and ticket.reopen_count == 0:   # the matrix's user column: 待处理 (registered)
        notices.append(compose(ticket, "registered", ticket.contact, desk))
    return notices


def _dispatched_marks(ctx: WorkerContext, ticket: Ticket, timers: list[Timer]) -> tuple[dict[str, str], list[str]]:
    marks, unmarks = next_timer_marks(ctx, ticket, timers)
    return (marks | {"dispatched_at": repr(now().timestamp()), "dispatched_for": str(ticket.reopen_count)},
            unmarks + ["owed_dispatch", "swept_dispatch"])


async def _count_in_storm(ctx: WorkerContext, redis: StateRedis, ticket: Ticket, reason: str) -> None:
    """A new or recurring master counted in its storm group; a major incident it opens, dispatched."""
    if reason not in ("new", "recurrence") or not ticket.affected_service or ticket.kind is not TicketKind.MASTER:
        return
    topology = ctx.settings.topology
    storms = StormGrouping(redis, ctx.tables, topology.storm_masters, topology.storm_window,
                           on_created=lambda major: ctx.metrics.ticket_created(major.kind.value, major.priority))
    major = await storms.count(ticket, now())
    if major is not None:
        enqueue_all(shared_queue_redis(ctx.settings), [dispatch_job(major, "new", ctx.settings.notify.max_attempts)])


async def schedule(ctx: WorkerContext, redis: StateRedis, ticket: Ticket) -> list[Timer]:
    """(Re)plan the ticket's timers: its entry in its shard's timer set (workers/timers.py), at
    the first of them unless it is due earlier already; one ``ZADD``."""
    timers = plan(ticket, ctx.tables, ctx.settings.notify.warn_at)
    await TimerSets(redis).plan(ticket.id, timers)
    return timers


async def plan_after(ctx: WorkerContext, redis: StateRedis, ticket: Ticket, after: datetime | None = None) -> list[Timer]:
    """The ticket's timer entry at its first timer (after ``after``, once a firing handled those
    before), and its ``next_timer_at`` noted, in one round trip; returns its timers."""
    planned = plan(ticket, ctx.tables, ctx.settings.notify.warn_at)
    pending = planned if after is None else [t for t in planned if t.at > after]
    await _finish(redis, [(ticket, pending, next_timer_marks(ctx, ticket, planned, after))])
    return planned


def next_timer_marks(ctx: WorkerContext, ticket: Ticket, planned: list[Timer] | None = None,
                     after: datetime | None = None) -> tuple[dict[str, str], list[str]]:
    """``next_timer_at``: when the ticket's next timer is due (not before now), so that the sweep
    finds a timer that was lost (workers/recovery.py). ``planned``: what ``plan`` returned for this
    ticket, if known (every timer ``plan`` returns is still due: ``tests/unit/test_plan.py``).
    Returns the fields to set and those to delete."""
    if planned is None:
        planned = plan(ticket, ctx.tables, ctx.settings.notify.warn_at)
    pending = [t.at for t in planned if after is None or t.at > after]
    if pending:
        return {"next_timer_at": repr(max(min(pending), now()).timestamp())}, ["swept_timers"]
    return {}, ["next_timer_at", "swept_timers"]


def _count(value: str | None) -> int | None:
    try:
        return int(float(value)) if value else None
    except (ValueError, OverflowError):
        return None


async def _problem_on_recurrence(redis: StateRedis, store: TicketStore, ticket: Ticket) -> None:
    masters = await store.masters_of_key(ticket.id)
    recent = triggers.recurring(masters, now())
    if recent:
        linked = sorted({t.id for t in recent} | {t.recurrence_of for t in recent if t.recurrence_of})
        problem, created = await ProblemStore(redis).open_or_link(
            f"key:{ticket.id.split('-')[1]}:{recent[0].id}", ticket.title, ticket.ci, ticket.symptom,
            f"recurred {len(recent)} times within 7 days", linked)
        log.info("problem_linked", problem_id=problem.id, created=created, incidents=linked)
