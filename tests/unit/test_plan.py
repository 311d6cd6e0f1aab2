"""A ticket's timers, and whether a timer that fires is still due (pure)."""

from datetime import datetime, timedelta, timezone

import msgspec

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
