from datetime import datetime, timedelta, timezone

import pytest

from alertgate.settings import Role
from alertgate.tickets.lifecycle import (
    ALLOWED_FROM,
    Action,
    ActionRequest,
    Actor,
    IllegalTransition,
    MissingArgument,
    RoleNotAllowed,
    apply,
    cascade,
)
from alertgate.tickets.model import (
    ClosureCode,
    ResolutionCode,
    SlaEntry,
    SlaTarget,
    Ticket,
    TicketKind,
    TicketStatus as S,
)
from alertgate.dedup.store import initial_sla
from alertgate.rules.tables import Tables

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
DESK = Actor("desk", Role.SERVICE_DESK)
ENG = Actor("eng", Role.ENGINEER)
IM = Actor("im", Role.INCIDENT_MANAGER)
VIEWER = Actor("v", Role.VIEWER)
ADMIN = Actor("root", Role.ADMIN)


def ticket(status=S.OPEN, priority=3, **kw) -> Ticket:
    return Ticket(id="INC-X-1", status=status, priority=priority, sla=initial_sla(Tables().sla_minutes[priority], T0),
                  created_at=T0, updated_at=T0, **kw)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def sla(t: Ticket, target: SlaTarget) -> SlaEntry:
    return next(e for e in t.sla if e.target is target)


def test_happy_path_open_to_closed_records_every_step():
    t = ticket()
    t, _ = apply(t, Action.ASSIGN, ActionRequest(group="network", assignee="li"), DESK, at(5))
    t, _ = apply(t, Action.ACCEPT, ActionRequest(), ENG, at(10))
    t, _ = apply(t, Action.RESOLVE, ActionRequest(resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND,
                                                  solution="restarted"), ENG, at(60))
    t, _ = apply(t, Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), DESK, at(70))
    assert t.status is S.CLOSED
    assert [(e.action, e.from_status, e.to_status, e.actor) for e in t.timeline] == [
        ("assign", S.OPEN, S.ASSIGNED, "desk"), ("accept", S.ASSIGNED, S.IN_PROGRESS, "eng"),
        ("resolve", S.IN_PROGRESS, S.RESOLVED, "eng"), ("close", S.RESOLVED, S.CLOSED, "desk")]
    assert (t.assignment_group, t.assignee, t.solution) == ("network", "li", "restarted")
    assert t.resolved_at == at(60) and t.closed_at == at(70)


def test_sla_targets_chain_and_record_breaches():
    t = ticket(priority=3)  # P3: 15 min / 30 min / 2 h
    assert sla(t, SlaTarget.ASSIGNMENT).due_at == at(15)
    assert sla(t, SlaTarget.ACCEPTANCE).due_at is None
    t, _ = apply(t, Action.ASSIGN, ActionRequest(group="g"), DESK, at(20))
    assert sla(t, SlaTarget.ASSIGNMENT).breached
    assert sla(t, SlaTarget.ACCEPTANCE).due_at == at(50)
    t, _ = apply(t, Action.ACCEPT, ActionRequest(), ENG, at(30))
    assert not sla(t, SlaTarget.ACCEPTANCE).breached
    assert sla(t, SlaTarget.RESOLUTION).due_at == at(150)


def test_suspension_pauses_the_clocks():
    t = ticket()
    t, _ = apply(t, Action.ASSIGN, ActionRequest(group="g"), DESK, at(1))
    t, _ = apply(t, Action.ACCEPT, ActionRequest(), ENG, at(2))
    t, _ = apply(t, Action.SUSPEND, ActionRequest(note="waiting for vendor"), ENG, at(10))
    assert t.status is S.SUSPENDED
    t, _ = apply(t, Action.RESUME, ActionRequest(), ENG, at(70))
    assert t.status is S.IN_PROGRESS
    assert sla(t, SlaTarget.RESOLUTION).due_at == at(2 + 120 + 60)


def test_resolve_is_allowed_at_initial_support():
    t, effects = apply(ticket(), Action.RESOLVE, ActionRequest(resolution_code=ResolutionCode.NOT_REPRODUCIBLE), DESK, at(3))
    assert t.status is S.RESOLVED and effects.cascade


@pytest.mark.parametrize("status", [S.PENDING_CHANGE, S.SUSPENDED, S.RESOLVED, S.CLOSED])
def test_resolve_from_elsewhere_is_illegal_with_allowed_actions(status):
    with pytest.raises(IllegalTransition) as info:
        apply(ticket(status), Action.RESOLVE, ActionRequest(resolution_code=ResolutionCode.UNRESOLVABLE), DESK, at(1))
    assert info.value.status is status
    assert info.value.allowed == [a.value for a, froms in ALLOWED_FROM.items() if status in froms]


@pytest.mark.parametrize("status", [s for s in S if s is not S.RESOLVED])
def test_close_only_from_resolved(status):
    with pytest.raises(IllegalTransition):
        apply(ticket(status), Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), DESK, at(1))


