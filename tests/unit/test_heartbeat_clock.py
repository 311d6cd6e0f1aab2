"""The pure rules of heartbeats (SPEC §9): deadlines with and without a cron schedule, expiry,
a ping's effect, the alert of an expiry, a rule-fed name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from alertgate.heartbeats import clock
from alertgate.heartbeats.model import Definition, Heartbeat, HeartbeatStatus
from alertgate.tickets.alert import Alert, AlertStatus

T0 = datetime(2026, 12, 4, 1, 0, tzinfo=timezone.utc)


def beat(**changes) -> Heartbeat:
    return Heartbeat(name="backup", ci="backup-01", timeout=1800.0, created_at=T0, **changes)


def test_without_a_schedule_the_deadline_is_last_seen_plus_timeout():
    assert clock.deadline(beat(), T0) == T0 + timedelta(minutes=30)


def test_with_a_schedule_it_must_report_after_each_scheduled_time_within_timeout():
    """"The backup reports by 02:30": 30 2 * * * with 30m of tolerance."""
    nightly = beat(schedule="30 2 * * *")
    assert clock.deadline(nightly, T0) == datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
    # a report at 02:40 counts for that night; the next is due after the next 02:30
    assert clock.deadline(nightly, datetime(2026, 12, 4, 2, 40, tzinfo=timezone.utc)) == \
        datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)


def test_a_ping_just_before_its_scheduled_time_counts_for_that_time():
    """A job whose clock runs a minute fast reports at 02:29:45 (Healthchecks #888, #830: counted
    for the 02:30 it came before, it expired at 03:00 every night though the job ran)."""
    nightly = beat(schedule="30 2 * * *")
    early = datetime(2026, 12, 4, 2, 29, 45, tzinfo=timezone.utc)
    assert clock.deadline(nightly, early) == datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)   # (no tolerance)
    assert clock.deadline(nightly, early, early=60) == datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
    assert clock.pinged(nightly, early, early=60).expires_at == datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
    # more than the tolerance before: a run of something else, not tonight's report
    assert clock.deadline(nightly, early - timedelta(minutes=5), early=60) == \
        datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


def test_the_tolerance_never_skips_a_scheduled_time_of_a_frequent_schedule():
    """Every 5 minutes, a tolerance of 10: a ping counts for the next time only when it is
    nearer to it than to the one before, so that a missed run is still found."""
    frequent = msgspec.structs.replace(beat(schedule="*/5 * * * *"), timeout=60.0)
    late = datetime(2026, 12, 4, 1, 1, tzinfo=timezone.utc)      # the 01:00 run, a minute late
    assert clock.deadline(frequent, late, early=600) == datetime(2026, 12, 4, 1, 6, tzinfo=timezone.utc)
    early = datetime(2026, 12, 4, 1, 4, 30, tzinfo=timezone.utc)  # the 01:05 run, 30 s early
    assert clock.deadline(frequent, early, early=600) == datetime(2026, 12, 4, 1, 11, tzinfo=timezone.utc)


def test_the_next_expected_times_show_a_misread_schedule():
    """`* 9 * * *` is every minute of 09:xx, not 09:00 daily (Healthchecks #1004)."""
    misread = beat(schedule="* 9 * * *")
    assert clock.upcoming(misread, datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc), 3) == [
        datetime(2026, 12, 4, 9, minute, tzinfo=timezone.utc) for minute in range(3)]
    shanghai = beat(schedule="30 2 * * *", timezone="Asia/Shanghai")
    assert clock.upcoming(shanghai, T0, 2) == [datetime(2026, 12, 4, 18, 30, tzinfo=timezone.utc),
                                               datetime(2026, 12, 5, 18, 30, tzinfo=timezone.utc)]
    assert clock.upcoming(beat(), T0) == []


def test_a_failure_report_expires_it_now_unless_paused_expired_or_seen_since():
    seen = beat(status=HeartbeatStatus.OK, last_seen=T0, expires_at=T0 + timedelta(minutes=30))
    failed = clock.failed(seen, T0 + timedelta(minutes=5))
    assert (failed.status, failed.expiry, failed.raised, failed.expired_count) == (
        HeartbeatStatus.EXPIRED, T0 + timedelta(minutes=5), False, 1)
    assert clock.failed(failed, T0 + timedelta(minutes=6)) is None                       # expired already
    assert clock.failed(msgspec.structs.replace(seen, status=HeartbeatStatus.PAUSED), T0) is None
    # a resolved Watchdog whose Prometheus stopped before the last ping: late news (two Alertmanagers)
    assert clock.failed(seen, T0 + timedelta(minutes=5), stopped_at=T0 - timedelta(minutes=1)) is None
    assert clock.failed(seen, T0 + timedelta(minutes=5), stopped_at=T0 + timedelta(minutes=1)) is not None


