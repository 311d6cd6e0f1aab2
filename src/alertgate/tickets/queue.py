"""The work queue of unresolved masters (pure): its order, its filters and each SLA clock's state.

Order: priority first (P1 on top), then the next SLA deadline (the soonest unmet target; none
last), then age. A clock is ``pending`` until its stage starts, ``ok``, ``warning`` once less than ``WARN_SHARE`` of its target is
left, and ``breached`` at or past its deadline (or when marked breached)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from alertgate.tickets.model import SlaEntry, Ticket, TicketStatus

WARN_SHARE = 0.2   # amber when less than a fifth of the target's time is left

FILTERS = ("status", "group", "assignee", "ci", "service", "sender", "breached")
QUEUE_FIELDS = ("priority", "sla", "title", "ci", "affected_service", "alert_source", "source", "assignment_group",
                "route_group", "assignee", "duplicate_count", "kind", "status")   # what a queue shows and filters on


class QueueFilter(msgspec.Struct, kw_only=True):
    status: str | None = None
    group: str | None = None      # the group that has it, else the one it is routed to
    assignee: str | None = None
    ci: str | None = None
    service: str | None = None    # affected_service
    sender: str | None = None     # alert_source (alertmanager, zabbix, findings, heartbeat) or user_report
    breached: bool | None = None
    due_before: datetime | None = None   # its next unmet SLA target is due before this

    def matches(self, ticket: Ticket, now: datetime) -> bool:
        if ticket.status is TicketStatus.SUSPENDED and self.status != TicketStatus.SUSPENDED.value:
            return False   # handbook §3.1.4.1: a suspended record is out of the backlog (status=suspended lists them)
        sender = ticket.alert_source or ticket.source.value
        checks = ((self.status, ticket.status.value), (self.group, ticket.handling_group),
                  (self.assignee, ticket.assignee), (self.ci, ticket.ci),
                  (self.service, ticket.affected_service), (self.sender, sender))
        if any(wanted and wanted != value for wanted, value in checks):
            return False
        if self.due_before is not None:
            due = next_due(ticket)
            if due is None or due.due_at is None or due.due_at >= self.due_before:
                return False
        return self.breached is None or self.breached == is_breached(ticket, now)


def next_due(ticket: Ticket) -> SlaEntry | None:
    """The unmet target due soonest."""
    unmet = [e for e in ticket.sla if e.met_at is None and e.due_at is not None]
    return min(unmet, key=lambda e: e.due_at) if unmet else None


def clock_state(entry: SlaEntry | None, now: datetime) -> str:
    if entry is None:
        return "none"
    if entry.due_at is None:
        return "pending"   # (its stage has not started: the one before is not met yet)
    if entry.breached or (entry.due_at is not None and now >= entry.due_at):
        return "breached"
    left = (entry.due_at - now).total_seconds() if entry.due_at else 0
    if entry.minutes and left < WARN_SHARE * entry.minutes * 60:
        return "warning"
    return "ok"


def is_breached(ticket: Ticket, now: datetime) -> bool:
    return any(e.breached or (e.met_at is None and e.due_at is not None and now >= e.due_at) for e in ticket.sla)


def priority_first(ticket: Ticket) -> tuple:
    """The console's order: priority, then the soonest unmet SLA target (none last), then age."""
    due = next_due(ticket)
    return (ticket.priority, due is None, due.due_at.timestamp() if due and due.due_at else 0,
            ticket.created_at.timestamp(), ticket.id)


def soonest_due_first(ticket: Ticket) -> tuple:
    """The API's order: the soonest unmet SLA target first (none last), then priority, then age:
    who must act next."""
    due = next_due(ticket)
    return (due is None, due.due_at.timestamp() if due and due.due_at else 0, ticket.priority,
            ticket.created_at.timestamp(), ticket.id)


def ordered(tickets: list[Ticket]) -> list[Ticket]:
    return sorted(tickets, key=priority_first)


def by_next_due(tickets: list[Ticket]) -> list[Ticket]:
    return sorted(tickets, key=soonest_due_first)


class Digest:
    """Changes whenever anything the queue shows of its tickets changes (live updates), whatever
    the order they are offered in: a sum of each ticket's own digest, taken a chunk at a time."""

    def __init__(self) -> None:
        self._sum, self._count = 0, 0

    def offer(self, tickets: list[Ticket]) -> None:
        for t in tickets:
            line = f"{t.id}|{t.status.value}|{t.updated_at.timestamp()}|{t.duplicate_count}|{t.assignee}"
            self._sum += int.from_bytes(hashlib.blake2b(line.encode(), digest_size=12).digest(), "big")
        self._count += len(tickets)

    def value(self) -> str:
        return f"{self._count}:{self._sum % (1 << 96):024x}"


def digest(tickets: list[Ticket]) -> str:
    whole = Digest()
    whole.offer(tickets)
    return whole.value()
