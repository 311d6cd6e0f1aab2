"""KPIs against a hand-computed fixture of tickets (handbook table 3.4)."""

from datetime import datetime, timedelta, timezone

import msgspec

from alertgate.kpi.compute import report, rows
from alertgate.tickets.model import (
    ClosureCode,
    SlaEntry,
    SlaTarget,
    Ticket,
    TicketKind,
    TicketSource,
    TicketStatus as S,
    TimelineEntry,
)

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)


def t(n, priority=3, status=S.OPEN, category="network", closure=None, group=None, breached=(), kind=TicketKind.MASTER,
      occurred_days=1, response_min=2, resolve_min=None):
    created = START + timedelta(days=occurred_days, minutes=response_min)
    return Ticket(
        id=f"INC-T-{n}", kind=kind, status=status, priority=priority, category=category, closure_code=closure,
        assignment_group=group, outage_start=START + timedelta(days=occurred_days), created_at=created,
        updated_at=created, resolved_at=created + timedelta(minutes=resolve_min) if resolve_min else None,
        sla=[SlaEntry(target=target, breached=target in breached) for target in SlaTarget],
    )


TICKETS = [
    t(1, priority=1, status=S.CLOSED, closure=ClosureCode.COMPLETED, group="network", resolve_min=20),
    t(2, priority=2, status=S.CLOSED, closure=ClosureCode.COMPLETED, group="service_desk", resolve_min=40,
      breached=(SlaTarget.RESOLUTION,)),
    t(3, priority=3, status=S.CLOSED, closure=ClosureCode.COMPLETED_WITH_PROBLEM, category="servers", group="server",
      resolve_min=60, response_min=4),
    t(4, priority=3, status=S.RESOLVED, category="servers", resolve_min=30, breached=(SlaTarget.ACCEPTANCE,)),
    t(5, priority=4, status=S.ASSIGNED, category=None, group="storage", breached=(SlaTarget.ASSIGNMENT,), response_min=10),
    t(6, kind=TicketKind.DUPLICATE, status=S.CLOSED, closure=ClosureCode.COMPLETED),    # never counted
    t(7, occurred_days=-3),                                                               # before the period
    t(8, occurred_days=31),                                                               # after it
]


def test_overall_indicators_match_the_hand_computation():
    overall = report(TICKETS, {"INC-T-4"}, START, END).overall
    assert overall.incidents == 5                                   # 1..5; not the duplicate, not 7 and 8
    assert (overall.closed.count, overall.closed.ratio) == (3, 0.6)
    assert (overall.successfully_closed.count, overall.successfully_closed.ratio) == (2, 0.4)
    assert overall.escalated_to_problem.count == 2                  # 3 by closure code, 4 linked to a problem
    assert overall.resolved_within_sla.count == 1                   # 1 (2 breached resolution, 3 not "completed")
    assert (overall.responded_within_sla.count, overall.responded_within_sla.ratio) == (3, 0.6)   # 4 and 5 missed
    assert overall.mean_response_seconds == (2 + 2 + 4 + 2 + 10) * 60 / 5
    assert overall.mean_resolution_seconds == (20 + 40 + 60 + 30) * 60 / 4
    assert overall.first_line_resolution.count == 2                 # 2 (service desk) and 4 (no group)
    assert overall.second_line_resolution.count == 2                # 1 (network) and 3 (server)
    assert (overall.major_incidents.count, overall.major_incidents.ratio) == (2, 0.4)


def test_by_priority_and_by_category():
    result = report(TICKETS, set(), START, END)
    assert {k: v.incidents for k, v in result.by_priority.items()} == {"1": 1, "2": 1, "3": 2, "4": 1}
    assert {k: v.incidents for k, v in result.by_category.items()} == {"network": 2, "servers": 2, "uncategorised": 1}
    assert result.by_category["servers"].escalated_to_problem.count == 1


def test_rows_for_csv_cover_every_indicator_of_every_scope():
    flat = rows(report(TICKETS, set(), START, END))
    assert {"scope": "overall", "key": "all", "indicator": "incidents", "value": 5, "ratio": ""} in flat
    assert len(flat) == 18 * (1 + 4 + 3)   # (16 indicators; the one by resolver role in three rows)


def test_a_sender_clock_ahead_never_makes_the_mean_response_negative():
    """Issue #19: an outage said to start after its registration counts as 0 and is flagged."""
    from datetime import datetime, timedelta, timezone

    from alertgate.kpi.compute import indicators
    from alertgate.tickets.model import Ticket

    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    ahead = Ticket(id="INC-A-1", created_at=now, updated_at=now, outage_start=now + timedelta(minutes=5))
    behind = Ticket(id="INC-B-1", created_at=now, updated_at=now, outage_start=now - timedelta(minutes=2))
    result = indicators([ahead, behind], set())
    assert result.mean_response_seconds == 60.0 and result.sender_clock_ahead == 1


