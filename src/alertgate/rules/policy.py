"""The Policy an alert gets from the rules, and the handbook's baseline tables (SPEC §4).

Until the rule files land (issue 4), every alert gets the baseline: impact and urgency from its
severity, priority from the impact × urgency matrix, SLA targets from the priority, the service
desk as assignment group and the configured dedup window.
"""

from __future__ import annotations

import msgspec

from alertgate.tickets.alert import Alert

# PRIORITY_MATRIX[urgency - 1][impact - 1]
PRIORITY_MATRIX = (
    (1, 2, 2, 3),
    (2, 2, 3, 3),
    (2, 3, 3, 4),
    (3, 3, 4, 4),
)
# priority → minutes from creation to assignment, assignment to acceptance, acceptance to resolution
SLA_MINUTES = {1: (10, 15, 30), 2: (15, 30, 60), 3: (15, 30, 120), 4: (40, 60, 72 * 60)}
# severity as sources name it → (impact, urgency)
SEVERITY_IMPACT_URGENCY = {
    "critical": (1, 1), "disaster": (1, 1), "emergency": (1, 1),
    "high": (2, 2), "major": (2, 2), "error": (2, 2),
    "average": (3, 2), "warning": (3, 3), "minor": (3, 3),
    "info": (4, 4), "information": (4, 4), "low": (4, 4), "not_classified": (4, 4), "none": (4, 4),
}
DEFAULT_GROUP = "service_desk"


class Policy(msgspec.Struct, kw_only=True, frozen=True):
    suppress: bool = False
    category: str | None = None
    area: str | None = None
    subarea: str | None = None
    nature: str | None = None
    affected_service: str | None = None
    impact: int = 3
    urgency: int = 3
    priority: int = 3
    assignment_group: str = DEFAULT_GROUP
    dedup_window: float = 1800.0


def priority_of(impact: int, urgency: int) -> int:
    return PRIORITY_MATRIX[urgency - 1][impact - 1]


def baseline_policy(alert: Alert, dedup_window: float) -> Policy:
    impact, urgency = SEVERITY_IMPACT_URGENCY.get((alert.severity or "").lower(), (3, 3))
    return Policy(impact=impact, urgency=urgency, priority=priority_of(impact, urgency),
                  affected_service=alert.labels.get("service"), dedup_window=dedup_window)
