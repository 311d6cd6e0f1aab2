"""The handbook's actions beyond the core lifecycle (issue #26), pure: re-prioritise, the audited
edit of the outage times and ``ci_operational``, suspend until a time, and the duty team lead's
verification of a closed record. Each test names the handbook section (seed 001) it proves."""

from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from alertgate.dedup.store import initial_sla
from alertgate.rules.tables import Tables
from alertgate.settings import Role
from alertgate.tickets.lifecycle import (
    Action,
    ActionRequest,
    Actor,
    IllegalTransition,
    InvalidArgument,
    MissingArgument,
    RoleNotAllowed,
    apply,
)
from alertgate.tickets.model import ClosureCode, SlaTarget, Ticket, TicketStatus as S

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
DESK = Actor("desk", Role.SERVICE_DESK)
ENG = Actor("eng", Role.ENGINEER)
IM = Actor("im", Role.INCIDENT_MANAGER)
LEAD = Actor("lead", Role.DUTY_LEAD)
TABLES = Tables()


def ticket(status=S.OPEN, priority=3, **kw) -> Ticket:
    return Ticket(id="INC-X-1", status=status, priority=priority, sla=initial_sla(TABLES.sla_minutes[priority], T0),
                  created_at=T0, updated_at=T0, **kw)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def due(t: Ticket, target: SlaTarget) -> datetime | None:
    return next(e for e in t.sla if e.target is target).due_at


def act(t: Ticket, action: Action, actor: Actor = DESK, minute: float = 1, **request) -> tuple[Ticket, object]:
    return apply(t, action, msgspec.convert(request, ActionRequest), actor, at(minute), TABLES)


# -- 1. re-prioritise ------------------------------------------------------------------------------

def test_reprioritise_from_impact_and_urgency_replans_the_running_clocks_and_records_why():
    """§3.1.3.4: priority may change during the lifecycle; the reason and the change are recorded.
    §3.1.3.5: the targets are those of the new priority, from when each stage started."""
    t, _ = act(ticket(priority=3), Action.ASSIGN, group="network", minute=5)   # P3: acceptance 30 min from 5
    assert due(t, SlaTarget.ACCEPTANCE) == at(35)
    t, effects = act(t, Action.REPRIORITISE, IM, 8, impact=1, urgency=1, reason="whole site down")
    assert (t.impact, t.urgency, t.priority) == (1, 1, 1)
    assert due(t, SlaTarget.ACCEPTANCE) == at(5 + 15)          # P1: acceptance 15 min
    assert t.sla[1].minutes == 15 and t.sla[2].minutes == 30 and t.sla[2].due_at is None
    assert t.sla[0].met_at == at(5) and t.sla[0].minutes == 15   # a met target keeps what it was held to
    entry = t.timeline[-2]
    assert (entry.action, entry.actor) == ("reprioritise", "im")
    assert "P3 → P1" in entry.note and "whole site down" in entry.note
    assert effects.reported == ["raised to P1: whole site down"]   # §3.1.3.7: a P1 is reported at once
    assert t.timeline[-1].action == "report"


def test_reprioritise_may_name_the_priority_and_needs_a_reason():
    """§3.1.3.4: the reason for the change must be recorded."""
    with pytest.raises(MissingArgument) as info:
        act(ticket(), Action.REPRIORITISE, priority=2)
    assert info.value.name == "reason"
    t, effects = act(ticket(priority=2), Action.REPRIORITISE, priority=4, reason="only a test system")
    assert t.priority == 4 and (t.impact, t.urgency) == (3, 3) and effects.reported == []
    assert due(t, SlaTarget.ASSIGNMENT) == at(40)   # P4: assignment 40 min from creation
    with pytest.raises(MissingArgument):
        act(ticket(), Action.REPRIORITISE, reason="nothing to change")


