"""A ticket's timers, and whether a timer that fires is still due (pure)."""

from datetime import datetime, timedelta, timezone

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.dedup.store import initial_sla
from alertgate.rules.tables import Tables
from alertgate.tickets.model import SlaTarget, Ticket, TicketKind, TicketStatus as S
from alertgate.workers.plan import Timer, plan, still_due

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
TABLES = Tables()


def p1(status=S.OPEN, **kw) -> Ticket:
    return Ticket(id="INC-X-1", priority=1, status=status, sla=initial_sla(TABLES.sla_minutes[1], T0),
                  created_at=T0, updated_at=T0, **kw)


def test_p1_plan_follows_the_handbook_tables():
    timers = plan(p1(), TABLES)
    assert [(t.kind, t.step, (t.at - T0).total_seconds() / 60) for t in timers] == [
        ("sla", "assignment", 10), ("escalation", "1", 10), ("stakeholder", "1:project_manager", 10),
        ("escalation", "2", 15), ("stakeholder", "2:maintenance_manager", 20), ("escalation", "3", 30),
        ("stakeholder", "3:product_manager", 30), ("stakeholder", "4:deputy_director", 60)]


def test_resolved_suspended_and_duplicate_tickets_have_no_timers():
    assert plan(p1(S.RESOLVED), TABLES) == []
    assert plan(p1(S.SUSPENDED), TABLES) == []
    assert plan(p1(kind=TicketKind.DUPLICATE), TABLES) == []


def test_a_timer_is_left_alone_once_the_ticket_moved_on():
    ticket = p1(S.ASSIGNED)
    sla_timer = Timer(T0 + timedelta(minutes=10), "sla", "assignment")
    assert still_due(ticket, sla_timer)
    met = msgspec.structs.replace(ticket, sla=[msgspec.structs.replace(e, met_at=T0) if e.target is SlaTarget.ASSIGNMENT
                                               else e for e in ticket.sla])
    assert not still_due(met, sla_timer)
    moved = Timer(T0 + timedelta(minutes=11), "sla", "assignment")    # planned before a resume shifted it
    assert not still_due(ticket, moved)
    assert not still_due(p1(S.SUSPENDED), sla_timer)
    assert not still_due(p1(escalation_level=1), Timer(T0, "escalation", "1"))
    assert still_due(p1(escalation_level=1), Timer(T0, "escalation", "2"))
    assert not still_due(p1(S.CLOSED), Timer(T0, "stakeholder", "1:project_manager"))


def test_a_warning_is_planned_at_a_share_of_each_running_target_and_follows_its_deadline():
    """Handbook §3.1.3.5–3.1.3.6 (issue #26, item 9): warned before the breach, at ``warn_at``."""
    ticket = p1()
    [warning] = [t for t in plan(ticket, TABLES, warn_at=0.8) if t.kind == "sla_warning"]
    assert (warning.step.partition(":")[0], (warning.at - T0).total_seconds() / 60) == ("assignment", 8)
    assert still_due(ticket, warning)
    moved = msgspec.structs.replace(ticket, sla=[msgspec.structs.replace(ticket.sla[0], due_at=T0 + timedelta(hours=1))]
                                    + ticket.sla[1:])
    assert not still_due(moved, warning)   # (a re-planned deadline has a warning of its own)
    assert not [t for t in plan(ticket, TABLES) if t.kind == "sla_warning"]   # warn_at 0: none


@settings(max_examples=300, deadline=None)
@given(priority=st.integers(1, 4), status=st.sampled_from(list(S)), kind=st.sampled_from(list(TicketKind)),
       level=st.integers(0, 5), warn_at=st.sampled_from([0.0, 0.5, 0.8]),
       suspended=st.one_of(st.none(), st.integers(1, 10_000)),
       sla_state=st.lists(st.sampled_from(["running", "met", "breached", "unstarted"]), min_size=3, max_size=3))
def test_every_timer_just_planned_is_still_due(priority, status, kind, level, warn_at, suspended, sla_state):
    """What ``plan`` returns is due by construction (``dispatch.next_timer_marks`` relies on it)."""
    sla = [msgspec.structs.replace(e, met_at=T0 if state == "met" else None, breached=state == "breached",
                                   due_at=None if state == "unstarted" else e.due_at or T0 + timedelta(minutes=e.minutes))
           for e, state in zip(initial_sla(TABLES.sla_minutes[priority], T0), sla_state)]
    ticket = Ticket(id="INC-X-1", priority=priority, status=status, kind=kind, escalation_level=level, sla=sla,
                    suspended_until=None if suspended is None else T0 + timedelta(seconds=suspended),
                    created_at=T0, updated_at=T0)
    assert all(still_due(ticket, timer, TABLES) for timer in plan(ticket, TABLES, warn_at))