def test_a_schedule_runs_in_the_heartbeats_zone_and_across_daylight_saving():
    """"By 02:30 Shanghai time" is 18:30 UTC the day before; in New York, the night the clocks
    spring forward has no 02:30 (cronsim runs it at 03:00), and the deadline is the UTC moment."""
    shanghai = clock.applied(beat(), Definition(schedule="30 2 * * *", timezone="Asia/Shanghai"))
    assert shanghai.timezone == "Asia/Shanghai"
    assert clock.deadline(shanghai, T0) == datetime(2026, 12, 4, 19, 0, tzinfo=timezone.utc)
    new_york = beat(schedule="30 2 * * *", timezone="America/New_York")
    assert clock.deadline(new_york, datetime(2027, 3, 13, 12, tzinfo=timezone.utc)) == \
        datetime(2027, 3, 14, 7, 30, tzinfo=timezone.utc)   # (03:00 EDT, plus 30m)
    assert clock.deadline(beat(schedule="30 2 * * *", timezone="Mars/Olympus"), T0) == \
        datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)   # (a stored zone that is none: read as UTC)


@pytest.mark.parametrize("field,definition", [
    ("timeout", Definition(timeout="soon")), ("timeout", Definition(timeout="0s")), ("timeout", Definition(timeout="200d")),
    ("schedule", Definition(schedule="61 * * * *")), ("schedule", Definition(schedule="every day")),
    ("severity", Definition(severity="loud")), ("timezone", Definition(timezone="Mars/Olympus")),
])
def test_a_bad_definition_names_its_field(field, definition):
    with pytest.raises(clock.DefinitionError) as caught:
        clock.applied(beat(), definition)
    assert caught.value.field == field


def test_expiry_then_ping_opens_then_recovers_the_same_expiry():
    seen = clock.pinged(beat(), T0)
    assert clock.expired(seen, T0 + timedelta(minutes=29)) is None
    expired = clock.expired(seen, T0 + timedelta(minutes=31))
    assert expired.status is HeartbeatStatus.EXPIRED and expired.expiry == T0 + timedelta(minutes=30)
    assert clock.expired(expired, T0 + timedelta(hours=5)) is None  # one expiry per deadline
    back = clock.pinged(expired, T0 + timedelta(hours=1))
    assert back.status is HeartbeatStatus.OK and back.recovering == expired.expiry and back.expiry is None
    paused = clock.pinged(msgspec.structs.replace(back, status=HeartbeatStatus.PAUSED, expires_at=None), T0)
    assert paused.status is HeartbeatStatus.PAUSED and paused.expires_at is None and paused.last_seen == T0


def test_the_alert_of_an_expiry_has_the_heartbeat_s_ci_symptom_and_outage_start():
    expiry = T0 + timedelta(minutes=30)
    firing = clock.alert_of(beat(tags={"team": "storage"}), expiry, AlertStatus.FIRING, T0 + timedelta(minutes=31))
    resolved = clock.alert_of(beat(), expiry, AlertStatus.RESOLVED, T0 + timedelta(hours=1))
    assert (firing.source, firing.ci, firing.symptom) == ("heartbeat", "backup-01", "heartbeat_missing:backup")
    assert firing.observed_at == expiry and firing.labels == {"team": "storage", "heartbeat": "backup"}
    assert firing.occurrence_id == resolved.occurrence_id and firing.delivery_id != resolved.delivery_id


def test_a_rule_fed_name_takes_the_label_then_the_receiver_and_is_made_safe():
    def alert(labels: dict, receiver: str | None = None) -> Alert:
        return Alert(source="alertmanager", occurrence_id="o", ci="c", symptom="Watchdog", status=AlertStatus.FIRING,
                     title="t", labels=labels, observed_at=T0, received_at=T0, receiver=receiver)
    assert clock.name_from("prometheus", "prometheus", alert({"prometheus": "monitoring/k8s"})) == "prometheus:monitoring_k8s"
    assert clock.name_from("prometheus", "prometheus", alert({}, "team-a")) == "prometheus:team-a"
    assert clock.name_from("prometheus", "prometheus", alert({})) == "prometheus:default"
    assert clock.name_from("watchdog", None, alert({"prometheus": "x"})) == "watchdog"
