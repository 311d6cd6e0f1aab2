"""The handbook's tables (SPEC §4): priority matrix, SLA targets, escalation and notification.

``config/tables.yaml`` holds them for operators to read and tune; the defaults below are the same
handbook values, used when a configuration folder has no tables file.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml

from alertgate.durations import parse_duration
from alertgate.rules.policy import DEFAULT_ESCALATION   # (a route rule without one follows the table)
from alertgate.tickets.calendars import BusinessCalendar
from alertgate.text_files import Unreadable, load_unique, read_text

ALWAYS = "24x7"   # the calendar name of a clock that never stops (no calendar)

Level = Annotated[int, msgspec.Meta(ge=1, le=4)]
Minutes = Annotated[float, msgspec.Meta(gt=0)]
# Every notification channel, by name: rules, tables and settings check against it, and the
# worker's registry (workers/channels) has one sender for each.
CHANNEL_NAMES = ("log", "email", "webhook", "phone")
Channel = Literal[CHANNEL_NAMES]  # type: ignore[valid-type]


@functools.lru_cache(maxsize=256)
def seconds_of(after: str) -> float:
    """A delay of the tables (their few durations, read for every timer planned: parsed once)."""
    return parse_duration(after).total_seconds()


class EscalationStep(msgspec.Struct, forbid_unknown_fields=True):
    after: str
    notify: str

    @property
    def after_seconds(self) -> float:
        return seconds_of(self.after)


class Notification(msgspec.Struct, forbid_unknown_fields=True):
    stakeholders: list[str] = msgspec.field(default_factory=lambda: [
        "project_manager", "maintenance_manager", "product_manager", "deputy_director"])
    timeline: dict[int, list[str]] = msgspec.field(default_factory=lambda: {
        1: ["10m", "20m", "30m", "60m"], 2: ["10m", "15m", "30m", "60m"], 3: ["15m", "30m", "60m", "90m"]})
    channels: dict[int, list[Channel]] = msgspec.field(default_factory=lambda: {
        1: ["phone", "email"], 2: ["email"], 3: ["email"], 4: ["log"]})


def _escalation() -> dict[int, list[EscalationStep]]:
    roles = ("project_manager", "maintenance_engineer", "maintenance_manager")
    after = {1: ("10m", "15m", "30m"), 2: ("5m", "10m", "30m"), 3: ("10m", "15m", "60m")}
    return {p: [EscalationStep(a, r) for a, r in zip(times, roles)] for p, times in after.items()}


class SlaCalendars(msgspec.Struct, forbid_unknown_fields=True):
    """Which calendar an SLA clock runs on: the priority's if it names one, else the handling
    group's, else 24×7. P1 is 24×7 unless ``priority`` names a calendar for it."""
    priority: dict[Level, str] = {}
    group: dict[str, str] = {}


class Tables(msgspec.Struct, forbid_unknown_fields=True):
    # rows: urgency 1..4; columns: impact 1..4
    priority_matrix: list[list[Level]] = msgspec.field(default_factory=lambda: [
        [1, 2, 2, 3], [2, 2, 3, 3], [2, 3, 3, 4], [3, 3, 4, 4]])
    # priority → minutes: creation→assignment, assignment→acceptance, acceptance→resolution
    sla_minutes: dict[Level, Annotated[list[Minutes], msgspec.Meta(min_length=3, max_length=3)]] = msgspec.field(
        default_factory=lambda: {1: [10, 15, 30], 2: [15, 30, 60], 3: [15, 30, 120], 4: [40, 60, 72 * 60]})
    escalation: dict[Level, list[EscalationStep]] = msgspec.field(default_factory=_escalation)
    # Named escalation policies a route rule chooses (``escalation: <name>``): one list of steps
    # for every priority, or a list per priority (a priority it does not name follows
    # ``escalation``). "default" is the table above.
    escalation_policies: dict[str, list[EscalationStep] | dict[Level, list[EscalationStep]]] = {}
    notification: Notification = msgspec.field(default_factory=Notification)
    calendars: dict[str, BusinessCalendar] = {}     # business hours and holidays, by name
    sla_calendars: SlaCalendars = msgspec.field(default_factory=SlaCalendars)

    def __post_init__(self) -> None:
        for name in (*self.sla_calendars.priority.values(), *self.sla_calendars.group.values()):
            if name != ALWAYS and name not in self.calendars:
                raise ValueError(f"sla_calendars names calendar {name!r}, which calendars does not define "
                                 f"({', '.join(sorted(self.calendars)) or 'none defined'}; or {ALWAYS})")
        if len(self.priority_matrix) != 4 or any(len(row) != 4 for row in self.priority_matrix):
            raise ValueError("priority_matrix must be 4 rows (urgency) of 4 columns (impact)")
        missing = {1, 2, 3, 4} - set(self.sla_minutes)
        if missing:
            raise ValueError(f"sla_minutes lacks priority {min(missing)}")
        if DEFAULT_ESCALATION in self.escalation_policies:
            raise ValueError(f"escalation_policies: {DEFAULT_ESCALATION!r} is the escalation table; name the policy otherwise")
        tables = [self.escalation, *(p if isinstance(p, dict) else {0: p} for p in self.escalation_policies.values())]
        for steps in (steps for table in tables for steps in table.values()):
            for step in steps:
                step.after_seconds  # raises ValueError for a bad duration

    def calendar_for(self, priority: int, group: str | None) -> BusinessCalendar | None:
        """The calendar a clock of this priority, with this group, runs on (None: 24×7)."""
        chosen = self.sla_calendars
        name = chosen.priority.get(priority, ALWAYS if priority == 1 else None) or chosen.group.get(group or "")
        return self.calendars.get(name) if name and name != ALWAYS else None

    def escalation_steps(self, priority: int, policy: str | None = None) -> list[EscalationStep]:
        """The steps a ticket of ``priority`` escalates by: its route rule's named policy, else
        (no policy, one no longer in the tables, or one without this priority) the table's."""
        named = self.escalation_policies.get(policy) if policy else None
        if isinstance(named, list):
            return named
        if isinstance(named, dict) and priority in named:
            return named[priority]
        return self.escalation.get(priority, [])

    def priority(self, impact: int, urgency: int) -> int:
        return self.priority_matrix[urgency - 1][impact - 1]


class TablesInvalid(Exception):
    pass


def load_tables(config_dir: Path) -> Tables:
    path = config_dir / "tables.yaml"
    if not path.exists():
        return Tables()
    try:
        return msgspec.convert(load_unique(read_text(path)) or {}, Tables, strict=False)
    except Unreadable as exc:
        raise TablesInvalid(f"{path}:{exc}") from None
    except (msgspec.ValidationError, ValueError, yaml.YAMLError) as exc:
        raise TablesInvalid(f"{path}: {exc}") from None
