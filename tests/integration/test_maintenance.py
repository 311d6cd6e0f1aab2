"""Maintenance windows (SPEC §10) on a real Redis: the API and its 400s, alerts held while a
window is in force (suppressed, with the window's id; a retry is a repeat; a recovery is
recorded), and the release when it ends: what still fires opens its ticket with its true outage
start, what recovered opens nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest
import redis

from alertgate.keys import dedup_tag, held_key, state_key
from alertgate.maintenance import held as held_alert
from alertgate.settings import load_settings
from alertgate.workers.maintenance_release import MaintenanceRelease
from alertgate.workers.worker import create_worker
from tests.conftest import ADMIN_SECRET, BOOTSTRAP, DESK_SECRET, ENGINEER_SECRET, ROOT, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
AM = "/api/v1/alerts/alertmanager"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def window(**extra) -> dict:
    now = datetime.now(timezone.utc)
    body = {"title": "db9 disk swap", "starts_at": iso(now - timedelta(minutes=1)), "ends_at": iso(now + timedelta(hours=1)),
            "matchers": [{"field": "ci", "op": "eq", "value": "db9"}], "change_id": "CHG-1042"}
    body.update(extra)
    return body


def release(redis_url: str) -> str:
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    return MaintenanceRelease().run()


def test_the_api_creates_lists_changes_and_ends_windows_with_an_audit_trail(redis_url):
    with client_for(redis_url) as client:
        created = client.post("/api/v1/maintenance", headers=DESK, json=window())
        assert created.status_code == 201, created.text
        shown = created.json()
        window_id = shown["window"]["id"]
        assert window_id.startswith("MW-") and shown["active"] and shown["window"]["created_by"] == "bootstrap-service_desk"
        assert [w["window"]["id"] for w in client.get("/api/v1/maintenance?active=true", headers=VIEW).json()["windows"]] == [window_id]
        assert client.get("/api/v1/maintenance?active=false", headers=VIEW).json()["windows"] == []
        later = iso(datetime.now(timezone.utc) + timedelta(hours=2))
        changed = client.patch(f"/api/v1/maintenance/{window_id}", headers=DESK, json={"ends_at": later, "comment": "longer"})
        assert changed.status_code == 200, changed.text
        ended = client.delete(f"/api/v1/maintenance/{window_id}", headers={"Authorization": f"Bearer {ADMIN_SECRET}"}).json()
        assert ended["active"] is False and ended["window"]["ended_at"]
        assert [e["action"] for e in ended["window"]["audit"]] == ["created", "changed", "ended"]
        assert ended["window"]["audit"][1]["note"] == "comment, ends_at"
        assert client.get(f"/api/v1/maintenance/{window_id}", headers=VIEW).json()["window"]["ended_at"]  # kept
        assert client.patch(f"/api/v1/maintenance/{window_id}", headers=DESK, json={"title": "x"}).status_code == 400
        assert client.get("/api/v1/maintenance/MW-999999", headers=VIEW).status_code == 404
        assert client.post("/api/v1/maintenance", headers={"Authorization": f"Bearer {ENGINEER_SECRET}"},
                           json=window()).status_code == 403
        assert client.get("/api/v1/maintenance", headers=SOURCE).status_code == 403


@pytest.mark.parametrize("change,path", [
    ({"ends_at": "2020-01-01T00:00:00Z", "starts_at": "2019-12-31T00:00:00Z"}, "$.ends_at"),     # in the past
    ({"ends_at": "2000-01-01T00:00:00Z"}, "$.ends_at"),                                           # before its start
    ({"ends_at": iso(datetime.now(timezone.utc) + timedelta(days=9))}, "$.ends_at"),              # longer than 7d
    ({"matchers": []}, "$.matchers"),                                                             # all needs saying
    ({"matchers": [{"field": "colour", "op": "eq", "value": "red"}]}, "$.matchers[0]"),           # unknown field
    ({"matchers": [{"field": "ci", "op": "re", "value": "db(?=9)"}]}, "$.matchers[0]"),           # not RE2
    ({"matchers": [{"field": "ci", "op": "in", "value": "db9"}]}, "$.matchers[0]"),               # in needs a list
    ({"matchers": [{"field": "ci", "op": "eq", "value": "db9", "x": 1}]}, "$.matchers[0]"),      # unknown key
    ({"recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "$.recurrence"),                      # never fires
    ({"recurrence": "every sunday"}, "$.recurrence"),
    ({"recurrence": "FREQ=HOURLY;BYMINUTE=0,30"}, "$.recurrence"),                               # denser than hourly
    ({"recurrence": "FREQ=WEEKLY", "timezone": "Mars/Olympus"}, "$.timezone"),                   # not an IANA zone
    ({"recurrence": "FREQ=DAILY;COUNT=1", "starts_at": "2026-01-01T00:00:00Z",
      "ends_at": "2026-01-01T02:00:00Z"}, "$.recurrence"),                                        # all occurrences past
    ({"starts_at": "1900-01-01T00:00:00Z"}, "$.starts_at"),
    ({"title": "   "}, "$.title"),
])
def test_a_window_that_cannot_hold_as_meant_is_a_400_naming_the_field(redis_url, change, path):
    with client_for(redis_url) as client:
        answer = client.post("/api/v1/maintenance", headers=DESK, json=window(**change))
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"][0]["path"].startswith(path), answer.json()


def test_overlapping_windows_are_allowed_and_all_true_matches_everything(redis_url):
    with client_for(redis_url) as client:
        assert client.post("/api/v1/maintenance", headers=DESK, json=window()).status_code == 201
        assert client.post("/api/v1/maintenance", headers=DESK, json=window(matchers=[], all=True)).status_code == 201
        result = client.post(AM, headers=SOURCE, json=am_body(am_alert("Any", "web1"))).json()["results"][0]
        assert result["outcome"] == "suppressed" and result["maintenance_id"] == "MW-000002"


def test_alerts_during_a_window_are_held_and_its_end_opens_what_still_fires_with_its_true_outage_start(redis_url):
    with client_for(redis_url) as client:
        window_id = client.post("/api/v1/maintenance", headers=DESK, json=window()).json()["window"]["id"]
        starts = "2026-12-04T10:00:00Z"
        disk = am_body(am_alert("DiskFull", "db9", starts=starts, severity="critical"))
        held = client.post(AM, headers=SOURCE, json=disk).json()["results"][0]
        assert held == {"occurrence_id": held["occurrence_id"], "outcome": "suppressed", "ticket_id": None,
                        "master_id": None, "maintenance_id": window_id}
        assert client.post(AM, headers=SOURCE, json=disk).json()["results"][0]["outcome"] == "repeat"
        load = am_body(am_alert("LoadHigh", "db9", starts=starts))
        client.post(AM, headers=SOURCE, json=load)
        recovered = client.post(AM, headers=SOURCE, json=am_body(am_alert("LoadHigh", "db9", starts=starts,
                                                                          status="resolved"))).json()["results"][0]
        assert recovered["outcome"] == "recovered" and recovered["ticket_id"] is None
        other = client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "web1"))).json()["results"][0]
        assert other["outcome"] == "new" and "maintenance_id" not in other   # not matched: as usual
        assert client.get("/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"] == []
        metrics = client.get("/metrics", headers=VIEW).text
        assert 'alertgate_alerts_processed_total{outcome="suppressed",source="alertmanager"} 2.0' in metrics

        assert release(redis_url) == "maintenance: 0 released, 0 recovered or gone"   # still in force
        client.delete(f"/api/v1/maintenance/{window_id}", headers=DESK)              # ended early
        assert release(redis_url) == "maintenance: 1 released, 1 recovered or gone"
        assert release(redis_url) == "maintenance: 0 released, 0 recovered or gone"
        [ticket] = client.get("/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"]
        assert ticket["symptom"] == "DiskFull" and ticket["status"] in ("open", "assigned")
        assert ticket["outage_start"] == "2026-12-04T10:00:00Z"
        # the sender's next repeat of the held occurrence joins that ticket as a repeat
        assert client.post(AM, headers=SOURCE, json=disk).json()["results"][0]["outcome"] == "repeat"


def test_a_recurring_window_is_in_force_on_its_days_only(redis_url):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=7, minutes=5)
    opened = now - timedelta(minutes=5)  # the weekday of today's occurrence, also in the first minutes after midnight
    today, tomorrow = opened.strftime("%a")[:2].upper(), (opened + timedelta(days=1)).strftime("%a")[:2].upper()
    with client_for(redis_url) as client:
        weekly = client.post("/api/v1/maintenance", headers=DESK, json=window(
            starts_at=iso(start), ends_at=iso(start + timedelta(hours=1)), recurrence=f"FREQ=WEEKLY;BYDAY={today}")).json()
        assert weekly["active"] and weekly["current"][0] == iso(now - timedelta(minutes=5)).replace("+00:00", "Z")
        other = client.post("/api/v1/maintenance", headers=DESK, json=window(
            starts_at=iso(start), ends_at=iso(start + timedelta(hours=1)), recurrence=f"FREQ=WEEKLY;BYDAY={tomorrow}",
            matchers=[{"field": "ci", "op": "eq", "value": "web7"}])).json()
        assert not other["active"] and other["next"] is not None
        assert client.post(AM, headers=SOURCE, json=am_body(am_alert("X", "db9"))).json()["results"][0]["outcome"] == "suppressed"
        assert client.post(AM, headers=SOURCE, json=am_body(am_alert("X", "web7"))).json()["results"][0]["outcome"] == "new"


def test_a_storm_in_a_window_keeps_its_alert_once_per_key_and_releases_every_occurrence(redis_url):
    """A storm inside a window: the key's alert is kept once (each occurrence only its own id and
    outage start); the end opens one master with the first outage start and a duplicate per later
    occurrence with its own. A second gateway process, and a copy gone missing, change nothing."""
    starts = [f"2026-12-04T10:0{n}:00Z" for n in range(6)]
    r = redis.Redis.from_url(redis_url)
    with client_for(redis_url) as client:
        window_id = client.post("/api/v1/maintenance", headers=DESK, json=window()).json()["window"]["id"]
        for moment in starts[:3]:
            result = client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "db9", starts=moment))).json()
            assert result["results"][0]["outcome"] == "suppressed"
        state = state_key(dedup_tag("db9", "DiskFull"))
        assert r.hexists(state, f"held:{window_id}")
        whole = [key for key in r.scan_iter("*") if r.type(key) == b"hash" and r.hexists(key, "held")]
        assert whole == []   # no occurrence keeps the whole alert
        r.hdel(state, f"held:{window_id}")   # the copy is gone: the next occurrence brings it again
        result = client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "db9", starts=starts[3]))).json()
        assert result["results"][0]["outcome"] == "suppressed" and r.hexists(state, f"held:{window_id}")
    with client_for(redis_url) as other_process:
        for moment in starts[4:]:
            result = other_process.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "db9", starts=moment)))
            assert result.json()["results"][0]["outcome"] == "suppressed"
        other_process.delete(f"/api/v1/maintenance/{window_id}", headers=DESK)
        assert release(redis_url) == "maintenance: 6 released, 0 recovered or gone"
        tickets = other_process.get("/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"]
        [master] = [t for t in tickets if t["kind"] == "master"]
        assert master["outage_start"] == starts[0] and master["duplicate_count"] == 5
        assert sorted(t["outage_start"] for t in tickets if t["kind"] == "duplicate") == starts[1:]


def test_a_held_occurrence_recorded_whole_by_an_earlier_version_is_released(redis_url):
    """Occurrences held before the per-key copy keep the whole alert in ``held``: still released."""
    r = redis.Redis.from_url(redis_url)
    with client_for(redis_url) as client:
        window_id = client.post("/api/v1/maintenance", headers=DESK, json=window()).json()["window"]["id"]
        client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "db9", starts="2026-12-04T10:00:00Z")))
        [occurrence] = r.zrange(held_key(dedup_tag("db9", "DiskFull")), 0, -1)
        record = r.hgetall(occurrence)
        copy = r.hget(state_key(dedup_tag("db9", "DiskFull")), f"held:{window_id}")
        _, occurrence_id, _, _ = msgspec.msgpack.decode(record[b"held_ref"])
        whole = held_alert.unpack_ref(copy, record[b"held_ref"], datetime.now(timezone.utc))
        r.hdel(occurrence, "held_ref")
        r.hset(occurrence, "held", held_alert.pack(whole))
        r.delete(state_key(dedup_tag("db9", "DiskFull")))
        client.delete(f"/api/v1/maintenance/{window_id}", headers=DESK)
        assert release(redis_url) == "maintenance: 1 released, 0 recovered or gone"
        [ticket] = client.get("/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"]
        assert ticket["outage_start"] == "2026-12-04T10:00:00Z" and ticket["occurrence_id"] == occurrence_id


def test_a_gateway_just_started_holds_alerts_of_a_window_already_in_force(redis_url):
    """The windows in force are loaded before the first request, not by the first watch round."""
    with client_for(redis_url) as client:
        client.post("/api/v1/maintenance", headers=DESK, json=window())
    for moment in ("2026-12-04T10:00:00Z", "2026-12-04T10:01:00Z"):
        with client_for(redis_url) as started:
            result = started.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", "db9", starts=moment))).json()
            assert result["results"][0]["outcome"] == "suppressed"


def test_a_recurring_window_in_a_time_zone_is_in_force_on_that_zones_days(redis_url):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    opened = now - timedelta(minutes=5)
    shanghai = opened + timedelta(hours=8)   # (Asia/Shanghai keeps UTC+8 all year)
    weekday = shanghai.strftime("%a")[:2].upper()
    with client_for(redis_url) as client:
        made = client.post("/api/v1/maintenance", headers=DESK, json=window(
            starts_at=iso(opened - timedelta(days=14)), ends_at=iso(opened - timedelta(days=14, hours=-1)),
            recurrence=f"FREQ=WEEKLY;BYDAY={weekday};BYHOUR={shanghai.hour};BYMINUTE={shanghai.minute};BYSECOND={shanghai.second}",
            timezone="Asia/Shanghai")).json()
        assert made["window"]["timezone"] == "Asia/Shanghai"
        assert made["active"] and made["current"][0] == iso(opened).replace("+00:00", "Z"), made
        assert client.post(AM, headers=SOURCE, json=am_body(am_alert("X", "db9"))).json()["results"][0]["outcome"] == "suppressed"
