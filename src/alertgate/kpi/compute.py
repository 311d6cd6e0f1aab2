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
- major incidents: P1 and P2;
- KPI 8 by resolver role: mean resolution time of the incidents resolved by the first line, the
  second line and third parties (``resolver_role``);
- KPI 9, third-party mean resolution time: resolved_at − third_party_at, over resolved incidents a
  third party was engaged on (``engage_third_party``).

``by``: the same indicators per CI, per group (the one that has it, else the one it is routed to)
or per requester (a user report's contact, else the sender); ``staff`` (KPIs 13, 14, 16, 17):
per person, the incidents they registered, worked on (any action on the timeline) and resolved,
with ratios of all the period's incidents.
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import Iterable

import msgspec

from alertgate.tickets.model import ClosureCode, SlaTarget, Ticket, TicketKind, TicketStatus

FIRST_LINE = {None, "service_desk"}
ROLES = ("first_line", "second_line", "third_party")
BY = ("ci", "group", "requester", "staff")
SYSTEM_ACTORS = frozenset({"alertgate", "alertgate-dispatch", "alertmanager", "zabbix", "findings", "heartbeat"})


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
    mean_resolution_seconds_by_role: dict[str, float | None]   # KPI 8 by resolver role
    third_party_mean_resolution_seconds: float | None          # KPI 9: from the third party's engagement


class StaffCounts(msgspec.Struct):
    registered: Count    # KPIs 13, 16
    worked_on: Count     # KPI 14: any action of theirs on the timeline
    resolved: Count      # KPI 17


class Report(msgspec.Struct):
    period_from: datetime
    period_to: datetime
    overall: Indicators
    by_priority: dict[str, Indicators]
    by_category: dict[str, Indicators]
    by: str | None = None
    by_key: dict[str, Indicators] = {}      # the indicators per CI, group or requester
    staff: dict[str, StaffCounts] = {}      # by=staff


def occurred(ticket: Ticket) -> datetime:
    return ticket.outage_start or ticket.created_at


def _breached(ticket: Ticket, target: SlaTarget) -> bool:
    return any(e.target is target and e.breached for e in ticket.sla)


def _count(n: int, total: int) -> Count:
    return Count(n, round(n / total, 4) if total else 0.0)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def resolver_role(ticket: Ticket) -> str:
    """Who resolved it (the handbook's 事件解决人角色): a third party once one was engaged, else
    the first line (the service desk, or no group) or the second line (any other group)."""
    if ticket.third_party_at is not None:
        return "third_party"
    return "first_line" if ticket.assignment_group in FIRST_LINE else "second_line"


def requester_of(ticket: Ticket) -> str:
    """The user who reported it (a user report's contact), else the sender that did."""
    return ticket.contact or ticket.alert_source or ticket.source.value


def registrant_of(ticket: Ticket) -> str:
    return ticket.registered_by or ticket.alert_source or "alertgate"


def workers_of(ticket: Ticket) -> set[str]:
    """The people with an action on its timeline (the handbook's 事件工作日志)."""
    return {e.actor for e in ticket.timeline if e.actor not in SYSTEM_ACTORS}


class _Mean:
    """A mean taken one value at a time (summed in the order added, as ``sum`` of a list is)."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def value(self) -> float | None:
        return round(self.total / self.count, 3) if self.count else None


class Tally:
    """The indicators of a set of incidents, added one at a time: a month of hundreds of
    thousands is read a chunk at a time, without holding its tickets (650,000 masters: the
    report's process grew by 440 MB)."""

    def __init__(self, problem_linked: set[str]) -> None:
        self._linked = problem_linked
        self.total = 0
        self._counts = dict.fromkeys(("closed", "awaiting_closure", "awaiting_verification", "successfully_closed",
                                      "escalated_to_problem", "resolved_within_sla", "responded_within_sla",
                                      "first_line_resolution", "second_line_resolution", "major_incidents"), 0)
        self._response, self._resolution, self._third_party = _Mean(), _Mean(), _Mean()
        self._by_role = {role: _Mean() for role in ROLES}
        self._clock_ahead = 0

    def add(self, t: Ticket) -> None:
        counts = self._counts
        self.total += 1
        counts["closed"] += t.status is TicketStatus.CLOSED
        counts["awaiting_closure"] += t.status is TicketStatus.RESOLVED
        counts["awaiting_verification"] += t.status is TicketStatus.CLOSED and t.verification != "checked"
        counts["successfully_closed"] += t.closure_code is ClosureCode.COMPLETED
        counts["escalated_to_problem"] += t.closure_code is ClosureCode.COMPLETED_WITH_PROBLEM or t.id in self._linked
        counts["resolved_within_sla"] += (t.closure_code is ClosureCode.COMPLETED
                                          and not _breached(t, SlaTarget.RESOLUTION))
        counts["responded_within_sla"] += (not _breached(t, SlaTarget.ASSIGNMENT)
                                           and not _breached(t, SlaTarget.ACCEPTANCE))
        counts["major_incidents"] += t.priority in (1, 2)
        self._response.add(max(0.0, (t.created_at - occurred(t)).total_seconds()))
        self._clock_ahead += occurred(t) > t.created_at
        if t.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and t.resolved_at:
            seconds = (t.resolved_at - t.created_at).total_seconds()
            self._resolution.add(seconds)
            self._by_role[resolver_role(t)].add(seconds)
            first_line = t.assignment_group in FIRST_LINE
            counts["first_line_resolution"] += first_line
            counts["second_line_resolution"] += not first_line
            if t.third_party_at is not None:
                self._third_party.add(max(0.0, (t.resolved_at - t.third_party_at).total_seconds()))

    def indicators(self) -> Indicators:
        total, counts = self.total, self._counts
        return Indicators(
            incidents=total,
            **{name: _count(n, total) for name, n in counts.items()},
            mean_response_seconds=self._response.value(),
            mean_resolution_seconds=self._resolution.value(),
            sender_clock_ahead=self._clock_ahead,
            mean_resolution_seconds_by_role={role: mean.value() for role, mean in self._by_role.items()},
            third_party_mean_resolution_seconds=self._third_party.value(),
        )


def indicators(tickets: list[Ticket], problem_linked: set[str]) -> Indicators:
    tally = Tally(problem_linked)
    for t in tickets:
        tally.add(t)
    return tally.indicators()


class StaffTally:
    """KPIs 13, 14, 16, 17 per person (needs the timelines, for 14), added one incident at a time."""

    def __init__(self) -> None:
        self.total = 0
        self._people: dict[str, list[int]] = {}

    def add(self, t: Ticket) -> None:
        people = self._people
        self.total += 1
        people.setdefault(registrant_of(t), [0, 0, 0])[0] += 1
        for person in workers_of(t):
            people.setdefault(person, [0, 0, 0])[1] += 1
        if t.resolved_by and t.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            people.setdefault(t.resolved_by, [0, 0, 0])[2] += 1

    def counts(self) -> dict[str, StaffCounts]:
        return {p: StaffCounts(*(_count(n, self.total) for n in counts)) for p, counts in sorted(self._people.items())}


KEYS = {"ci": attrgetter("ci"), "group": attrgetter("handling_group"), "requester": requester_of}


class ReportTally:
    """The report of a period, offered the period's masters a chunk at a time."""

    def __init__(self, problem_linked: set[str], start: datetime, end: datetime, by: str | None = None) -> None:
        self._linked, self._start, self._end, self._by = problem_linked, start, end, by
        self._overall = Tally(problem_linked)
        self._parts: dict[str, dict[str, Tally]] = {"priority": {}, "category": {}, "key": {}}
        self._staff = StaffTally() if by == "staff" else None

    def add(self, t: Ticket) -> None:
        if t.kind is not TicketKind.MASTER or not self._start <= occurred(t) < self._end:
            return
        self._overall.add(t)
        self._part("priority", str(t.priority)).add(t)
        self._part("category", t.category or "uncategorised").add(t)
        if self._by in KEYS:
            self._part("key", KEYS[self._by](t)).add(t)
        if self._staff is not None:
            self._staff.add(t)

    def _part(self, kind: str, key: str) -> Tally:
        part = self._parts[kind].get(key)
        if part is None:
            part = self._parts[kind][key] = Tally(self._linked)
        return part

    def report(self) -> Report:
        def each(kind: str) -> dict[str, Indicators]:
            return {k: tally.indicators() for k, tally in sorted(self._parts[kind].items())}
        return Report(self._start, self._end, self._overall.indicators(), each("priority"), each("category"),
                      self._by, each("key"), self._staff.counts() if self._staff is not None else {})


def report(tickets: Iterable[Ticket], problem_linked: set[str], start: datetime, end: datetime,
           by: str | None = None) -> Report:
    tally = ReportTally(problem_linked, start, end, by)
    for t in tickets:
        tally.add(t)
    return tally.report()


def spreadsheet_text(text: str) -> str:
    """Text a spreadsheet shows as text: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return is read as a formula by Excel and LibreOffice, and a CI's name comes
    from an alert's labels (CSV injection, OWASP): such a cell gets a leading apostrophe."""
    return "'" + text if text[:1] in _FORMULA_START else text


_FORMULA_START = frozenset("=+-@\t\r")


def rows(result: Report) -> list[dict[str, object]]:
    """Flat rows (scope, key, indicator, count, ratio) for a CSV monthly report; each key is
    ``spreadsheet_text`` (an indicator starts with a field's name)."""
    out: list[dict[str, object]] = []
    scopes = [("overall", "all", result.overall)]
    scopes += [("priority", k, v) for k, v in result.by_priority.items()]
    scopes += [("category", k, v) for k, v in result.by_category.items()]
    scopes += [(result.by or "", k, v) for k, v in result.by_key.items()]
    scopes += [("staff", k, v) for k, v in result.staff.items()]
    for scope, key, values in scopes:
        key = spreadsheet_text(str(key))
        for name in type(values).__struct_fields__:
            value = getattr(values, name)
            if isinstance(value, Count):
                out.append({"scope": scope, "key": key, "indicator": name, "value": value.count, "ratio": value.ratio})
            elif isinstance(value, dict):
                out += [{"scope": scope, "key": key, "indicator": f"{name}.{k}", "value": v, "ratio": ""}
                        for k, v in value.items()]
            else:
                out.append({"scope": scope, "key": key, "indicator": name, "value": value, "ratio": ""})
    return out
