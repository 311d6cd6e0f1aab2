"""Timers of a ticket (pure): SLA checks, escalation steps and stakeholder notices, from the
handbook's tables; and whether a timer that fires is still due."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from alertgate.rules.tables import Tables, seconds_of
from alertgate.tickets.calendars import shifted
from alertgate.tickets.model import UNRESOLVED, Ticket, TicketKind, TicketStatus


class Timer(msgspec.Struct, frozen=True):
    at: datetime
    kind: str     # sla, sla_warning, escalation, stakeholder, resume
    step: str     # the SLA target, "<target>:<due epoch>", the escalation level, "<n>:<role>", or "until"


def _watched(ticket: Ticket) -> bool:
    """Timers act on unresolved masters that are not suspended."""
    return (ticket.kind is TicketKind.MASTER and ticket.status in UNRESOLVED
            and ticket.status is not TicketStatus.SUSPENDED)


def _resuming(ticket: Ticket) -> bool:
    """A master suspended until a time: only the timer that resumes it runs."""
    return (ticket.kind is TicketKind.MASTER and ticket.status is TicketStatus.SUSPENDED
            and ticket.suspended_until is not None)


def _warning_step(entry) -> str:
    return f"{entry.target.value}:{int(entry.due_at.timestamp())}"


def plan(ticket: Ticket, tables: Tables, warn_at: float = 0.0) -> list[Timer]:
    """``warn_at``: the share of each SLA target's time after which its group is warned (0: none)."""
    if _resuming(ticket):
        return [Timer(ticket.suspended_until, "resume", "until")]
    if not _watched(ticket):
        return []
    running = [e for e in ticket.sla if e.due_at is not None and e.met_at is None and not e.breached]
    timers = [Timer(e.due_at, "sla", e.target.value) for e in running]
    if warn_at > 0:   # (on a calendar, the share is of its working time)
        calendar = tables.calendar_for(ticket.priority, ticket.handling_group)
        timers += [Timer(shifted(calendar, e.due_at, -e.minutes * (1 - warn_at)), "sla_warning", _warning_step(e))
                   for e in running if e.minutes > 0]
    for level, step in enumerate(tables.escalation_steps(ticket.priority, ticket.escalation_policy), start=1):
        if level > ticket.escalation_level:
            timers.append(Timer(ticket.created_at + timedelta(seconds=step.after_seconds), "escalation", str(level)))
    stakeholders = tables.notification.stakeholders
    for n, after in enumerate(tables.notification.timeline.get(ticket.priority, []), start=1):
        if n <= len(stakeholders):
            timers.append(Timer(ticket.created_at + timedelta(seconds=seconds_of(after)), "stakeholder", f"{n}:{stakeholders[n - 1]}"))
    return sorted(timers, key=lambda t: t.at)


def still_due(ticket: Ticket, timer: Timer, tables: Tables | None = None) -> bool:
    """Re-checked when the timer fires: the ticket may have moved on since it was planned (with
    ``tables``, an escalation step is checked against its priority's table: re-prioritised, the
    ticket follows the new one)."""
    if timer.kind == "resume":
        return _resuming(ticket) and ticket.suspended_until == timer.at
    if not _watched(ticket):
        return False
    if timer.kind == "sla_warning":   # (its target still running towards the same deadline)
        return any(e.met_at is None and not e.breached and e.due_at is not None and _warning_step(e) == timer.step
                   for e in ticket.sla)
    if timer.kind == "sla":
        return any(e.target.value == timer.step and e.met_at is None and not e.breached and e.due_at == timer.at
                   for e in ticket.sla)
    if timer.kind == "escalation":
        if tables is not None:
            steps = tables.escalation_steps(ticket.priority, ticket.escalation_policy)
            level = int(timer.step)
            if level > len(steps) or ticket.created_at + timedelta(seconds=steps[level - 1].after_seconds) != timer.at:
                return False
        return ticket.escalation_level < int(timer.step)
    return True  # a stakeholder notice: once per (ticket, step, recipient), by its dedup key