def test_reprioritise_keeps_a_breach_and_is_refused_once_resolved():
    """§3.1.3.5: a missed target stays missed; a resolved incident's priority is history."""
    t = ticket(priority=4)
    t = msgspec.structs.replace(t, sla=[msgspec.structs.replace(t.sla[0], breached=True)] + t.sla[1:])
    t, _ = act(t, Action.REPRIORITISE, minute=50, priority=3, reason="more users")
    assert t.sla[0].breached and due(t, SlaTarget.ASSIGNMENT) == at(15)
    with pytest.raises(IllegalTransition):
        act(ticket(S.RESOLVED), Action.REPRIORITISE, priority=1, reason="x")
    with pytest.raises(msgspec.ValidationError):   # (the API answers 400 naming $.priority)
        act(ticket(), Action.REPRIORITISE, priority=7, reason="x")


def test_reprioritise_follows_the_table_s_channels_unless_a_rule_chose_them():
    """§3.1.3.7: P1 by phone and e-mail, P2 and P3 by e-mail."""
    t, _ = act(ticket(priority=3, channels=["email"]), Action.REPRIORITISE, priority=1, reason="VIP")
    assert t.channels == ["phone", "email"]
    t, _ = act(ticket(priority=3, channels=["webhook"]), Action.REPRIORITISE, priority=1, reason="VIP")
    assert t.channels == ["webhook"]


# -- 2. outage times and ci_operational ------------------------------------------------------------

def test_edit_corrects_the_outage_times_and_ci_operational_with_an_audit_entry():
    """§3.1.4.1 fields 8, 10 and 11: the outage start and end are corrected to the real times, and
    a CI that still works is marked operational; every change is on the timeline."""
    t = ticket(S.CLOSED, outage_start=at(0), outage_end=at(60))
    t, _ = act(t, Action.EDIT, ENG, 90, outage_start=at(-120).isoformat(), outage_end=at(45).isoformat(),
               ci_operational=True, note="the disk failed at night")
    assert (t.outage_start, t.outage_end, t.ci_operational, t.status) == (at(-120), at(45), True, S.CLOSED)
    entry = t.timeline[-1]
    assert entry.action == "edit" and entry.actor == "eng" and "the disk failed at night" in entry.note
    assert "outage_start: 2026-12-05T02:00:00+00:00 → 2026-12-05T00:00:00+00:00" in entry.note
    assert "ci_operational: unset → true" in entry.note


@pytest.mark.parametrize("request_, problem", [
    ({}, "edit needs outage_start, outage_end or ci_operational"),
    ({"outage_start": at(30).isoformat(), "outage_end": at(10).isoformat()}, "outage_end is before outage_start"),
    ({"outage_end": at(24 * 60).isoformat()}, "outage_end is in the future"),
])
def test_edit_refuses_nothing_to_change_and_impossible_times(request_, problem):
    with pytest.raises((MissingArgument, InvalidArgument)) as info:
        act(ticket(S.IN_PROGRESS), Action.EDIT, ENG, 60, **request_)
    assert str(info.value) == problem


def test_edit_is_for_the_people_who_work_the_ticket():
    with pytest.raises(RoleNotAllowed):
        act(ticket(), Action.EDIT, Actor("v", Role.VIEWER), ci_operational=True)


# -- 3. suspend for a period -----------------------------------------------------------------------

def test_suspend_until_keeps_the_time_and_resume_clears_it():
    """§3.1.4.1 field 2: "暂停 — 客户同意将此突发事件暂停一段时间"."""
    t, _ = act(ticket(S.IN_PROGRESS), Action.SUSPEND, ENG, 10, until=at(70).isoformat(), note="user on leave")
    assert t.status is S.SUSPENDED and t.suspended_until == at(70)
    assert "until 2026-12-05T03:10:00+00:00" in t.timeline[-1].note
    t, _ = act(t, Action.RESUME, ENG, 70)
    assert t.status is S.IN_PROGRESS and t.suspended_until is None
    with pytest.raises(InvalidArgument):
        act(ticket(S.IN_PROGRESS), Action.SUSPEND, ENG, 10, until=at(5).isoformat())


