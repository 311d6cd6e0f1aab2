"""What a notice says (pure). The handbook asks each to state what happened, the affected
service, the expected restoration time and how to reach the service desk; a restoration notice
follows when the incident is resolved."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from alertgate.tickets.model import SlaTarget, Ticket


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


def expected_restoration(ticket: Ticket) -> datetime | None:
    """The resolution target if it is set, else creation plus every SLA step."""
    for entry in ticket.sla:
        if entry.target is SlaTarget.RESOLUTION and entry.due_at is not None:
            return entry.due_at
    if not ticket.sla:
        return None
    return ticket.created_at + timedelta(minutes=sum(e.minutes for e in ticket.sla))


def compose(ticket: Ticket, kind: str, recipient: str, service_desk: str, step: str = "") -> Notice:
    what = f"{ticket.title} on {ticket.ci}" + (f" — {ticket.description}" if ticket.description else "")
    service = ticket.affected_service or ticket.ci
    restore = expected_restoration(ticket) if kind != "restoration" else ticket.resolved_at
    heading = {
        "incident": f"[P{ticket.priority}] Incident {ticket.id}: {ticket.title}",
        "escalation": f"[P{ticket.priority}] Escalation {step} of {ticket.id}: {ticket.title}",
        "stakeholder": f"[P{ticket.priority}] Incident notice {ticket.id}: {ticket.title}",
        "sla_breach": f"[P{ticket.priority}] SLA {step} target missed on {ticket.id}: {ticket.title}",
        "restoration": f"[P{ticket.priority}] Restored {ticket.id}: {ticket.title}",
        "closure_reminder": f"[P{ticket.priority}] Waiting for closure ({step}) {ticket.id}: {ticket.title}",
    }[kind]
    restoration_line = (f"Service restored at {restore:%Y-%m-%d %H:%M} UTC." if kind == "restoration" and restore
                        else f"Expected restoration: {restore:%Y-%m-%d %H:%M} UTC." if restore
                        else "Expected restoration: not yet known.")
    body = "\n".join([
        f"What happened: {what}",
        f"Affected service: {service}",
        f"Priority: P{ticket.priority}; status: {ticket.status.value}; group: {ticket.assignment_group or ticket.route_group}",
        restoration_line,
        f"Service desk: {service_desk}",
        f"Ticket: {ticket.id}",
    ])
    return Notice(
        dedup_key=f"{ticket.id}:{kind}:{step or ticket.reopen_count}:{recipient}", kind=kind, ticket_id=ticket.id,
        priority=ticket.priority, recipient=recipient, subject=heading, body=body, what_happened=what,
        affected_service=service, expected_restoration=restore, service_desk=service_desk,
    )
