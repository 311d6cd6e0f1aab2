"""The pure decisions about heartbeats: definitions checked, deadlines, the alerts of an expiry.

A deadline is ``last seen + timeout``; with a cron ``schedule``, it is the first scheduled time
after the last ping, plus ``timeout``: "the backup reports by 02:30" is ``30 2 * * *`` with a
timeout of how late it may be. The schedule's times are those of the heartbeat's ``timezone`` (UTC
unless given), iterated on aware datetimes and brought back to UTC before the timeout is added,
as Healthchecks does (a local time plus a timedelta is wrong across daylight saving). Schedules
are read by cronsim (Healthchecks' parser, written to match Debian's cron), not croniter (see
README, "Libraries").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

import msgspec
from cronsim import CronSim, CronSimError

from alertgate.durations import parse_duration
from alertgate.heartbeats.model import SEVERITIES, SOURCE, Definition, Heartbeat, HeartbeatStatus
from alertgate.moments import zone_named
from alertgate.tickets.alert import Alert, AlertStatus

MIN_TIMEOUT = 1.0
MAX_TIMEOUT = 90 * 86400.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@\-]")


class DefinitionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def timeout_seconds(value: str | float) -> float:
    """A duration (``15m``) or a number of seconds (``900``, as a heartbeat's view shows it)."""
    if isinstance(value, str):
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise DefinitionError("timeout", str(exc)) from None
    else:
        seconds = float(value)
    if not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
        raise DefinitionError("timeout", f"must be from {MIN_TIMEOUT:g}s to {MAX_TIMEOUT / 86400:g}d")
    return seconds


def check_schedule(text: str) -> str:
    try:
        next(CronSim(text, datetime(2026, 1, 1)))
    except (CronSimError, StopIteration) as exc:
        raise DefinitionError("schedule", f"not a cron schedule: {exc}") from None
    return text


def applied(heartbeat: Heartbeat, definition: Definition) -> Heartbeat:
    """The heartbeat with a definition's fields (checked: DefinitionError names the field)."""
    changes: dict = {}
    if definition.timeout is not None:
        changes["timeout"] = timeout_seconds(definition.timeout)
    if definition.schedule is not None:
        changes["schedule"] = check_schedule(definition.schedule) if definition.schedule.strip() else None
    if definition.timezone is not None:
        if zone_named(definition.timezone) is None:
            raise DefinitionError("timezone", f"{definition.timezone!r} is not an IANA time zone such as Asia/Shanghai")
        changes["timezone"] = definition.timezone
    if definition.severity is not None:
        if definition.severity not in SEVERITIES:
            raise DefinitionError("severity", f"one of {', '.join(SEVERITIES)}")
        changes["severity"] = definition.severity
    if definition.ci is not None:
        if definition.ci.isspace():
            raise DefinitionError("ci", "must not be blank")
        changes["ci"] = definition.ci
    if definition.tags is not None:
        changes["tags"] = dict(definition.tags)
    return msgspec.structs.replace(heartbeat, **changes) if changes else heartbeat


def deadline(heartbeat: Heartbeat, since: datetime, early: float = 0.0) -> datetime:
    """When a heartbeat last seen (or started, resumed) at ``since`` expires. With a schedule, a
    ping at most ``early`` seconds before a scheduled time, and nearer to it than to the time
    before, counts for that time (a job whose clock runs a minute fast, Healthchecks #888, #830:
    counted for the time it came just before, it expired at that time plus the timeout)."""
    timeout = timedelta(seconds=heartbeat.timeout)
    if heartbeat.schedule:
        local = since.astimezone(_zone(heartbeat))
        try:
            ticks = CronSim(heartbeat.schedule, local)
            tick = next(ticks)
            ahead = tick.astimezone(timezone.utc) - since   # (in UTC: a zone's wall clock jumps)
            if early > 0 and ahead.total_seconds() <= early:
                before = next(CronSim(heartbeat.schedule, local, reverse=True), None)
                if before is None or ahead < since - before.astimezone(timezone.utc):
                    tick = next(ticks)
            return tick.astimezone(timezone.utc) + timeout
        except (CronSimError, StopIteration):  # (checked when set; a schedule that never fires again)
            pass
    return since + timeout


def upcoming(heartbeat: Heartbeat, now: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` scheduled times after ``now``, in UTC ([] without a schedule)."""
    if not heartbeat.schedule:
        return []
    found: list[datetime] = []
    try:
        for tick in CronSim(heartbeat.schedule, now.astimezone(_zone(heartbeat))):
            found.append(tick.astimezone(timezone.utc))
            if len(found) == count:
                break
    except CronSimError:
        pass
    return found


def _zone(heartbeat: Heartbeat) -> tzinfo:
    """The schedule's zone (checked when set; a stored one that is not a zone is read as UTC)."""
    return zone_named(heartbeat.timezone or "UTC") or timezone.utc


def pinged(heartbeat: Heartbeat, now: datetime, early: float = 0.0) -> Heartbeat:
    """After a ping: seen now, due again at its next deadline (``deadline``: ``early``); an open
    expiry starts its recovery. A paused heartbeat stays paused (seen, not due)."""
    recovering = heartbeat.expiry or heartbeat.recovering
    changes: dict = {"last_seen": now, "expiry": None, "recovering": recovering}
    if heartbeat.status is HeartbeatStatus.PAUSED:
        return msgspec.structs.replace(heartbeat, **changes)
    return msgspec.structs.replace(heartbeat, status=HeartbeatStatus.OK, expires_at=deadline(heartbeat, now, early), **changes)


def expired(heartbeat: Heartbeat, now: datetime) -> Heartbeat | None:
    """The heartbeat expired, if its deadline has passed (None if it is not due)."""
    if heartbeat.status is not HeartbeatStatus.OK or heartbeat.expires_at is None or heartbeat.expires_at > now:
        return None
    return msgspec.structs.replace(heartbeat, status=HeartbeatStatus.EXPIRED, expiry=heartbeat.expires_at,
                                   raised=False, expired_count=heartbeat.expired_count + 1)


def failed(heartbeat: Heartbeat, now: datetime, stopped_at: datetime | None = None) -> Heartbeat | None:
    """The heartbeat expired now, on a report that it failed (a job's ``/fail``; a resolved
    Watchdog: its Prometheus stopped at ``stopped_at``); None when that changes nothing: paused,
    expired already, or seen again after ``stopped_at`` (a late resolution, as two Alertmanagers
    may send)."""
    if heartbeat.status is not HeartbeatStatus.OK:
        return None
    if stopped_at is not None and heartbeat.last_seen is not None and heartbeat.last_seen > stopped_at:
        return None
    return msgspec.structs.replace(heartbeat, status=HeartbeatStatus.EXPIRED, expiry=now, raised=False,
                                   expired_count=heartbeat.expired_count + 1)


def alert_of(heartbeat: Heartbeat, expiry: datetime, status: AlertStatus, now: datetime) -> Alert:
    """The alert of one expiry, firing or resolved: the same occurrence for both, and a delivery id
    per status, so that raising or recovering it twice is a repeat."""
    occurrence = f"{heartbeat.name}@{int(expiry.timestamp())}"
    late = f"no heartbeat since {heartbeat.last_seen.isoformat()}" if heartbeat.last_seen else "no heartbeat yet"
    return Alert(
        source=SOURCE, occurrence_id=occurrence, ci=heartbeat.ci, symptom=f"heartbeat_missing:{heartbeat.name}",
        status=status, severity=heartbeat.severity, title=f"Heartbeat {heartbeat.name} missing",
        description=f"{late}; expected within {heartbeat.timeout:g} s"
                    + (f" after each time of '{heartbeat.schedule}'" if heartbeat.schedule else "")
                    + (f" ({heartbeat.timezone})" if heartbeat.schedule and heartbeat.timezone else ""),
        labels={**heartbeat.tags, "heartbeat": heartbeat.name}, observed_at=expiry if status is AlertStatus.FIRING else now,
        received_at=now, delivery_id=f"{occurrence}:{status.value}")


def name_from(prefix: str, label: str | None, alert: Alert) -> str:
    """A rule-fed heartbeat's name: ``prefix``, or ``prefix:<the label's value>`` (the alert's
    receiver when the label is missing), with characters a path cannot carry made ``_``."""
    if label is None:
        return prefix
    value = alert.labels.get(label) or alert.receiver or "default"
    return f"{prefix}:{_UNSAFE.sub('_', value)}"[:200]