# -- 13. verification by the duty team lead --------------------------------------------------------

def test_the_duty_team_lead_checks_a_closed_record_or_sends_it_back_with_a_note():
    """§3.1.3.10 (2): after closure the duty team lead verifies what the record says."""
    closed = ticket(S.CLOSED, closure_code=ClosureCode.COMPLETED)
    with pytest.raises(MissingArgument):
        act(closed, Action.VERIFY, LEAD, verdict="returned")
    back, effects = act(closed, Action.VERIFY, LEAD, 5, verdict="returned", note="outage end is the closure time")
    assert (back.status, back.verification, back.verified_by) == (S.CLOSED, "returned", "lead")
    assert effects.returned == "outage end is the closure time"
    fixed, _ = act(back, Action.EDIT, DESK, 6, outage_end=at(3).isoformat())
    checked, effects = act(fixed, Action.VERIFY, LEAD, 7, verdict="checked")
    assert (checked.verification, checked.verified_at, effects.returned) == ("checked", at(7), None)
    assert [e.action for e in checked.timeline][-3:] == ["verify", "edit", "verify"]


def test_only_the_duty_team_lead_or_the_incident_manager_verifies_and_only_a_closed_record():
    closed = ticket(S.CLOSED)
    for actor in (DESK, ENG):
        with pytest.raises(RoleNotAllowed):
            act(closed, Action.VERIFY, actor, verdict="checked")
    act(closed, Action.VERIFY, IM, verdict="checked")
    with pytest.raises(IllegalTransition):
        act(ticket(S.RESOLVED), Action.VERIFY, LEAD, verdict="checked")
    with pytest.raises(msgspec.ValidationError):
        act(closed, Action.VERIFY, LEAD, verdict="maybe")
    with pytest.raises(RoleNotAllowed):   # the duty team lead verifies; working tickets is for others
        act(ticket(), Action.ASSIGN, LEAD, group="g")


# -- 5. named escalation policies ------------------------------------------------------------------

POLICIES = msgspec.convert({"escalation_policies": {
    "database": {1: [{"after": "5m", "notify": "dba_on_call"}, {"after": "20m", "notify": "maintenance_manager"}]},
    "security": [{"after": "2m", "notify": "security_officer"}]}}, Tables, strict=False)


def escalations(t: Ticket, tables: Tables = POLICIES) -> list[tuple[float, str, str]]:
    from alertgate.workers.plan import plan
    return [((timer.at - T0).total_seconds() / 60, timer.step, tables.escalation_steps(t.priority, t.escalation_policy)
             [int(timer.step) - 1].notify) for timer in plan(t, tables) if timer.kind == "escalation"]


def test_a_route_rule_s_escalation_policy_decides_the_tiers_the_times_and_who_is_told():
    """§3.1.3.6: escalation follows the escalation tables; a route rule names which one (issue #26,
    item 5: ``escalation:`` was stored and nothing read it)."""
    assert escalations(ticket(priority=1, escalation_policy="database")) == [
        (5, "1", "dba_on_call"), (20, "2", "maintenance_manager")]
    assert escalations(ticket(priority=3, escalation_policy="security")) == [(2, "1", "security_officer")]
    table = [(10, "1", "project_manager"), (15, "2", "maintenance_engineer"), (60, "3", "maintenance_manager")]
    # a priority the policy does not list, no policy, "default" and a policy since removed: the table
    for policy in ("database", None, "default", "gone"):
        assert escalations(ticket(priority=3, escalation_policy=policy)) == table


