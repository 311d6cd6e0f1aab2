"""KPIs (pure), as the handbook's table 3.4 defines them, overall, by priority and by category.

- incidents: masters (duplicates never count) whose fault began in the period (outage_start,
  else created_at);
- closed / successfully closed (closure code completed) / escalated to problem (closure code
  completed_with_problem, or linked to a problem record): counts and ratios of incidents;
- resolved within SLA: resolution target not breached and closed as completed;
- responded within SLA: neither the assignment nor the acceptance target was missed;
- mean response time: registration − occurrence (created_at − outage_start), over incidents; an
  outage said to start after its registration (the sender's clock runs ahead) counts as 0 and is
  counted in sender_clock_ahead;
- mean resolution time: resolved_at − created_at, over resolved or closed incidents;
- first-line / second-line resolution: resolved while with the service desk (or no group) /
  with any other group;
- major incidents: P1 and P2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import msgspec

from alertgate.tickets.model import ClosureCode, SlaTarget, Ticket, TicketKind, TicketStatus

FIRST_LINE = {None, "service_desk"}


class Count(msgspec.Struct):
    count: int
    ratio: float


class Indicators(msgspec.Struct):
    incidents: int
    closed: Count
    awaiting_closure: Count              # resolved, not yet closed (SPEC §9: reminded, never auto-closed)
    awaiting_verification: Count         # closed, not yet checked by the duty team lead (handbook §3.1.3.10)
    successfully_closed: Count
    escalated_to_problem: Count
    resolved_within_sla: Count
    responded_within_sla: Count
    mean_response_seconds: float | None
    mean_resolution_seconds: float | None
    sender_clock_ahead: int
    first_line_resolution: Count
    second_line_resolution: Count
    major_incidents: Count


class Report(msgspec.Struct):
    period_from: datetime
    period_to: datetime
    overall: Indicators
    by_priority: dict[str, Indicators]
    by_category: dict[str, Indicators]


def occurred(ticket: Ticket) -> datetime:
    return ticket.outage_start or ticket.created_at


def _breached(ticket: Ticket, target: SlaTarget) -> bool:
    return any(e.target is target and e.breached for e in ticket.sla)


def _count(n: int, total: int) -> Count:
    return Count(n, round(n / total, 4) if total else 0.0)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def indicators(tickets: list[Ticket], problem_linked: set[str]) -> Indicators:
    total = len(tickets)
    resolved = [t for t in tickets if t.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and t.resolved_at]
    return Indicators(
        incidents=total,
        closed=_count(sum(t.status is TicketStatus.CLOSED for t in tickets), total),
        awaiting_closure=_count(sum(t.status is TicketStatus.RESOLVED for t in tickets), total),
        awaiting_verification=_count(sum(t.status is TicketStatus.CLOSED and t.verification != "checked"
                                         for t in tickets), total),
        successfully_closed=_count(sum(t.closure_code is ClosureCode.COMPLETED for t in tickets), total),
        escalated_to_problem=_count(sum(t.closure_code is ClosureCode.COMPLETED_WITH_PROBLEM or t.id in problem_linked
                                        for t in tickets), total),
        resolved_within_sla=_count(sum(t.closure_code is ClosureCode.COMPLETED and not _breached(t, SlaTarget.RESOLUTION)
                                       for t in tickets), total),
        responded_within_sla=_count(sum(not _breached(t, SlaTarget.ASSIGNMENT) and not _breached(t, SlaTarget.ACCEPTANCE)
                                        for t in tickets), total),
        mean_response_seconds=_mean([max(0.0, (t.created_at - occurred(t)).total_seconds()) for t in tickets]),
        mean_resolution_seconds=_mean([(t.resolved_at - t.created_at).total_seconds() for t in resolved]),
        sender_clock_ahead=sum(occurred(t) > t.created_at for t in tickets),
        first_line_resolution=_count(sum(t.assignment_group in FIRST_LINE for t in resolved), total),
        second_line_resolution=_count(sum(t.assignment_group not in FIRST_LINE for t in resolved), total),
        major_incidents=_count(sum(t.priority in (1, 2) for t in tickets), total),
    )


def report(tickets: Iterable[Ticket], problem_linked: set[str], start: datetime, end: datetime) -> Report:
    incidents = [t for t in tickets if t.kind is TicketKind.MASTER and start <= occurred(t) < end]
    by_priority: dict[str, list[Ticket]] = {}
    by_category: dict[str, list[Ticket]] = {}
    for t in incidents:
        by_priority.setdefault(str(t.priority), []).append(t)
        by_category.setdefault(t.category or "uncategorised", []).append(t)
    return Report(start, end, indicators(incidents, problem_linked),
                  {k: indicators(v, problem_linked) for k, v in sorted(by_priority.items())},
                  {k: indicators(v, problem_linked) for k, v in sorted(by_category.items())})


def rows(result: Report) -> list[dict[str, object]]:
    """Flat rows (scope, key, indicator, count, ratio) for a CSV monthly report."""
    out: list[dict[str, object]] = []
    scopes = [("overall", "all", result.overall)]
    scopes += [("priority", k, v) for k, v in result.by_priority.items()]
    scopes += [("category", k, v) for k, v in result.by_category.items()]
    for scope, key, values in scopes:
        for name in Indicators.__struct_fields__:
            value = getattr(values, name)
            if isinstance(value, Count):
                out.append({"scope": scope, "key": key, "indicator": name, "value": value.count, "ratio": value.ratio})
            else:
                out.append({"scope": scope, "key": key, "indicator": name, "value": value, "ratio": ""})
    return out
