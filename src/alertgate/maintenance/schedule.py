"""When a window is in force (pure). A window without ``recurrence`` is in force from
``starts_at`` to ``ends_at``; with an RFC 5545 RRULE, each occurrence starts at a time the rule
gives from ``starts_at`` (its DTSTART) and lasts ``ends_at - starts_at``. Times are UTC: the
rule is evaluated on aware UTC datetimes (no daylight-saving gaps to mishandle; ANCHORS §3)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dateutil.rrule import rrule, rrulestr

from alertgate.maintenance.model import Window

_REFUSED = ("DTSTART", "TZID", "EXDATE", "RDATE", "FREQ=SECONDLY", "FREQ=MINUTELY")


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def parse_rule(text: str, starts_at: datetime) -> rrule:
    upper = text.upper()
    if upper.startswith("RRULE:"):
        text, upper = text[6:], upper[6:]
    for refused in _REFUSED:
        if refused in upper:
            raise ScheduleError("recurrence", f"{refused.split('=')[-1]} is not supported; give RRULE parts only "
                                              "(FREQ=DAILY|WEEKLY|MONTHLY|…, BYDAY, BYHOUR, COUNT, UNTIL); DTSTART is starts_at")
    if "FREQ=" not in upper:
        raise ScheduleError("recurrence", "an RRULE needs FREQ, e.g. FREQ=WEEKLY;BYDAY=SU")
    try:
        rule = rrulestr(text, dtstart=starts_at)
    except (ValueError, TypeError) as exc:
        raise ScheduleError("recurrence", f"not an RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise ScheduleError("recurrence", "one RRULE only")
    return rule


def check(window: Window, now: datetime, max_duration: float) -> None:
    """ScheduleError naming the field, for a window that could never be in force as meant."""
    length = (window.ends_at - window.starts_at).total_seconds()
    if length <= 0:
        raise ScheduleError("ends_at", "must be after starts_at")
    if length > max_duration:
        raise ScheduleError("ends_at", f"a window (each occurrence of a recurring one) lasts at most "
                                       f"{max_duration / 86400:g} days (maintenance.max_duration)")
    if not window.matchers and not window.all:
        raise ScheduleError("matchers", "a window with no matchers matches every alert: say so with \"all\": true")
    if window.recurrence:
        rule = parse_rule(window.recurrence, window.starts_at)
        first = rule.after(window.starts_at, inc=True)
        if first is None:
            raise ScheduleError("recurrence", "the rule never fires from starts_at")
        if occurrence_at(window, now) is None and next_occurrence(window, now) is None:
            raise ScheduleError("recurrence", "every occurrence of this rule is in the past")
    elif window.ends_at <= now:
        raise ScheduleError("ends_at", "the window is already over")


def occurrence_at(window: Window, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence in force at ``now``, if any (an ended window has none from its end)."""
    if window.ended_at is not None and window.ended_at <= now:
        return None
    length = window.ends_at - window.starts_at
    if not window.recurrence:
        found = (window.starts_at, window.ends_at) if window.starts_at <= now < window.ends_at else None
    else:
        start = parse_rule(window.recurrence, window.starts_at).before(now, inc=True)
        found = (start, start + length) if start is not None and now < start + length else None
    if found and window.ended_at is not None:
        found = (found[0], min(found[1], window.ended_at))
    return found


def next_occurrence(window: Window, after: datetime) -> tuple[datetime, datetime] | None:
    if window.ended_at is not None and window.ended_at <= after:
        return None
    length = window.ends_at - window.starts_at
    if not window.recurrence:
        return (window.starts_at, window.ends_at) if window.starts_at > after else None
    start = parse_rule(window.recurrence, window.starts_at).after(after)
    return (start, start + length) if start is not None else None


def horizon(window: Window, now: datetime, ahead: timedelta) -> list[tuple[datetime, datetime]]:
    """The occurrences in force now or starting within ``ahead`` (what is pushed to the sources)."""
    found = [o for o in (occurrence_at(window, now),) if o]
    cursor = now
    while True:
        upcoming = next_occurrence(window, cursor)
        if upcoming is None or upcoming[0] > now + ahead or len(found) >= 50:
            return found
        found.append(upcoming)
        cursor = upcoming[0]
