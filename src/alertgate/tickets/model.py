"""The incident record of the handbook (SPEC §3): Ticket, SLA entries, timeline entries."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class TicketKind(str, enum.Enum):
    MASTER = "master"
    DUPLICATE = "duplicate"
    CORRELATED = "correlated"   # caused by a parent CI's master (SPEC §11): not dispatched unless promoted
    MAJOR = "major"             # a storm of masters of one symptom on one service, grouped (SPEC §11)


class TicketStatus(str, enum.Enum):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PENDING_CHANGE = "pending_change"
    SUSPENDED = "suspended"
    RESOLVED = "resolved"
    CLOSED = "closed"


UNRESOLVED = frozenset({TicketStatus.OPEN, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS,
                        TicketStatus.PENDING_CHANGE, TicketStatus.SUSPENDED})


class TicketSource(str, enum.Enum):
    MONITORING = "monitoring"
    INSPECTION = "inspection"
    USER_REPORT = "user_report"


class ResolutionCode(str, enum.Enum):
    NOT_REPRODUCIBLE = "not_reproducible"
    OUT_OF_SCOPE = "out_of_scope"
    REQUEST_REJECTED = "request_rejected"
    RESOLVED_BY_CHANGE = "resolved_by_change"
    RESOLVED_BY_USER_INSTRUCTION = "resolved_by_user_instruction"
    RESOLVED_BY_WORKAROUND = "resolved_by_workaround"
    UNRESOLVABLE = "unresolvable"
    WITHDRAWN_BY_USER = "withdrawn_by_user"
    MONITORING_RECOVERED = "monitoring_recovered"
    MONITORING_RECONCILED = "monitoring_reconciled"   # the source no longer has it (SPEC §9)
    STALE_TIMEOUT = "stale_timeout"                   # no occurrence for the rule's stale_after


class ClosureCode(str, enum.Enum):
    COMPLETED = "completed"
    COMPLETED_WITH_PROBLEM = "completed_with_problem"
    NOT_COMPLETED = "not_completed"


class SlaTarget(str, enum.Enum):
    ASSIGNMENT = "assignment"
    ACCEPTANCE = "acceptance"
    RESOLUTION = "resolution"


class SlaEntry(msgspec.Struct, kw_only=True):
    """One target: due_at moves later by the time spent suspended; met_at once reached."""

    target: SlaTarget
    due_at: datetime | None = None
    met_at: datetime | None = None
    breached: bool = False
    minutes: float = 0  # the target's length, so a later step can set due_at from its start


class TimelineEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: datetime
    actor: str
    action: str
    from_status: TicketStatus | None = None
    to_status: TicketStatus | None = None
    note: str | None = None


class Ticket(msgspec.Struct, kw_only=True):
    id: str
    kind: TicketKind = TicketKind.MASTER
    status: TicketStatus = TicketStatus.OPEN
    source: TicketSource = TicketSource.MONITORING
    ci: str = "unknown"
    ci_raw: str | None = None                  # what the sender called the CI, when the catalogue renamed it
    ci_operational: bool | None = None
    affected_service: str | None = None
    title: str = ""
    description: str = ""
    category: str | None = None
    area: str | None = None
    subarea: str | None = None
    nature: str | None = None
    impact: int = 3
    urgency: int = 3
    priority: int = 3
    assignment_group: str | None = None
    assignee: str | None = None
    contact: str | None = None
    location: str | None = None
    outage_start: datetime | None = None
    outage_end: datetime | None = None
    sla: list[SlaEntry] = []
    resolution_code: ResolutionCode | None = None
    closure_code: ClosureCode | None = None
    solution: str | None = None
    master_id: str | None = None
    suggested_masters: list[str] = []          # a user report: the open masters it may duplicate (§3.1.3.8)
    duplicate_count: int = 0
    recurrence_of: str | None = None
    caused_by: str | None = None               # the parent CI's master a correlated ticket is linked to
    promoted_at: datetime | None = None        # when a correlated ticket became a master (its parent's resolved)
    major_id: str | None = None                # the major incident a storm grouped this master into
    storm_masters: int | None = None           # its route rule's storm grouping (else topology's defaults)
    storm_window: float | None = None
    reopen_count: int = 0
    reassignment_count: int = 0
    rejection_count: int = 0
    escalation_level: int = 0
    escalated_to: str | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None             # who resolved it (a person's action; none: the monitoring)
    registered_by: str | None = None           # who registered a user report (KPI 13; an alert: its sender)
    third_party: str | None = None             # the vendor engaged, and when (KPI 9)
    third_party_at: datetime | None = None
    closed_at: datetime | None = None
    verification: str | None = None            # the duty team lead's verdict on the closed record: checked, returned
    verified_by: str | None = None
    verified_at: datetime | None = None
    closure_reminders: int = 0                # reminders sent while it waits, resolved, for its closure
    closure_reminded_at: datetime | None = None
    reconcile_gone_at: datetime | None = None  # the source's first answer that it is gone (SPEC §9)
    stale_after: float | None = None           # seconds without an occurrence before stale_timeout
    source_silence: str | None = None          # the Alertmanager silence it holds while worked on
    last_occurrence_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_from: TicketStatus | None = None
    suspended_until: datetime | None = None   # a timer resumes it then ("暂停一段时间")
    route_group: str | None = None            # the group the rules route to; dispatch assigns it
    escalation_policy: str | None = None
    channels: list[str] = []
    origin: str | None = None                 # new, recurrence, duplicate, user_report, follow_up
    symptom: str | None = None
    occurrence_id: str | None = None
    alert_source: str | None = None
    severity: str | None = None
    labels: dict[str, str] = {}
    links: dict[str, str] = {}
    timeline: list[TimelineEntry] = []
    timeline_omitted: int = 0   # entries an answer left out between its first and newest (tickets/timeline.py)

    @property
    def routed_group(self) -> str:
        """The group the rules route it to (the service desk when none matched)."""
        return self.route_group or "service_desk"

    @property
    def handling_group(self) -> str:
        """The group that has it now, else the one it is routed to: who is told about it."""
        return self.assignment_group or self.routed_group

    @property
    def notice_channels(self) -> list[str]:
        """The channels its notices go on (a ticket without any gets the log)."""
        return self.channels or ["log"]
