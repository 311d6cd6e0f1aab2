"""When a window is in force (pure). A window without ``recurrence`` is in force from
``starts_at`` to ``ends_at``; with an RFC 5545 RRULE, each occurrence starts at a time the rule
gives from ``starts_at`` (its DTSTART) and lasts ``ends_at - starts_at``. The rule's days and
hours are those of the window's ``timezone`` (UTC unless given: a team in Shanghai means its own
Sunday); every time that leaves this module is UTC. In a zone with daylight saving, an
occurrence whose wall-clock start does not exist that day starts an hour later (ANCHORS §3).

dateutil finds the occurrence in force by walking the rule from its DTSTART, so the cost of a
rule grows with its age and its density. Two bounds keep it small: occurrences must be at least
``MIN_GAP`` apart (an hour: ``FREQ=HOURLY;BYMINUTE=0,1,…`` is as dense as MINUTELY, and such a
rule from a year back took a gateway 0.3 s per evaluation, at every start and end of an
occurrence), and each process remembers the latest occurrence it found per rule and walks on
from there (``_Walk``), so an old rule costs what a new one does."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import pairwise

from dateutil.rrule import rrule, rrulestr

from alertgate.maintenance.model import Window
from alertgate.moments import zone_named

_REFUSED = ("DTSTART", "TZID", "EXDATE", "RDATE", "FREQ=SECONDLY", "FREQ=MINUTELY")
MIN_GAP = timedelta(hours=1)
_GAP_SAMPLE = 1000   # the first occurrences whose gaps are checked (a rule's pattern repeats per period)
_COUNT = re.compile(r"(?:^|;)COUNT=(\d+)", re.IGNORECASE)


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def zone_of(window: Window, strict: bool = True) -> tzinfo:
    """The zone of the window's recurrence. One that is not a zone is a ScheduleError naming
    ``timezone`` (``strict``: a window being saved), else UTC (a record read: it never breaks a read)."""
    zone = zone_named(window.timezone or "UTC")
    if zone is None and strict:
        raise ScheduleError("timezone", f"{window.timezone!r} is not an IANA time zone such as Asia/Shanghai")
    return zone or timezone.utc


def parse_rule(text: str, starts_at: datetime, zone: tzinfo = timezone.utc) -> rrule:
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
        rule = rrulestr(text, dtstart=starts_at.astimezone(zone))
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
    zone = zone_of(window)
    if window.recurrence:
        rule = parse_rule(window.recurrence, window.starts_at, zone)
        first = rule.after(window.starts_at, inc=True)
        if first is None:
            raise ScheduleError("recurrence", "the rule never fires from starts_at")
        for one, other in pairwise(rule.xafter(first, count=_GAP_SAMPLE, inc=True)):
            if other - one < MIN_GAP:
                raise ScheduleError("recurrence", f"occurrences must be at least an hour apart; this rule has "
                                                  f"{one.isoformat()} and then {other.isoformat()}")
        if occurrence_at(window, now) is None and next_occurrence(window, now) is None:
            raise ScheduleError("recurrence", "every occurrence of this rule is in the past")
    elif window.ends_at <= now:
        raise ScheduleError("ends_at", "the window is already over")


# What working out a stored window that cannot be worked raises (written by hand or by another
# version): its readers skip it, never letting it fail an intake or a list.
UNWORKABLE = (ValueError, TypeError, OverflowError)


def occurrence_at(window: Window, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence in force at ``now``, if any (an ended window has none from its end)."""
    if window.ended_at is not None and window.ended_at <= now:
        return None
    length = window.ends_at - window.starts_at
    if not window.recurrence:
        found = (window.starts_at, window.ends_at) if window.starts_at <= now < window.ends_at else None
    else:
        start = _utc(_walk(window).latest(now))
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
    start = _utc(_walk(window).after(after))
    return (start, start + length) if start is not None else None


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(timezone.utc) if moment is not None else None


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


class _Walk:
    """A window's rule, and the latest occurrence found so far with its number: a later question
    walks on from there. The rule from an occurrence ``o`` on is the same rule with DTSTART ``o``
    (and COUNT less the occurrences before ``o``): its period, interval and defaults all fall on
    ``o`` again (tests/unit/test_maintenance_schedule.py holds it against dateutil's own walk)."""

    def __init__(self, text: str, starts_at: datetime, zone: tzinfo) -> None:
        self.rule = parse_rule(text, starts_at, zone)
        count = _COUNT.search(text.upper().removeprefix("RRULE:"))
        self.count = int(count.group(1)) if count else None
        self.mark: tuple[datetime, int] | None = None   # (an occurrence, how many came before it)

    def _from(self, moment: datetime) -> tuple[rrule, int]:
        """The rule from the latest known occurrence at or before ``moment``, and its number."""
        mark = self.mark
        if mark is None or mark[0] > moment:
            return self.rule, 0
        start, before = mark
        return self.rule.replace(dtstart=start, count=self.count - before if self.count else None), before

    def latest(self, now: datetime) -> datetime | None:
        rule, before = self._from(now)
        found, number = None, before - 1
        for occurrence in rule:
            if occurrence > now:
                break
            found, number = occurrence, number + 1
        if found is not None and (self.mark is None or found > self.mark[0]):
            self.mark = (found, number)
        return found

    def after(self, moment: datetime) -> datetime | None:
        rule, _ = self._from(moment)
        return rule.after(moment)


_WALKS: OrderedDict[tuple[str, datetime, str], _Walk] = OrderedDict()
_WALKS_KEPT = 4096
_WALKS_LOCK = threading.Lock()


def _walk(window: Window) -> _Walk:
    key = (window.recurrence or "", window.starts_at, window.timezone or "UTC")
    with _WALKS_LOCK:
        walk = _WALKS.get(key)
        if walk is not None:
            _WALKS.move_to_end(key)
            return walk
    walk = _Walk(key[0], window.starts_at, zone_of(window, strict=False))
    with _WALKS_LOCK:
        _WALKS[key] = walk
        while len(_WALKS) > _WALKS_KEPT:
            _WALKS.popitem(last=False)
    return walk
