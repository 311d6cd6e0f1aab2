"""The ticket lifecycle as a pure state machine (SPEC §3): ``apply(ticket, action, ...)``.

The clock and the actor are passed in; the result is the changed ticket plus the effects the
store must carry out beyond this ticket (cascade to duplicates, a follow-up ticket, a problem
record, a report to the incident manager).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Mapping, Protocol, Sequence

import msgspec

from alertgate.settings import Role
from alertgate.tickets.calendars import BusinessCalendar, shifted
from alertgate.tickets.model import (
    ClosureCode,
    ResolutionCode,
    SlaEntry,
    SlaTarget,
    UNRESOLVED,
    Ticket,
    TicketKind,
    TicketSource,
    TicketStatus,
    TimelineEntry,
)

S = TicketStatus
INCIDENT_MANAGER = "incident_manager"


class Action(str, enum.Enum):
    ASSIGN = "assign"
    ACCEPT = "accept"
    REJECT = "reject"
    REASSIGN = "reassign"
    START_CHANGE = "start_change"
    END_CHANGE = "end_change"
    SUSPEND = "suspend"
    RESUME = "resume"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    COMMENT = "comment"
    REPRIORITISE = "reprioritise"   # impact, urgency or priority, with a reason (§3.1.3.4)
    EDIT = "edit"                   # outage times and ci_operational, audited (§3.1.4.1)
    VERIFY = "verify"               # the duty team lead checks a closed record (§3.1.3.10)
    MARK_DUPLICATE = "mark_duplicate"   # a user's report of a known fault joins its open master (§3.1.3.8)
    ENGAGE_THIRD_PARTY = "engage_third_party"   # a vendor works on it; the ticket stays with its line (§3.1.3.2)


ALLOWED_FROM: dict[Action, frozenset[TicketStatus]] = {
    Action.ASSIGN: frozenset({S.OPEN}),
    Action.ACCEPT: frozenset({S.ASSIGNED}),
    Action.REJECT: frozenset({S.ASSIGNED}),
    Action.REASSIGN: frozenset({S.ASSIGNED, S.IN_PROGRESS}),
    Action.START_CHANGE: frozenset({S.IN_PROGRESS}),
    Action.END_CHANGE: frozenset({S.PENDING_CHANGE}),
    Action.SUSPEND: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.PENDING_CHANGE}),
    Action.RESUME: frozenset({S.SUSPENDED}),
    Action.RESOLVE: frozenset({S.OPEN, S.ASSIGNED, S.IN_PROGRESS}),
    Action.CLOSE: frozenset({S.RESOLVED}),
    Action.REOPEN: frozenset({S.RESOLVED}),
    Action.COMMENT: frozenset(S),
    Action.REPRIORITISE: frozenset({S.OPEN, S.ASSIGNED, S.IN_PROGRESS, S.PENDING_CHANGE, S.SUSPENDED}),
    Action.EDIT: frozenset(S),       # (the record is corrected after closure too, when it is verified)
    Action.VERIFY: frozenset({S.CLOSED}),
    Action.MARK_DUPLICATE: frozenset({S.OPEN, S.ASSIGNED, S.IN_PROGRESS, S.PENDING_CHANGE, S.SUSPENDED}),
    Action.ENGAGE_THIRD_PARTY: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.PENDING_CHANGE, S.SUSPENDED}),
}

_DESK, _ENG, _IM, _LEAD = Role.SERVICE_DESK, Role.ENGINEER, Role.INCIDENT_MANAGER, Role.DUTY_LEAD
ROLES: dict[Action, frozenset[Role]] = {
    Action.ASSIGN: frozenset({_DESK, _IM}),
    Action.ACCEPT: frozenset({_ENG, _DESK, _IM}),
    Action.REJECT: frozenset({_ENG, _IM}),
    Action.REASSIGN: frozenset({_DESK, _ENG, _IM}),
    Action.START_CHANGE: frozenset({_ENG, _IM}),
    Action.END_CHANGE: frozenset({_ENG, _IM}),
    Action.SUSPEND: frozenset({_DESK, _ENG, _IM}),
    Action.RESUME: frozenset({_DESK, _ENG, _IM}),
    Action.RESOLVE: frozenset({_DESK, _ENG, _IM}),
    # Handbook: only the service desk (first line) or the incident manager may close.
    Action.CLOSE: frozenset({_DESK, _IM}),
    Action.REOPEN: frozenset({_DESK, _IM}),
    Action.COMMENT: frozenset({_DESK, _ENG, _IM, _LEAD}),
    Action.REPRIORITISE: frozenset({_DESK, _ENG, _IM}),
    Action.EDIT: frozenset({_DESK, _ENG, _IM}),
    # Handbook: the duty team lead verifies the closed record; the incident manager may too.
    Action.VERIFY: frozenset({_LEAD, _IM}),
    # Handbook §3.1.3.8: the first line links a report of a known fault to the open master.
    Action.MARK_DUPLICATE: frozenset({_DESK, _IM}),
    Action.ENGAGE_THIRD_PARTY: frozenset({_DESK, _ENG, _IM}),
}

class Tables(Protocol):
    """What the lifecycle reads of the handbook's tables (``rules.tables.Tables``): re-prioritising,
    and the calendar each SLA clock runs on."""
    sla_minutes: Mapping[int, Sequence[float]]
    notification: Any   # .channels: priority → channels

    def priority(self, impact: int, urgency: int) -> int: ...

    def calendar_for(self, priority: int, group: str | None) -> BusinessCalendar | None: ...


Level = Annotated[int, msgspec.Meta(ge=1, le=4)]
# A person's correction says its zone: "01:10" typed in Shanghai is not 01:10 UTC (the console
# adds its display_timezone). A zoneless time is a 400 here, unlike what machines send.
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)   # (the store keeps no time before it)
CLOCK_SKEW = timedelta(minutes=5)                     # a corrected time this far ahead is still "now"
LONGEST_SUSPENSION = timedelta(days=366)


Name = Annotated[str, msgspec.Meta(max_length=4096)]    # (the limits of a sender's texts)
Words = Annotated[str, msgspec.Meta(max_length=65536)]


class ActionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    group: Name | None = None
    assignee: Name | None = None
    reason: Words | None = None
    resolution_code: ResolutionCode | None = None
    solution: Words | None = None
    closure_code: ClosureCode | None = None
    note: Words | None = None
    impact: Level | None = None                        # reprioritise
    urgency: Level | None = None
    priority: Level | None = None
    outage_start: Moment | None = None                 # edit
    outage_end: Moment | None = None
    ci_operational: bool | None = None
    until: Moment | None = None                        # suspend: a timer resumes the ticket then
    verdict: Literal["checked", "returned"] | None = None   # verify (returned: with a note)
    master_id: Name | None = None                      # mark_duplicate: the open master it joins
    third_party: Name | None = None                    # engage_third_party: the vendor engaged


class IllegalTransition(Exception):
    def __init__(self, status: TicketStatus, action: Action) -> None:
        super().__init__(f"{action.value} is not allowed from {status.value}")
        self.status = status
        self.allowed = allowed_actions(status)


class RoleNotAllowed(Exception):
    pass


class MissingArgument(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class InvalidArgument(MissingArgument):
    """An argument that is there but cannot be (an end before its start, a time in the future)."""


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role


@dataclass
class Effects:
    cascade: bool = False            # copy the new status (resolve/close) to every duplicate
    reported: list[str] = field(default_factory=list)   # told to the incident manager
    escalated: str | None = None     # escalated to the incident manager, and why
    follow_up: bool = False          # closure not_completed: open a new ticket for the handler
    problem: str | None = None       # open a problem record, and why
    returned: str | None = None      # the duty team lead sent the closed record back, and why


def allowed_actions(status: TicketStatus) -> list[str]:
    return [a.value for a, froms in ALLOWED_FROM.items() if status in froms]


def actions_for(status: TicketStatus, role: Role) -> list[Action]:
    """What ``role`` may do to a ticket in ``status`` (what the console offers; ``check`` enforces it)."""
    return [a for a, froms in ALLOWED_FROM.items() if status in froms and (role is Role.ADMIN or role in ROLES[a])]


def check(ticket: Ticket, action: Action, actor: Actor) -> None:
    if actor.role is not Role.ADMIN and actor.role not in ROLES[action]:
        raise RoleNotAllowed(f"role {actor.role.value} may not {action.value}")
    if ticket.status not in ALLOWED_FROM[action]:
        raise IllegalTransition(ticket.status, action)


def _need(value: object, name: str, action: Action) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):   # (blank: as good as missing)
        raise MissingArgument(name, f"{action.value} needs {name}")


def initial_sla(minutes: tuple[float, float, float] | list[float], created_at: datetime,
                calendar: BusinessCalendar | None = None) -> list[SlaEntry]:
    """Assignment is due from creation; acceptance and resolution start when the step before ends
    (on ``calendar``'s working time, or 24×7 without one)."""
    assignment, acceptance, resolution = minutes
    return [
        SlaEntry(target=SlaTarget.ASSIGNMENT, due_at=shifted(calendar, created_at, assignment), minutes=assignment),
        SlaEntry(target=SlaTarget.ACCEPTANCE, minutes=acceptance),
        SlaEntry(target=SlaTarget.RESOLUTION, minutes=resolution),
    ]


def job_after(action: Action) -> str | None:
    """The worker's job an action calls for: restoration notices after a resolution, the problem
    check after a closure, new timers after anything else that changes the ticket."""
    if action is Action.COMMENT:
        return None
    return {Action.RESOLVE: "restoration", Action.CLOSE: "problem_on_close"}.get(action, "replan")


def entry_of(ticket: Ticket, action: Action) -> int | None:
    """The place on the timeline of the newest entry of ``action`` (what the notices after it name)."""
    for place in range(len(ticket.timeline) - 1, -1, -1):
        if ticket.timeline[place].action == action.value:
            return place
    return None


def follow_up_ticket(closed: Ticket, new_id: str, now: datetime, calendar: BusinessCalendar | None = None) -> Ticket:
    """Closure not_completed (SPEC §3): a new ticket with the closed one's content, assigned to
    its previous handler, with SLA clocks of its own from ``now``."""
    note = f"follow-up of {closed.id}, closed as not completed"
    return msgspec.structs.replace(
        closed, id=new_id, kind=TicketKind.MASTER, status=S.ASSIGNED, origin="follow_up",
        created_at=now, updated_at=now, resolved_at=None, closed_at=None, resolution_code=None,
        closure_code=None, solution=None, duplicate_count=0, reopen_count=0, reassignment_count=0,
        rejection_count=0, master_id=None, recurrence_of=None, occurrence_id=None,
        sla=follow_up_sla(closed.sla, now, calendar), escalation_level=0, escalated_to=None,
        timeline=[TimelineEntry(at=now, actor="alertgate", action="create", to_status=S.ASSIGNED, note=note)],
    )


def follow_up_sla(closed: list[SlaEntry], now: datetime, calendar: BusinessCalendar | None = None) -> list[SlaEntry]:
    """A follow-up's own clocks (closure not_completed): the closed ticket's targets from ``now``,
    assignment met at once (it is created assigned to the previous handler)."""
    minutes = [entry.minutes for entry in closed]
    if len(minutes) != 3:
        return []
    return _meet(initial_sla(minutes, now, calendar), SlaTarget.ASSIGNMENT, now, SlaTarget.ACCEPTANCE, calendar)


def _meet(sla: list[SlaEntry], target: SlaTarget, now: datetime, start_next: SlaTarget | None,
          calendar: BusinessCalendar | None = None) -> list[SlaEntry]:
    out = []
    for entry in sla:
        if entry.target is target and entry.met_at is None:
            breached = entry.breached or (entry.due_at is not None and now > entry.due_at)
            entry = msgspec.structs.replace(entry, met_at=now, breached=breached)
        elif entry.target is start_next and entry.due_at is None and entry.met_at is None:
            entry = msgspec.structs.replace(entry, due_at=shifted(calendar, now, entry.minutes))
        out.append(entry)
    return out


def _shift_unmet(sla: list[SlaEntry], suspended_at: datetime, now: datetime,
                 calendar: BusinessCalendar | None = None) -> list[SlaEntry]:
    """Resumed: each running target is due as much later as the suspension lasted; on a calendar,
    the working time it had left when suspended is counted again from ``now``."""
    paused = now - suspended_at
    out = []
    for e in sla:
        if e.met_at is None and e.due_at is not None:
            if calendar is not None and e.due_at > suspended_at:
                moved = calendar.add(now, calendar.minutes_between(suspended_at, e.due_at))
            else:
                moved = e.due_at + paused
            e = msgspec.structs.replace(e, due_at=moved)
        out.append(e)
    return out


def _retarget(sla: list[SlaEntry], minutes: list[float], calendar: BusinessCalendar | None = None) -> list[SlaEntry]:
    """The targets of another priority: a met target keeps what it was held to; a running one is
    due its new length after its start; a breach stays recorded."""
    new = dict(zip(SLA_ORDER, minutes))
    out = []
    for entry in sla:
        length = new.get(entry.target, entry.minutes)
        if entry.met_at is None:
            moved = shifted(calendar, entry.due_at, length - entry.minutes) if entry.due_at is not None else None
            entry = msgspec.structs.replace(entry, minutes=length, due_at=moved)
        out.append(entry)
    return out


SLA_ORDER = (SlaTarget.ASSIGNMENT, SlaTarget.ACCEPTANCE, SlaTarget.RESOLUTION)


def _reprioritise(ticket: Ticket, request: ActionRequest, tables: Tables, changes: dict, effects: Effects) -> str:
    _need(request.reason, "reason", Action.REPRIORITISE)
    if request.priority is None and request.impact is None and request.urgency is None:
        raise MissingArgument("priority", "reprioritise needs priority, impact or urgency")
    impact, urgency = request.impact or ticket.impact, request.urgency or ticket.urgency
    priority = request.priority or tables.priority(impact, urgency)
    changes.update(impact=impact, urgency=urgency, priority=priority,
                   sla=_retarget(ticket.sla, tables.sla_minutes[priority], tables.calendar_for(priority, ticket.handling_group)))
    by_priority = tables.notification.channels
    if ticket.channels == list(by_priority.get(ticket.priority, ())):   # (the table's, not a rule's)
        changes.update(channels=list(by_priority.get(priority, ticket.channels)))
    if priority == 1 and ticket.priority != 1:
        effects.reported.append(f"raised to P1: {request.reason}")
    return (f"P{ticket.priority} → P{priority} (impact {ticket.impact} → {impact}, "
            f"urgency {ticket.urgency} → {urgency}): {request.reason}")


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _edit(ticket: Ticket, request: ActionRequest, now: datetime, changes: dict) -> str:
    given = {name: value for name, value in (("outage_start", request.outage_start), ("outage_end", request.outage_end),
                                             ("ci_operational", request.ci_operational)) if value is not None}
    if not given:
        raise MissingArgument("outage_start", "edit needs outage_start, outage_end or ci_operational")
    for name in ("outage_start", "outage_end"):
        if name in given and given[name] > now + CLOCK_SKEW:
            raise InvalidArgument(name, f"{name} is in the future")
        if name in given and given[name] < EARLIEST:
            raise InvalidArgument(name, f"{name} is before 1970")
    start, end = given.get("outage_start", ticket.outage_start), given.get("outage_end", ticket.outage_end)
    if start is not None and end is not None and end < start:
        raise InvalidArgument("outage_end", "outage_end is before outage_start")
    changes.update(given)
    audit = "; ".join(f"{name}: {_shown(getattr(ticket, name))} → {_shown(value)}" for name, value in given.items())
    return audit + (f" — {request.note}" if request.note else "")


def _mark_duplicate(ticket: Ticket, request: ActionRequest, master: Ticket | None, changes: dict) -> str:
    _need(request.master_id, "master_id", Action.MARK_DUPLICATE)
    if ticket.source is not TicketSource.USER_REPORT or ticket.kind is not TicketKind.MASTER:
        raise InvalidArgument("master_id", "only a user's report that is not linked yet is marked a duplicate "
                                           "(an alert's duplicates are found by its CI and symptom)")
    if master is None or master.id != request.master_id:
        raise InvalidArgument("master_id", f"no ticket {request.master_id}")
    if master.id == ticket.id or master.kind not in (TicketKind.MASTER, TicketKind.MAJOR) or master.status not in UNRESOLVED:
        raise InvalidArgument("master_id", f"{master.id} is not an open master ({master.kind.value}, {master.status.value})")
    changes.update(kind=TicketKind.DUPLICATE, master_id=master.id)
    return f"duplicate of {master.id}" + (f": {request.note or request.reason}" if request.note or request.reason else "")


def apply(ticket: Ticket, action: Action, request: ActionRequest, actor: Actor,
          now: datetime, tables: Tables | None = None, master: Ticket | None = None) -> tuple[Ticket, Effects]:
    """Check and carry out one action; raises IllegalTransition, RoleNotAllowed, MissingArgument
    (InvalidArgument). ``tables``: the handbook's tables, which re-prioritising needs; ``master``:
    the ticket ``mark_duplicate`` names, as read."""
    check(ticket, action, actor)
    effects = Effects()
    group = request.group if action in (Action.ASSIGN, Action.REASSIGN) and request.group else ticket.handling_group
    calendar = tables.calendar_for(ticket.priority, group) if tables is not None else None   # (its SLA clocks')
    changes: dict[str, object] = {}
    note = request.note or request.reason
    to = ticket.status

    if action is Action.ASSIGN:
        _need(request.group, "group", action)
        to = S.ASSIGNED
        changes.update(assignment_group=request.group, assignee=request.assignee,
                       sla=_meet(ticket.sla, SlaTarget.ASSIGNMENT, now, SlaTarget.ACCEPTANCE, calendar))
    elif action is Action.ACCEPT:
        to = S.IN_PROGRESS
        changes.update(assignee=request.assignee or ticket.assignee or actor.name,
                       sla=_meet(ticket.sla, SlaTarget.ACCEPTANCE, now, SlaTarget.RESOLUTION, calendar))
    elif action is Action.REJECT:
        _need(request.reason, "reason", action)
        to = S.OPEN  # back to the service desk for re-dispatch
        rejections = ticket.rejection_count + 1
        changes.update(rejection_count=rejections, assignee=None)
        if rejections >= 2:
            effects.escalated = f"dispatch rejected {rejections} times"
    elif action is Action.REASSIGN:
        _need(request.group, "group", action)
        to = S.ASSIGNED
        count = ticket.reassignment_count + 1
        changes.update(assignment_group=request.group, assignee=request.assignee, reassignment_count=count)
        if request.group != ticket.assignment_group:
            effects.reported.append(f"reassigned across groups: {ticket.assignment_group} → {request.group}")
        if count > 2:
            effects.escalated = f"reassigned {count} times"
    elif action is Action.START_CHANGE:
        to = S.PENDING_CHANGE
    elif action is Action.END_CHANGE:
        to = S.IN_PROGRESS
    elif action is Action.SUSPEND:
        to = S.SUSPENDED
        until = request.until
        if until is not None and until <= now:
            raise InvalidArgument("until", "until is not in the future")
        if until is not None and until > now + LONGEST_SUSPENSION:
            raise InvalidArgument("until", "until is more than 366 days ahead")
        changes.update(suspended_at=now, suspended_from=ticket.status, suspended_until=until)
        if until is not None:
            note = f"until {until.isoformat()}" + (f": {note}" if note else "")
    elif action is Action.RESUME:
        to = ticket.suspended_from or S.IN_PROGRESS
        changes.update(suspended_at=None, suspended_from=None, suspended_until=None,
                       sla=_shift_unmet(ticket.sla, ticket.suspended_at or now, now, calendar))
    elif action is Action.RESOLVE:
        _need(request.resolution_code, "resolution_code", action)
        to = S.RESOLVED
        changes.update(resolution_code=request.resolution_code, solution=request.solution, resolved_by=actor.name,
                       resolved_at=now, sla=_meet(ticket.sla, SlaTarget.RESOLUTION, now, None))
        effects.cascade = ticket.kind is TicketKind.MASTER
    elif action is Action.CLOSE:
        _need(request.closure_code, "closure_code", action)
        to = S.CLOSED
        changes.update(closure_code=request.closure_code, closed_at=now)
        effects.cascade = ticket.kind is TicketKind.MASTER
        if request.closure_code is ClosureCode.NOT_COMPLETED:
            effects.follow_up = True
        if request.closure_code is ClosureCode.COMPLETED_WITH_PROBLEM:
            effects.problem = "closed with closure code completed_with_problem"
        elif ticket.priority == 1 and ticket.kind is TicketKind.MASTER:
            effects.problem = "a P1 incident was closed"
    elif action is Action.REPRIORITISE:
        if tables is None:
            raise ValueError("reprioritise needs the handbook's tables")
        note = _reprioritise(ticket, request, tables, changes, effects)
    elif action is Action.EDIT:
        note = _edit(ticket, request, now, changes)
    elif action is Action.VERIFY:
        _need(request.verdict, "verdict", action)
        if request.verdict == "returned":
            _need(request.note, "note", action)
            effects.returned = request.note
        changes.update(verification=request.verdict, verified_by=actor.name, verified_at=now)
        note = request.verdict + (f": {request.note}" if request.note else "")
    elif action is Action.MARK_DUPLICATE:
        note = _mark_duplicate(ticket, request, master, changes)
    elif action is Action.ENGAGE_THIRD_PARTY:   # (KPI 9 measures its resolution from now)
        _need(request.third_party, "third_party", action)
        changes.update(third_party=request.third_party, third_party_at=now)
        note = request.third_party + (f": {request.note}" if request.note else "")
    elif action is Action.COMMENT:   # (an empty one would only clutter the timeline)
        _need(request.note, "note", action)
    elif action is Action.REOPEN:
        to = S.IN_PROGRESS
        changes.update(reopen_count=ticket.reopen_count + 1, resolution_code=None, resolved_at=None,
                       resolved_by=None, solution=None, outage_end=None)  # open again: the outage has not ended

    if effects.escalated:
        changes.update(escalated_to=INCIDENT_MANAGER)
    timeline = [TimelineEntry(at=now, actor=actor.name, action=action.value, from_status=ticket.status,
                              to_status=to, note=note)]
    for report in effects.reported:
        timeline.append(TimelineEntry(at=now, actor="alertgate", action="report", note=f"to incident manager: {report}"))
    if effects.problem:
        timeline.append(TimelineEntry(at=now, actor="alertgate", action="problem_requested", note=effects.problem))
    if effects.escalated:
        timeline.append(TimelineEntry(at=now, actor="alertgate", action="escalate",
                                      note=f"to incident manager: {effects.escalated}"))
    updated = msgspec.structs.replace(ticket, status=to, updated_at=now,
                                      timeline=ticket.timeline + timeline, **changes)
    return updated, effects


def cascade(duplicate: Ticket, master: Ticket, now: datetime) -> Ticket:
    """A duplicate follows its master into resolved or closed (SPEC §2)."""
    if duplicate.status is master.status or duplicate.status is S.CLOSED:
        return duplicate
    entry = TimelineEntry(at=now, actor="alertgate", action=f"cascade_{master.status.value}",
                          from_status=duplicate.status, to_status=master.status, note=f"with master {master.id}")
    return msgspec.structs.replace(
        duplicate, status=master.status, updated_at=now, resolution_code=master.resolution_code,
        closure_code=master.closure_code, resolved_at=master.resolved_at, closed_at=master.closed_at,
        timeline=duplicate.timeline + [entry],
    )
