"""When a recurring maintenance window is in force (SPEC §10): each process walks a rule on from
the latest occurrence it found (``schedule._Walk``), and that walk must give what dateutil's own
walk from DTSTART gives, for any rule and any order of questions; and a rule denser than one
occurrence an hour is refused, however its density is spelled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.maintenance import schedule
from alertgate.maintenance.model import Window
from alertgate.moments import zone_named

UTC = timezone.utc
NOW = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def window(recurrence: str, starts_at: datetime, length: timedelta = timedelta(hours=2), zone: str | None = None) -> Window:
    return Window(id="MW-1", title="patch night", starts_at=starts_at, ends_at=starts_at + length, all=True,
                  recurrence=recurrence, timezone=zone, created_by="desk", created_at=starts_at)


@st.composite
def rules(draw) -> str:
    freq = draw(st.sampled_from(["HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    if draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))))
        if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
            parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    elif freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 15, 29, 31, -1]))}")
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    if freq != "HOURLY" and draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True)))))
    ending = draw(st.sampled_from(["", "count", "until"]))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 60))}")
    elif ending == "until":
        parts.append(f"UNTIL={(NOW - timedelta(days=draw(st.integers(-200, 200)))).strftime('%Y%m%dT%H%M%SZ')}")
    return ";".join(parts)


starts = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2026, 6, 1)).map(lambda d: d.replace(tzinfo=UTC))
offsets = st.lists(st.integers(-20 * 86400, 420 * 86400), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(text=rules(), start=starts, hours=st.integers(1, 30), questions=offsets, ordered=st.booleans(),
       zone=st.sampled_from([None, "Asia/Shanghai", "America/New_York", "Europe/Berlin"]))
def test_walking_on_from_the_latest_occurrence_finds_what_a_walk_from_dtstart_finds(text, start, hours, questions, ordered,
                                                                                   zone):
    schedule._WALKS.clear()
    length = timedelta(hours=hours)
    held = window(text, start, length, zone)
    plain = schedule.parse_rule(text, start, zone_named(zone or "UTC"))
    moments = [start + timedelta(seconds=s) for s in (sorted(questions) if ordered else questions)]
    for moment in moments:
        began = plain.before(moment, inc=True)
        began = began.astimezone(UTC) if began else None
        expected = (began, began + length) if began and moment < began + length else None
        assert schedule.occurrence_at(held, moment) == expected, (text, moment)
        following = plain.after(moment)
        following = following.astimezone(UTC) if following else None
        assert schedule.next_occurrence(held, moment) == ((following, following + length) if following else None), (text, moment)


def test_an_old_hourly_rule_is_walked_from_its_latest_occurrence_not_from_its_start():
    schedule._WALKS.clear()
    held = window("FREQ=HOURLY", datetime(1990, 1, 1, tzinfo=UTC), timedelta(minutes=45))
    assert schedule.occurrence_at(held, NOW) == (NOW.replace(minute=0), NOW.replace(minute=45))
    walk = schedule._walk(held)
    assert walk.mark is not None and walk.mark[0] == NOW.replace(minute=0)
    later = NOW + timedelta(hours=5)
    rule, before = walk._from(later)
    assert rule.after(later - timedelta(hours=6), inc=True) == NOW.replace(minute=0)   # (the walk starts at the mark)
    assert before == walk.mark[1] and schedule.occurrence_at(held, later) == (later.replace(minute=0), later.replace(minute=45))


def test_a_counted_rule_ends_after_its_count_however_it_is_walked():
    schedule._WALKS.clear()
    held = window("FREQ=DAILY;COUNT=3", datetime(2026, 12, 1, 2, tzinfo=UTC))
    assert schedule.occurrence_at(held, datetime(2026, 12, 2, 3, tzinfo=UTC))[0].day == 2
    assert schedule.occurrence_at(held, datetime(2026, 12, 3, 3, tzinfo=UTC))[0].day == 3
    assert schedule.occurrence_at(held, datetime(2026, 12, 4, 3, tzinfo=UTC)) is None
    assert schedule.next_occurrence(held, datetime(2026, 12, 3, 3, tzinfo=UTC)) is None


MINUTES = ",".join(map(str, range(60)))


@pytest.mark.parametrize("text", [
    f"FREQ=HOURLY;BYMINUTE={MINUTES}",                       # MINUTELY in all but name
    "FREQ=DAILY;BYHOUR=2;BYMINUTE=0,30",                       # two starts half an hour apart
    "FREQ=DAILY;BYHOUR=3;BYSECOND=0,1",
    f"FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE={MINUTES};BYSECOND={MINUTES}",
    "FREQ=MINUTELY", "FREQ=SECONDLY;INTERVAL=3600",
])
def test_a_rule_denser_than_hourly_is_refused_however_it_is_spelled(text):
    with pytest.raises(schedule.ScheduleError) as refused:
        schedule.check(window(text, NOW - timedelta(days=400), timedelta(seconds=20)), NOW, 7 * 86400)
    assert refused.value.field == "recurrence"


@pytest.mark.parametrize("text", ["FREQ=HOURLY", "FREQ=DAILY;BYHOUR=0,1,2,3", "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=22,23",
                                  "FREQ=HOURLY;BYHOUR=1,2,3;BYMINUTE=59"])
def test_hourly_and_sparser_rules_are_taken(text):
    schedule.check(window(text, NOW - timedelta(days=30), timedelta(minutes=20)), NOW, 7 * 86400)


def test_a_weekly_rule_runs_on_the_days_and_hours_of_its_zone():
    sunday_2am_shanghai = datetime(2026, 12, 5, 18, tzinfo=UTC)   # Sunday 6 December, 02:00 in Shanghai
    held = window("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2", sunday_2am_shanghai, timedelta(hours=2), "Asia/Shanghai")
    schedule.check(held, sunday_2am_shanghai - timedelta(days=1), 7 * 86400)
    following = sunday_2am_shanghai + timedelta(days=7, minutes=30)
    assert schedule.occurrence_at(held, following) == (following - timedelta(minutes=30), following + timedelta(minutes=90))
    in_utc = window("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2", sunday_2am_shanghai, timedelta(hours=2))
    assert schedule.occurrence_at(in_utc, following) is None   # (UTC's Sunday 02:00 is 10:00 in Shanghai)
    with pytest.raises(schedule.ScheduleError) as refused:
        schedule.check(window("FREQ=WEEKLY", sunday_2am_shanghai, zone="Mars/Olympus"), sunday_2am_shanghai, 7 * 86400)
    assert refused.value.field == "timezone"
    assert schedule.occurrence_at(window("FREQ=WEEKLY", sunday_2am_shanghai, zone="Mars/Olympus"),
                                  sunday_2am_shanghai + timedelta(minutes=5)) is not None   # (a stored one: read as UTC)