def test_kpi_8_by_resolver_role_and_kpi_9_from_the_third_party_s_engagement():
    """Handbook §3.4 KPI 8 (mean resolution time by resolver role: first or second line) and KPI 9
    (third parties: resolved − engaged). Issue #26, item 12."""
    vendor = msgspec.structs.replace(t(9, status=S.RESOLVED, group="server", resolve_min=90),
                                     third_party="HPE", third_party_at=START + timedelta(days=1, minutes=32))
    overall = report(TICKETS + [vendor], set(), START, END).overall
    assert overall.mean_resolution_seconds_by_role == {
        "first_line": (40 + 30) * 60 / 2, "second_line": (20 + 60) * 60 / 2, "third_party": 90 * 60}
    assert overall.third_party_mean_resolution_seconds == 60 * 60   # engaged 30 min after registration


def test_reports_by_ci_group_and_requester():
    """Handbook §3.4 reports 1 and 2 (by user, by device) and by support group."""
    tickets = [msgspec.structs.replace(t(1, status=S.CLOSED, closure=ClosureCode.COMPLETED, group="network"), ci="sw1"),
               msgspec.structs.replace(t(2), ci="sw1", route_group="network", alert_source="zabbix"),
               msgspec.structs.replace(t(3), ci="db1", contact="zhang@example.com", source=TicketSource.USER_REPORT)]
    assert {k: v.incidents for k, v in report(tickets, set(), START, END, "ci").by_key.items()} == {"db1": 1, "sw1": 2}
    assert {k: v.incidents for k, v in report(tickets, set(), START, END, "group").by_key.items()} == {
        "network": 2, "service_desk": 1}
    assert set(report(tickets, set(), START, END, "requester").by_key) == {"monitoring", "zabbix", "zhang@example.com"}
    assert report(tickets, set(), START, END).by_key == {}


def test_staff_counts_what_each_person_registered_worked_on_and_resolved():
    """Handbook §3.4 KPIs 13/16 (registered, 事件登记人), 14 (worked on: in the work log), 17
    (resolved, 事件解决人), with ratios of the period's incidents; the system's own entries are not people."""
    def entry(actor, action):
        return TimelineEntry(at=START, actor=actor, action=action)
    tickets = [
        msgspec.structs.replace(t(1, status=S.RESOLVED, resolve_min=5), registered_by="desk-wang", resolved_by="eng-li",
                                timeline=[entry("desk-wang", "create"), entry("alertgate-dispatch", "assign"),
                                          entry("eng-li", "accept"), entry("eng-li", "resolve")]),
        msgspec.structs.replace(t(2, status=S.ASSIGNED), alert_source="alertmanager",
                                timeline=[entry("alertgate-dispatch", "assign"), entry("desk-wang", "comment")]),
    ]
    staff = report(tickets, set(), START, END, "staff").staff
    assert {p: (s.registered.count, s.worked_on.count, s.resolved.count) for p, s in staff.items()} == {
        "alertmanager": (1, 0, 0), "desk-wang": (1, 2, 0), "eng-li": (0, 1, 1)}
    assert staff["eng-li"].resolved.ratio == 0.5
    assert any(r["scope"] == "staff" and r["indicator"] == "resolved" for r in rows(report(tickets, set(), START, END, "staff")))


def test_the_tally_read_in_chunks_is_the_report_of_the_whole_list():
    """kpi/compute.ReportTally: a month of hundreds of thousands is added a chunk at a time."""
    import random

    from alertgate.kpi.compute import ReportTally

    rng = random.Random(3)
    statuses = [S.OPEN, S.RESOLVED, S.CLOSED]
    tickets = []
    for n in range(500):
        created = START + timedelta(hours=rng.randint(0, 600))
        status = rng.choice(statuses)
        tickets.append(Ticket(id=f"INC-K{n}-1", priority=rng.randint(1, 4), category=rng.choice([None, "network", "db"]),
                              assignment_group=rng.choice([None, "service_desk", "dba"]), status=status,
                              outage_start=created - timedelta(minutes=rng.randint(-5, 60)), created_at=created,
                              updated_at=created, resolved_at=created + timedelta(minutes=rng.randint(1, 500))
                              if status is not S.OPEN else None))
    tally = ReportTally({"INC-K7-1"}, START, END, by="group")
    for first in range(0, len(tickets), 77):
        for ticket in tickets[first:first + 77]:
            tally.add(ticket)
    got = tally.report()
    # (each indicator worked out here from the whole list, as compute.py did before the tally)
    period = [t for t in tickets if START <= (t.outage_start or t.created_at) < END]
    done = [t for t in period if t.status is not S.OPEN]
    assert got.overall.incidents == len(period) == sum(part.incidents for part in got.by_priority.values()) > 100
    assert got.overall.closed.count == sum(t.status is S.CLOSED for t in period)
    assert got.overall.mean_resolution_seconds == round(
        sum((t.resolved_at - t.created_at).total_seconds() for t in done) / len(done), 3)
    assert got.overall.mean_response_seconds == round(
        sum(max(0.0, (t.created_at - t.outage_start).total_seconds()) for t in period) / len(period), 3)
    assert got.overall.first_line_resolution.count == sum(t.assignment_group in (None, "service_desk") for t in done)
    assert got.overall.escalated_to_problem.count == ("INC-K7-1" in {t.id for t in period})
    assert got.by_key["dba"].incidents == sum(t.assignment_group == "dba" for t in period)
    assert msgspec.json.encode(report(tickets, {"INC-K7-1"}, START, END, by="group")) == msgspec.json.encode(got)