def test_an_escalation_timer_is_checked_against_the_ticket_s_policy():
    """§3.1.3.6: a timer planned from one policy's steps is not fired from another's."""
    from alertgate.workers.plan import Timer, still_due
    t = ticket(priority=1, escalation_policy="database")
    assert still_due(t, Timer(at(5), "escalation", "1"), POLICIES)
    assert not still_due(t, Timer(at(10), "escalation", "1"), POLICIES)   # the table's P1 time
    assert not still_due(t, Timer(at(30), "escalation", "3"), POLICIES)   # the policy has two tiers


def test_a_rule_naming_an_undefined_policy_is_refused_with_its_file_and_line(tmp_path):
    """§3.1.3.6: ``rules check`` and a reload refuse a route rule whose policy nothing defines."""
    from alertgate.rules.schema import RulesInvalid, check_against_tables, load_rules
    (tmp_path / "30-route.yaml").write_text(
        "route:\n  - name: dba\n    when: {field: category, equals: database}\n"
        "    set: {assignment_group: dba, escalation: database}\n"
        "  - name: plain\n    when: {field: category, equals: x}\n    set: {escalation: default}\n")
    rules = load_rules(tmp_path)
    check_against_tables(rules, POLICIES)
    with pytest.raises(RulesInvalid) as refused:
        check_against_tables(rules, Tables())
    [error] = refused.value.errors
    assert error.line == 2 and "escalation 'database' is not a policy of tables.yaml" in error.message
    with pytest.raises(msgspec.ValidationError, match="'default' is the escalation table"):
        msgspec.convert({"escalation_policies": {"default": [{"after": "1m", "notify": "x"}]}}, Tables)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"escalation_policies": {"slow": [{"after": "soon", "notify": "x"}]}}, Tables)


# -- 4. user reports: suggestions and mark_duplicate -----------------------------------------------

def report(status=S.OPEN, **kw) -> Ticket:
    from alertgate.tickets.model import TicketSource
    return ticket(status, source=TicketSource.USER_REPORT, origin="user_report", contact="zhang@example.com", **kw)


def test_a_user_report_is_offered_the_open_masters_of_its_ci_then_of_its_service():
    """§3.1.3.8: a report of a fault already open is a duplicate; the desk is shown the candidates."""
    from alertgate.tickets.model import TicketKind
    from alertgate.tickets.user_reports import suggest_masters

    def master(tid, ci, service=None, priority=3, minute=0, **kw):
        return msgspec.structs.replace(ticket(priority=priority, **kw), id=tid, ci=ci, affected_service=service,
                                       created_at=at(minute))
    masters = [master("INC-A-1", "erp-db", "ERP", 3, 1), master("INC-B-1", "ERP-DB", None, 2, 0),
               master("INC-C-1", "web1", "erp"), master("INC-D-1", "mail", "Mail"),
               master("INC-E-1", "erp-db", kind=TicketKind.DUPLICATE)]
    new = msgspec.structs.replace(report(), id="INC-R-1", ci="erp-db", affected_service="ERP")
    assert suggest_masters(new, masters + [new]) == ["INC-B-1", "INC-A-1", "INC-C-1"]
    unknown = msgspec.structs.replace(new, ci="unknown", affected_service=None)
    assert suggest_masters(unknown, masters) == []
    assert suggest_masters(new, masters, limit=1) == ["INC-B-1"]


def test_mark_duplicate_links_a_user_report_to_an_open_master_and_nothing_else():
    """§3.1.3.8: the first line links a user's report of a known fault to its open master."""
    master = msgspec.structs.replace(ticket(S.ASSIGNED), id="INC-M-1")
    linked, _ = apply(report(), Action.MARK_DUPLICATE, ActionRequest(master_id="INC-M-1", note="same outage"),
                      DESK, at(3), master=master)
    assert (linked.kind.value, linked.master_id, linked.status) == ("duplicate", "INC-M-1", S.OPEN)
    assert linked.timeline[-1].note == "duplicate of INC-M-1: same outage"
    with pytest.raises(MissingArgument):
        apply(report(), Action.MARK_DUPLICATE, ActionRequest(), DESK, at(3), master=master)
    refused = {
        "an alert's ticket": (ticket(), master),
        "no such master": (report(), None),
        "a resolved master": (report(), msgspec.structs.replace(master, status=S.RESOLVED)),
        "itself": (msgspec.structs.replace(report(), id="INC-M-1"), master),
        "linked already": (linked, master),
    }
    for why, (t, m) in refused.items():
        with pytest.raises(InvalidArgument):
            apply(t, Action.MARK_DUPLICATE, ActionRequest(master_id="INC-M-1"), DESK, at(3), master=m)
            pytest.fail(why)
    with pytest.raises(RoleNotAllowed):
        apply(report(), Action.MARK_DUPLICATE, ActionRequest(master_id="INC-M-1"), ENG, at(3), master=master)


