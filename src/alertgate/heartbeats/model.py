"""A heartbeat, as stored and as the API shows it, and the optional body of a ping."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

SOURCE = "heartbeat"  # the `source` of the alerts an expiry raises
NAME_PATTERN = r"^[A-Za-z0-9_.:@\-]{1,200}$"
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
SEVERITIES = ("disaster", "critical", "high", "average", "warning", "info")


class HeartbeatStatus(str, enum.Enum):
    OK = "ok"
    EXPIRED = "expired"
    PAUSED = "paused"


class Definition(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a ping's body (or a configured heartbeat) may set; anything left out keeps its value."""

    timeout: str | float | None = None   # a duration (90s, 15m, 2h, 1d) or seconds, as GET shows it
    schedule: str | None = None       # cron (5 fields): it must report after each time, within timeout
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None   # the schedule's zone (IANA; UTC)
    ci: Annotated[str, msgspec.Meta(min_length=1, max_length=512)] | None = None
    severity: str | None = None
    tags: dict[Annotated[str, msgspec.Meta(max_length=128)], Annotated[str, msgspec.Meta(max_length=1024)]] | None = None


class Heartbeat(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    ci: str
    timeout: float                    # seconds
    severity: str = "high"
    schedule: str | None = None
    timezone: str | None = None       # the zone the schedule's times are in (None: UTC)
    tags: dict[str, str] = {}
    status: HeartbeatStatus = HeartbeatStatus.OK
    created_at: datetime
    last_seen: datetime | None = None
    expires_at: datetime | None = None   # None while paused
    expired_count: int = 0
    # The expiry (its deadline) whose ticket is open or being opened, and whether its alert went
    # through the pipeline; the expiry a ping ended, whose recovery is still to go through.
    expiry: datetime | None = None
    raised: bool = False
    recovering: datetime | None = None


class HeartbeatView(msgspec.Struct, kw_only=True):
    """What ``GET /api/v1/heartbeats`` shows of one."""

    name: str
    ci: str
    timeout: float
    schedule: str | None
    timezone: str | None
    severity: str
    tags: dict[str, str]
    status: HeartbeatStatus
    last_seen: datetime | None
    expires_at: datetime | None
    age_seconds: float | None         # since last_seen
    expired_count: int
    open_expiry: datetime | None      # the deadline of an expiry not yet recovered
    # the next scheduled times a report must follow, in UTC (one heartbeat's view only): a misread
    # cron (``* 9 * * *`` is every minute of 09:xx) shows itself before it pages anyone
    next_expected: list[datetime] = []


class PingAnswer(msgspec.Struct):
    name: str
    status: HeartbeatStatus
    expires_at: datetime | None


def view(heartbeat: Heartbeat, now: datetime) -> HeartbeatView:
    return HeartbeatView(
        name=heartbeat.name, ci=heartbeat.ci, timeout=heartbeat.timeout, schedule=heartbeat.schedule, timezone=heartbeat.timezone,
        severity=heartbeat.severity, tags=heartbeat.tags, status=heartbeat.status,
        last_seen=heartbeat.last_seen, expires_at=heartbeat.expires_at,
        age_seconds=round((now - heartbeat.last_seen).total_seconds(), 3) if heartbeat.last_seen else None,
        expired_count=heartbeat.expired_count, open_expiry=heartbeat.expiry or heartbeat.recovering)
