"""Times sent without a zone (``2026-12-07T13:00:00``) are UTC, as docs/contract.md says, on
every endpoint that takes a time. A maintenance window posted so was stored as sent, and from
then on every alert's intake answered 500 (a zoneless time compared with an aware one) until the
record was deleted by hand: the senders' retries could never succeed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from alertgate.keys import maintenance_key
from tests.conftest import DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
AM = "/api/v1/alerts/alertmanager"


def zoneless(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def test_a_window_posted_without_zones_is_utc_and_holds_its_alerts(redis_url):
    now = datetime.now(timezone.utc)
    body = {"title": "db9 disk swap", "starts_at": zoneless(now - timedelta(minutes=1)),
            "ends_at": zoneless(now + timedelta(hours=1)), "matchers": [{"field": "ci", "op": "eq", "value": "db9"}]}
    with client_for(redis_url) as client:
        created = client.post("/api/v1/maintenance", headers=DESK, json=body)
        assert created.status_code == 201, created.text
        window = created.json()["window"]
        assert window["starts_at"] == body["starts_at"] + "Z" and created.json()["active"]
        held = client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", host="db9")))
        other = client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", host="web1")))
        changed = client.patch(f"/api/v1/maintenance/{window['id']}", headers=DESK,
                               json={"ends_at": zoneless(now + timedelta(hours=2))})
        listed = client.get("/api/v1/maintenance", headers=VIEW)
    assert held.status_code == 200 and held.json()["results"][0]["outcome"] == "suppressed", held.text
    assert other.status_code == 200 and other.json()["results"][0]["outcome"] == "new", other.text
    assert changed.status_code == 200 and changed.json()["window"]["ends_at"].endswith("Z"), changed.text
    assert listed.status_code == 200


def test_a_zoneless_window_stored_by_an_older_version_breaks_no_intake_and_no_read(redis_url):
    now = datetime.now(timezone.utc)
    with client_for(redis_url) as client:
        created = client.post("/api/v1/maintenance", headers=DESK, json={
            "title": "db9 disk swap", "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(), "matchers": [{"field": "ci", "op": "eq", "value": "db9"}]})
        window_id = created.json()["window"]["id"]
        raw = redis.Redis.from_url(redis_url)
        record = raw.get(maintenance_key(window_id)).decode()
        for name in ("starts_at", "ends_at"):   # as the old version stored a zoneless POST
            record = record.replace(created.json()["window"][name], zoneless(datetime.fromisoformat(
                created.json()["window"][name].replace("Z", "+00:00"))))
        raw.set(maintenance_key(window_id), record)
    with client_for(redis_url) as client:   # (a process started since reads the record)
        answers = [client.post(AM, headers=SOURCE, json=am_body(am_alert("DiskFull", host=host))) for host in ("db9", "web1")]
        reads = [client.get(path, headers=VIEW) for path in (
            "/api/v1/maintenance", f"/api/v1/maintenance/{window_id}", "/api/v1/maintenance?active=true")]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json()["results"][0]["outcome"] for a in answers] == ["suppressed", "new"]
    assert [r.status_code for r in reads] == [200, 200, 200], [r.text for r in reads]
    assert reads[1].json()["window"]["starts_at"].endswith("Z")


def test_zoneless_alert_and_finding_times_are_utc(redis_url):
    with client_for(redis_url) as client:
        firing = client.post(AM, headers=SOURCE, json=am_body(am_alert("Naive", host="web2", starts="2026-12-07T10:00:00")))
        again = client.post(AM, headers=SOURCE, json=am_body(am_alert("Naive", host="web2", starts="2026-12-07T10:00:00")))
        ended = am_alert("Naive", host="web2", starts="2026-12-07T10:00:00", status="resolved")
        ended["endsAt"] = "2026-12-07T10:30:00"
        resolved = client.post(AM, headers=SOURCE, json=am_body(ended))
        unstated = am_alert("Naive", host="web3", starts="2026-12-07T10:00:00")   # no per-alert status:
        del unstated["status"]                                                   # its endsAt says it
        unstated["endsAt"] = "2026-12-07T10:30:00"
        recovered = client.post(AM, headers=SOURCE, json=am_body(unstated))
        finding = {"ci": "pump-3", "title": "bearing noise", "observed_at": "2026-12-07T09:00:00"}
        found = client.post("/api/v1/findings", headers=SOURCE, json=finding)
        found_again = client.post("/api/v1/findings", headers=SOURCE, json=finding)
        answers = (firing, again, resolved, recovered, found, found_again)
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        outcomes = [a.json()["results"][0]["outcome"] for a in answers]
        ticket = client.get(f"/api/v1/tickets/{firing.json()['results'][0]['ticket_id']}", headers=VIEW).json()["ticket"]
        report = client.get(f"/api/v1/tickets/{found.json()['results'][0]['ticket_id']}", headers=VIEW).json()["ticket"]
    assert outcomes == ["new", "repeat", "resolved", "ignored", "new", "repeat"]
    assert (ticket["outage_start"], ticket["outage_end"]) == ("2026-12-07T10:00:00Z", "2026-12-07T10:30:00Z")
    assert report["outage_start"] == "2026-12-07T09:00:00Z"