@pytest.mark.parametrize("actor", [ENG, VIEWER, Actor("src", Role.SOURCE)])
def test_only_service_desk_or_incident_manager_close(actor):
    with pytest.raises(RoleNotAllowed):
        apply(ticket(S.RESOLVED), Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), actor, at(1))
    for allowed in (DESK, IM, ADMIN):
        closed, _ = apply(ticket(S.RESOLVED), Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), allowed, at(1))
        assert closed.status is S.CLOSED


def test_rejected_twice_escalates_to_the_incident_manager():
    t, _ = apply(ticket(), Action.ASSIGN, ActionRequest(group="g"), DESK, at(1))
    t, effects = apply(t, Action.REJECT, ActionRequest(reason="not ours"), ENG, at(2))
    assert t.status is S.OPEN and effects.escalated is None and t.escalated_to is None
    t, _ = apply(t, Action.ASSIGN, ActionRequest(group="g2"), DESK, at(3))
    t, effects = apply(t, Action.REJECT, ActionRequest(reason="not ours either"), ENG, at(4))
    assert effects.escalated and t.escalated_to == "incident_manager"
    assert t.timeline[-1].action == "escalate"


def test_reassignment_across_groups_is_reported_and_a_third_escalates():
    t, _ = apply(ticket(), Action.ASSIGN, ActionRequest(group="network"), DESK, at(1))
    t, effects = apply(t, Action.REASSIGN, ActionRequest(group="network", assignee="wu"), DESK, at(2))
    assert effects.reported == [] and effects.escalated is None
    t, effects = apply(t, Action.REASSIGN, ActionRequest(group="storage"), DESK, at(3))
    assert effects.reported and "network → storage" in effects.reported[0]
    assert effects.escalated is None
    t, effects = apply(t, Action.REASSIGN, ActionRequest(group="storage", assignee="zhao"), DESK, at(4))
    assert t.reassignment_count == 3 and effects.escalated and t.escalated_to == "incident_manager"


def test_closure_codes_ask_for_follow_up_and_problem():
    _, effects = apply(ticket(S.RESOLVED), Action.CLOSE, ActionRequest(closure_code=ClosureCode.NOT_COMPLETED), DESK, at(1))
    assert effects.follow_up
    _, effects = apply(ticket(S.RESOLVED), Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED_WITH_PROBLEM), DESK, at(1))
    assert effects.problem
    _, effects = apply(ticket(S.RESOLVED, priority=1), Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), DESK, at(1))
    assert effects.problem == "a P1 incident was closed"


def test_missing_arguments_are_named():
    with pytest.raises(MissingArgument) as info:
        apply(ticket(), Action.ASSIGN, ActionRequest(), DESK, at(1))
    assert info.value.name == "group"
    with pytest.raises(MissingArgument):
        apply(ticket(), Action.RESOLVE, ActionRequest(), DESK, at(1))
    with pytest.raises(MissingArgument):
        apply(ticket(S.RESOLVED), Action.CLOSE, ActionRequest(), DESK, at(1))


def test_change_and_reopen_and_comment():
    t = ticket(S.IN_PROGRESS)
    t, _ = apply(t, Action.START_CHANGE, ActionRequest(), ENG, at(1))
    assert t.status is S.PENDING_CHANGE
    t, _ = apply(t, Action.END_CHANGE, ActionRequest(), ENG, at(2))
    t, _ = apply(t, Action.RESOLVE, ActionRequest(resolution_code=ResolutionCode.RESOLVED_BY_CHANGE), ENG, at(3))
    t, _ = apply(t, Action.REOPEN, ActionRequest(note="user says still broken"), DESK, at(4))
    assert t.status is S.IN_PROGRESS and t.reopen_count == 1 and t.resolution_code is None
    t, _ = apply(t, Action.COMMENT, ActionRequest(note="called the user"), ENG, at(5))
    assert t.status is S.IN_PROGRESS and t.timeline[-1].note == "called the user"
    with pytest.raises(RoleNotAllowed):
        apply(t, Action.COMMENT, ActionRequest(note="x"), VIEWER, at(6))
    for empty in (None, "", "  \n"):   # a comment says something
        with pytest.raises(MissingArgument):
            apply(t, Action.COMMENT, ActionRequest(note=empty), ENG, at(6))


def test_cascade_moves_duplicates_with_their_master():
    master, _ = apply(ticket(), Action.RESOLVE, ActionRequest(resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND), DESK, at(1))
    dup = Ticket(id="INC-X-2", kind=TicketKind.DUPLICATE, master_id="INC-X-1", created_at=T0, updated_at=T0)
    moved = cascade(dup, master, at(1))
    assert moved.status is S.RESOLVED and moved.resolution_code is ResolutionCode.RESOLVED_BY_WORKAROUND
    closed_dup = Ticket(id="INC-X-3", kind=TicketKind.DUPLICATE, status=S.CLOSED, created_at=T0, updated_at=T0)
    assert cascade(closed_dup, master, at(1)) is closed_dup
