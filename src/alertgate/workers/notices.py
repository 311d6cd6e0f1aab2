"""What a notice says (pure). The handbook asks each to state what happened, the affected
service, the expected restoration time and how to reach the service desk; a restoration notice
follows when the incident is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

import msgspec

from alertgate.moments import shown
from alertgate.tickets.model import SlaTarget, Ticket


@dataclass(frozen=True)
class Letterhead:
    """What every notice says the same way: how to reach the service desk, and the zone its times
    are written in (``display_timezone``)."""

    service_desk: str
    zone: tzinfo = timezone.utc


class Notice(msgspec.Struct, kw_only=True, frozen=True):
    dedup_key: str            # the same notice, retried, carries the same key
    kind: str                 # incident, escalation, stakeholder, sla_breach, restoration
    ticket_id: str
    priority: int
    recipient: str            # an assignment group or a stakeholder role
    subject: str
    body: str
    what_happened: str
    affected_service: str
    expected_restoration: datetime | None
    service_desk: str


# A notice's subject per kind (only the one sent is formatted).
HEADINGS = {
    "incident": "[P{priority}] Incident {id}: {title}",
    "escalation": "[P{priority}] Escalation {step} of {id}: {title}",
    "stakeholder": "[P{priority}] Incident notice {id}: {title}",
    "sla_breach": "[P{priority}] SLA {step} target missed on {id}: {title}",
    "restoration": "[P{priority}] Restored {id}: {title}",
    "closure_reminder": "[P{priority}] Waiting for closure ({step}) {id}: {title}",
    "sla_warning": "[P{priority}] SLA {target} target due soon on {id}: {title}",
    "report": "[P{priority}] Reported to the incident manager {id}: {title}",
    "assignment": "[P{priority}] Assigned to you {id}: {title}",
    "returned": "[P{priority}] Record returned by the duty team lead {id}: {title}",
    "registered": "[P{priority}] Your report is registered as {id}: {title}",
    "suspended": "[P{priority}] Your report {id} is suspended: {title}",
    "linked": "[P{priority}] Your report {id} joins known incident {master_id}: {title}",
}


def expected_restoration(ticket: Ticket) -> datetime | None:
    """The resolution target if it is set, else creation plus every SLA step."""
    for entry in ticket.sla:
        if entry.target is SlaTarget.RESOLUTION and entry.due_at is not None:
            return entry.due_at
    if not ticket.sla:
        return None
    return ticket.created_at + timedelta(minutes=sum(e.minutes for e in ticket.sla))


def compose(ticket: Ticket, kind: str, recipient: str, letterhead: Letterhead, step: str = "", detail: str = "") -> Notice:
    """``detail``: why it is sent, when the kind alone does not say (a report, a returned record)."""
    what = f"{ticket.title} on {ticket.ci}" + (f" — {ticket.description}" if ticket.description else "")
    service = ticket.affected_service or ticket.ci
    restore = expected_restoration(ticket) if kind != "restoration" else ticket.resolved_at
    heading = HEADINGS[kind].format(priority=ticket.priority, id=ticket.id, title=ticket.title, step=step,
                                    target=step.partition(":")[0], master_id=ticket.master_id)
    restoration_line = (f"Service restored at {shown(restore, letterhead.zone)}." if kind == "restoration" and restore
                        else f"Expected restoration: {shown(restore, letterhead.zone)}." if restore
                        else "Expected restoration: not yet known.")
    body = "\n".join([
        *([f"Why: {detail}"] if detail else []),
        f"What happened: {what}",
        f"Affected service: {service}",
        f"Priority: P{ticket.priority}; status: {ticket.status.value}; group: {ticket.assignment_group or ticket.route_group}",
        restoration_line,
        f"Service desk: {letterhead.service_desk}",
        f"Ticket: {ticket.id}",
    ])
    return Notice(
        dedup_key=f"{ticket.id}:{kind}:{step or ticket.reopen_count}:{recipient}", kind=kind, ticket_id=ticket.id,
        priority=ticket.priority, recipient=recipient, subject=heading, body=body, what_happened=what,
        affected_service=service, expected_restoration=restore, service_desk=letterhead.service_desk,
    )


INCIDENT_MANAGER = "incident_manager"
SERVICE_DESK_GROUP = "service_desk"


# The reporting user (``contact``) is told of these actions (the handbook's notification matrix,
# §3.1.3.7: 挂起; and a report joined to the known incident it duplicates, §3.1.3.8); of the
# registration (待处理) at dispatch and of the restoration when it is resolved (workers/jobs.py).
USER_TOLD = {"suspend": "suspended", "mark_duplicate": "linked"}


def after_action(ticket: Ticket, action: str) -> list[tuple[str, str, str, str]]:
    """Who the handbook says is told after a person's ``action`` on ``ticket``, as (kind,
    recipient, step, detail): the group and the assignee named by an assign or reassign
    (§3.1.3.2); the incident manager of what the action reported or escalated to them (§3.1.3.3:
    across groups, a second rejection, a third reassignment; §3.1.3.4: raised to P1); the service
    desk of a record the duty team lead returned (§3.1.3.10); the reporting user of a suspension
    or of their report joined to a known incident (``USER_TOLD``). The step is the timeline entry's
    place, so a notice retried, or planned again, is sent once."""
    timeline = ticket.timeline
    action, _, place = action.partition("@")   # ("reassign@7": the action's entry, as the gateway wrote it)
    if place.isdigit() and int(place) < len(timeline) and timeline[int(place)].action == action:
        last = int(place)
    else:
        last = next((i for i in range(len(timeline) - 1, -1, -1) if timeline[i].action == action), None)
    if last is None:
        return []
    at, found = timeline[last].at, []
    for place in range(last, len(timeline)):
        entry, step = timeline[place], f"t{place}"
        if abs((entry.at - at).total_seconds()) > 0.001:
            break   # (what follows was written by something else since)
        if entry.action in ("assign", "reassign") and place == last:
            for recipient in filter(None, (ticket.assignment_group, ticket.assignee)):
                found.append(("assignment", recipient, step, entry.note or ""))
        elif entry.action in ("report", "escalate") and entry.actor == "alertgate":
            found.append(("report", INCIDENT_MANAGER, step, (entry.note or "").removeprefix("to incident manager: ")))
        elif entry.action == "verify" and place == last and ticket.verification == "returned":
            found.append(("returned", SERVICE_DESK_GROUP, step, (entry.note or "").removeprefix("returned: ")))
        elif entry.action in USER_TOLD and place == last and ticket.contact:
            found.append((USER_TOLD[entry.action], ticket.contact, step, entry.note or ""))
    return found
