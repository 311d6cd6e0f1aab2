"""When an incident opens a problem (pure): SPEC §4's three triggers."""

from __future__ import annotations

from datetime import datetime, timedelta

from alertgate.tickets.model import ClosureCode, Ticket, TicketKind, TicketStatus

RECURRENCES = 3
RECURRENCE_PERIOD = timedelta(days=7)


def on_close(ticket: Ticket) -> str | None:
    """The reason a closed master opens a problem, if any."""
    if ticket.status is not TicketStatus.CLOSED or ticket.kind is not TicketKind.MASTER:
        return None
    if ticket.closure_code is ClosureCode.COMPLETED_WITH_PROBLEM:
        return "closed with closure code completed_with_problem"
    if ticket.priority == 1:
        return "a P1 incident was closed"
    return None


def recurring(masters_of_key: list[Ticket], now: datetime) -> list[Ticket]:
    """The key's recurrences within the period, when there are enough to open a problem."""
    recent = [t for t in masters_of_key if t.origin == "recurrence" and now - t.created_at <= RECURRENCE_PERIOD]
    return recent if len(recent) >= RECURRENCES else []