# -- 8. the reporting user ---------------------------------------------------------------------------

def test_the_reporting_user_is_told_of_a_suspension_and_of_a_link_to_a_known_incident():
    """§3.1.3.7, the notification matrix's user column: 挂起 (suspended) reaches the user; so does
    the report joining a known incident (§3.1.3.8). An alert's ticket has no user to tell."""
    from alertgate.workers.notices import after_action
    t, _ = act(report(S.ASSIGNED), Action.SUSPEND, DESK, 2, note="waiting for the vendor")
    assert after_action(t, "suspend") == [("suspended", "zhang@example.com", "t0", "waiting for the vendor")]
    plain, _ = act(ticket(S.ASSIGNED), Action.SUSPEND, DESK, 2)
    assert after_action(plain, "suspend") == []
    master = msgspec.structs.replace(ticket(S.ASSIGNED), id="INC-M-1")
    linked, _ = apply(report(), Action.MARK_DUPLICATE, ActionRequest(master_id="INC-M-1"), DESK, at(3), master=master)
    [(kind, recipient, _, note)] = after_action(linked, "mark_duplicate")
    assert (kind, recipient, note) == ("linked", "zhang@example.com", "duplicate of INC-M-1")


@pytest.mark.parametrize("recipient, channel, found", [
    ("zhang@example.com", "email", ["zhang@example.com"]), ("+86 10 6552-0000", "phone", ["+86 10 6552-0000"]),
    ("Zhang San, ext. 12", "email", []), ("network", "email", ["net@example.com"]),
    ("a@b.c\nBcc: x@y.z", "email", []), ("zhang@example.com", "phone", []),
])
def test_a_user_s_contact_is_its_own_address_when_it_is_one(recipient, channel, found):
    """§3.1.3.7: the user is reached at the contact the desk recorded; a group at its contacts."""
    from types import SimpleNamespace
    from alertgate.settings import Contact
    from alertgate.workers.delivery import addresses
    ctx = SimpleNamespace(settings=SimpleNamespace(notify=SimpleNamespace(contacts={"network": Contact(email=["net@example.com"])})))
    assert addresses(ctx, SimpleNamespace(recipient=recipient), channel) == found


def test_a_reports_suggestions_read_only_the_masters_its_ci_or_service_may_name():
    """Opening a report with 650,000 unresolved masters took 23 s: each was made a ticket first."""
    from alertgate.tickets.user_reports import Suggestions

    report = Ticket(id="INC-R-1", ci="DB1", affected_service="Payroll", created_at=T0, updated_at=T0)
    suggestions = Suggestions(report)
    assert suggestions.worth_reading({"ci": b"db1", "affected_service": None})
    assert suggestions.worth_reading({"ci": b"web9", "affected_service": b"PAYROLL"})
    assert not suggestions.worth_reading({"ci": b"web9", "affected_service": b"mail"})
    assert not suggestions.worth_reading({"ci": None, "affected_service": None})
    unknown = Suggestions(Ticket(id="INC-R-2", ci="unknown", created_at=T0, updated_at=T0))
    assert not unknown.worth_reading({"ci": b"unknown", "affected_service": None})
