"""Business-hours calendars for SLA clocks (issue #26, item 10; handbook §3.1.3.5, seed 002's
working days), pure: the arithmetic, the tables that choose a calendar, and the lifecycle and
timers that run on one."""

from datetime import datetime, timezone

import msgspec
import pytest

from alertgate.rules.tables import Tables
from alertgate.settings import Role
from alertgate.tickets.calendars import BusinessCalendar
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor, apply, initial_sla
from alertgate.tickets.model import SlaTarget, Ticket

UTC = timezone.utc
SHANGHAI = {"timezone": "Asia/Shanghai", "hours": "09:00-12:00,13:00-18:00",
            "holidays": ["2026-10-01", "2026-10-02", "2026-10-05"], "workdays": ["2026-10-10"]}


def calendar(**overrides) -> BusinessCalendar:
    return msgspec.convert({**SHANGHAI, **overrides}, BusinessCalendar, strict=False)


def cst(day: str, hhmm: str) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+08:00").astimezone(UTC)


OFFICE = calendar()


@pytest.mark.parametrize("start, minutes, expected", [
    (cst("2026-12-04", "17:30"), 60, cst("2026-12-07", "09:30")),     # Friday evening → Monday morning
    (cst("2026-12-07", "11:30"), 60, cst("2026-12-07", "13:30")),     # over the lunch break
    (cst("2026-12-05", "10:00"), 15, cst("2026-12-07", "09:15")),     # a Saturday starts on Monday
    (cst("2026-12-07", "03:00"), 15, cst("2026-12-07", "09:15")),     # before hours
    (cst("2026-09-30", "17:00"), 120, cst("2026-10-06", "10:00")),    # the national holidays are skipped
    (cst("2026-10-09", "17:00"), 120, cst("2026-10-10", "10:00")),    # a make-up Saturday (调休) works
    (cst("2026-12-07", "09:00"), 8 * 60 * 2, cst("2026-12-08", "18:00")),   # two working days
])
def test_a_target_is_due_after_its_working_minutes(start, minutes, expected):
    assert OFFICE.add(start, minutes) == expected
    assert OFFICE.minutes_between(start, expected) == minutes
    assert OFFICE.back(expected, minutes) >= start and OFFICE.minutes_between(OFFICE.back(expected, minutes), expected) == minutes


def test_a_daylight_saving_change_keeps_the_working_hours_on_the_wall_clock():
    berlin = calendar(timezone="Europe/Berlin", hours="09:00-17:00", holidays=[], workdays=[])
    friday = datetime.fromisoformat("2026-03-27T16:00:00+01:00")   # CET; Monday is CEST
    monday_10 = datetime.fromisoformat("2026-03-30T10:00:00+02:00")
    assert berlin.add(friday, 120) == monday_10.astimezone(UTC)


@pytest.mark.parametrize("overrides, problem", [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"hours": "9-18"}, "HH:MM-HH:MM"),
    ({"hours": "18:00-09:00"}, "ends after it starts"),
    ({"hours": "09:00-13:00,12:00-18:00"}, "overlapping"),
    ({"days": [], "workdays": []}, "working days"),
])
def test_a_calendar_that_cannot_work_is_refused(overrides, problem):
    with pytest.raises(msgspec.ValidationError, match=problem):
        calendar(**overrides)


TABLES = msgspec.convert({"calendars": {"office": SHANGHAI}, "sla_calendars": {"priority": {2: "office"},
                                                                                  "group": {"desktop": "office"}}},
                         Tables, strict=False)


def test_the_priority_s_calendar_then_the_group_s_and_p1_runs_around_the_clock():
    """Seed 002: P2/P3 in working days; the handbook's P1 is 24×7 unless configured otherwise."""
    assert TABLES.calendar_for(2, "network") is TABLES.calendars["office"]
    assert TABLES.calendar_for(3, "desktop") is TABLES.calendars["office"]
    assert TABLES.calendar_for(1, "desktop") is None     # (the default priority table: P1 is 24x7)
    assert TABLES.calendar_for(3, "network") is None
    assert Tables().calendar_for(3, "x") is None
    with pytest.raises(msgspec.ValidationError, match="which calendars does not define"):
        msgspec.convert({"sla_calendars": {"group": {"desktop": "office"}}}, Tables)


DESK = Actor("desk", Role.SERVICE_DESK)


def p2(created: datetime) -> Ticket:
    sla = initial_sla(TABLES.sla_minutes[2], created, TABLES.calendar_for(2, None))
    return Ticket(id="INC-X-1", priority=2, sla=sla, created_at=created, updated_at=created)


def due(t: Ticket, target: SlaTarget) -> datetime | None:
    return next(e for e in t.sla if e.target is target).due_at


def test_the_clocks_of_a_ticket_run_on_its_calendar_through_assignment_suspension_and_reprioritising():
    """§3.1.3.5: each stage's target counts working time from the stage's start; a suspension
    gives back the working time it had left; re-prioritised, the new length is working time too."""
    t = p2(cst("2026-12-04", "17:55"))                                  # P2: 15 / 30 / 60 minutes
    assert due(t, SlaTarget.ASSIGNMENT) == cst("2026-12-07", "09:10")
    t, _ = apply(t, Action.ASSIGN, ActionRequest(group="network"), DESK, cst("2026-12-07", "11:50"), TABLES)
    assert due(t, SlaTarget.ACCEPTANCE) == cst("2026-12-07", "13:20")
    t, _ = apply(t, Action.SUSPEND, ActionRequest(), DESK, cst("2026-12-07", "11:55"), TABLES)   # 25 min left
    t, _ = apply(t, Action.RESUME, ActionRequest(), DESK, cst("2026-12-07", "17:50"), TABLES)
    assert due(t, SlaTarget.ACCEPTANCE) == cst("2026-12-08", "09:15")
    t, _ = apply(t, Action.REPRIORITISE, ActionRequest(priority=3, reason="x"), DESK, cst("2026-12-07", "17:51"), TABLES)
    assert due(t, SlaTarget.ACCEPTANCE) == cst("2026-12-08", "09:15")   # (P3's acceptance is 30 min too)
    t, _ = apply(t, Action.REPRIORITISE, ActionRequest(priority=4, reason="x"), DESK, cst("2026-12-07", "17:52"), TABLES)
    assert due(t, SlaTarget.ACCEPTANCE) == cst("2026-12-08", "09:45")   # (P4: 60 min, 30 more of working time)


def test_the_warning_comes_at_a_share_of_the_working_time():
    """§3.1.3.6 with item 9: warned at ``warn_at`` of the target's working time, not of the night."""
    from alertgate.workers.plan import plan
    t = p2(cst("2026-12-04", "17:55"))
    [warning] = [timer for timer in plan(t, TABLES, warn_at=0.8) if timer.kind == "sla_warning"]
    assert warning.at == cst("2026-12-07", "09:07")    # 12 of 15 working minutes: 5 on Friday, 7 on Monday
    assert [timer.at for timer in plan(t, TABLES) if timer.kind == "sla"] == [cst("2026-12-07", "09:10")]
