"""The Policy an alert gets from the rules: suppression, classification, priority, SLA, route."""

from __future__ import annotations

import msgspec

from alertgate.tickets.calendars import BusinessCalendar

DEFAULT_GROUP = "service_desk"
DEFAULT_ESCALATION = "default"


class HeartbeatPing(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A suppress rule's ``set: {heartbeat: ...}``: a matching firing alert pings the heartbeat
    ``name`` (``name:<the label's value>`` with ``label``) instead of opening a ticket (SPEC §9)."""

    name: str
    label: str | None = None
    timeout: str | None = None   # registers the heartbeat with it (a duration)


class Policy(msgspec.Struct, kw_only=True, frozen=True):
    suppress: bool = False
    heartbeat: HeartbeatPing | None = None
    suppress_reason: str | None = None
    ci: str | None = None                     # a classify rule may correct the CI
    symptom: str | None = None                # and name the symptom (the same fault from two senders)
    category: str | None = None
    area: str | None = None
    subarea: str | None = None
    nature: str | None = None
    affected_service: str | None = None
    impact: int = 3
    urgency: int = 3
    priority: int = 3
    sla_minutes: tuple[float, float, float] = (15, 30, 120)
    sla_calendar: BusinessCalendar | None = None   # the working time its SLA clocks run on (None: 24×7)
    assignment_group: str = DEFAULT_GROUP
    escalation: str = DEFAULT_ESCALATION
    channels: tuple[str, ...] = ("email",)
    dedup_window: float = 1800.0
    stale_after: float | None = None          # a route rule's: resolve stale_timeout after this silence
    storm_masters: int | None = None          # a route rule's storm grouping (else topology's defaults)
    storm_window: float | None = None
