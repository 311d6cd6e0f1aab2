"""Business-hours calendars for SLA clocks (pure): working hours on working weekdays, in a time
zone, less holidays, plus make-up working days (调休). A target of N minutes on a calendar is due
when N minutes of its working time have passed (seed 002 measures P2/P3 in working days; the
handbook's P1 runs 24×7, which is no calendar at all).

The arithmetic walks the calendar a day at a time in its own zone, building each day's intervals
as aware times, so a daylight-saving change moves nothing: an interval is where the wall clock
says it is, that day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Annotated, Iterator, Literal

import msgspec

from alertgate.moments import zone_named

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HOURS = re.compile(r"([0-2]\d):([0-5]\d)-([0-2]\d):([0-5]\d)")
LONGEST_WALK = 3 * 366   # days: a target still not reached after this long is a calendar with no time in it


class CalendarInvalid(ValueError):
    pass


class BusinessCalendar(msgspec.Struct, forbid_unknown_fields=True, dict=True):
    """As ``tables.yaml`` writes it; checked and compiled once, when read."""

    timezone: str = "UTC"
    hours: Annotated[str, msgspec.Meta(max_length=200)] = "09:00-18:00"   # "09:00-12:00,13:30-18:00"
    days: list[Weekday] = msgspec.field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    holidays: list[date] = []      # days off, though their weekday works
    workdays: list[date] = []      # make-up working days (调休), though their weekday is off

    def __post_init__(self) -> None:
        zone = zone_named(self.timezone)
        if zone is None:
            raise CalendarInvalid(f"unknown time zone {self.timezone!r} (an IANA name, e.g. Asia/Shanghai)")
        spans = []
        for part in filter(None, (p.strip() for p in self.hours.split(","))):
            found = HOURS.fullmatch(part)
            if not found:
                raise CalendarInvalid(f"hours {part!r}: HH:MM-HH:MM, several separated by commas")
            h1, m1, h2, m2 = map(int, found.groups())
            if h1 > 23 or h2 > 24 or (h2 == 24 and m2) or (h1, m1) >= (h2, m2):
                raise CalendarInvalid(f"hours {part!r}: a span ends after it starts, within the day (24:00 at most)")
            spans.append((h1 * 60 + m1, h2 * 60 + m2))
        spans.sort()
        if not spans or any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
            raise CalendarInvalid(f"hours {self.hours!r}: at least one span, and no two overlapping")
        if not self.days and not self.workdays:
            raise CalendarInvalid("a calendar needs working days")
        self._zone = zone
        self._spans = tuple(spans)
        self._off, self._on = frozenset(self.holidays), frozenset(self.workdays)
        self._weekdays = frozenset(WEEKDAYS.index(d) for d in self.days)

    def _works(self, day: date) -> bool:
        if day in self._on:
            return True
        return day not in self._off and day.weekday() in self._weekdays

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working intervals, in UTC."""
        if not self._works(day):
            return []
        out = []
        for start, end in self._spans:
            a, b = _local(day, start, self._zone), _local(day, end, self._zone)
            if b > a:
                out.append((a.astimezone(timezone.utc), b.astimezone(timezone.utc)))
        return out

    def _days(self, moment: datetime, step: int) -> Iterator[date]:
        day = moment.astimezone(self._zone).date() - timedelta(days=step)   # (a day before: spans may cross UTC days)
        for _ in range(LONGEST_WALK):
            yield day
            day += timedelta(days=step)

    def add(self, start: datetime, minutes: float) -> datetime:
        """When ``minutes`` of working time have passed from ``start``."""
        left = timedelta(minutes=minutes)
        for day in self._days(start, 1):
            for a, b in self._intervals(day):
                a = max(a, start)
                if b <= a:
                    continue
                if left <= b - a:
                    return a + left
                left -= b - a
        raise CalendarInvalid("the calendar has no working time left within three years")

    def back(self, end: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of working time before ``end``."""
        left = timedelta(minutes=minutes)
        for day in self._days(end, -1):
            for a, b in reversed(self._intervals(day)):
                b = min(b, end)
                if b <= a:
                    continue
                if left <= b - a:
                    return b - left
                left -= b - a
        raise CalendarInvalid("the calendar has no working time within three years before")

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """The working minutes in [start, end)."""
        if end <= start:
            return 0.0
        total = timedelta()
        for day in self._days(start, 1):
            if datetime.combine(day, time(), self._zone) > end:
                break
            for a, b in self._intervals(day):
                a, b = max(a, start), min(b, end)
                if b > a:
                    total += b - a
        return total.total_seconds() / 60


def _local(day: date, minute: int, zone: tzinfo) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(), zone)
    return datetime.combine(day, time(minute // 60, minute % 60), zone)


def shifted(calendar: BusinessCalendar | None, moment: datetime, minutes: float) -> datetime:
    """``minutes`` of working time after ``moment`` (before it, when negative): on the calendar,
    or around the clock without one. A target's deadline from its start, a deadline moved by a
    new length, the moment a warning is due before a deadline."""
    if calendar is None:
        return moment + timedelta(minutes=minutes)
    return calendar.add(moment, minutes) if minutes >= 0 else calendar.back(moment, -minutes)
