"""Issue #20 over HTTP: absurd times, deep nesting, colliding keys, content types, and what a
stolen sender token may read."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import ADMIN_SECRET, DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}


@pytest.mark.parametrize("url, body, path", [
    ("/api/v1/alerts/alertmanager", am_body(am_alert(starts="0001-01-01T00:00:00+01:00")), "$.alerts[0].startsAt"),
    ("/api/v1/alerts/alertmanager", am_body(dict(am_alert(status="resolved"), endsAt="9999-12-31T23:30:00-01:00")),
     "$.alerts[0].endsAt"),
    ("/api/v1/alerts/alertmanager", am_body(am_alert(starts="1900-01-01T00:00:00Z")), "$.alerts[0].startsAt"),
    ("/api/v1/alerts/zabbix", zabbix_event(event_timestamp="-62135596800"), "$.event_timestamp"),
    ("/api/v1/alerts/zabbix", zabbix_event(event_timestamp="253402300000"), "$.event_timestamp"),
    ("/api/v1/findings", {"ci": "c", "title": "t", "observed_at": "0001-01-01T00:00:00+01:00"}, "$.observed_at"),
])
def test_a_time_outside_the_sane_range_is_a_400_naming_it(redis_url, url, body, path):
    with client_for(redis_url) as client:
        answer = client.post(url, json=body, headers=SOURCE)
        assert answer.status_code == 400 and answer.json()["detail"][0]["path"] == path
        assert "1970-01-01 to 2200-01-01" in answer.json()["detail"][0]["message"]
        assert client.get("/api/v1/tickets", headers=VIEW).json()["tickets"] == []


def test_a_user_report_with_an_absurd_outage_start_is_a_400(redis_url):
    with client_for(redis_url) as client:
        answer = client.post("/api/v1/tickets", json={"title": "phone down", "outage_start": "0001-01-01T00:00:00+01:00"},
                             headers=DESK)
    assert answer.status_code == 400 and answer.json()["detail"][0]["path"] == "$.outage_start"


def test_alertmanagers_zero_end_time_still_means_firing(redis_url):
    alert = dict(am_alert("StillFiring"), endsAt="0001-01-01T00:00:00Z")
    with client_for(redis_url) as client:
        answer = client.post("/api/v1/alerts/alertmanager", json=am_body(alert), headers=SOURCE)
    assert answer.json()["results"][0]["outcome"] == "new"


@pytest.mark.parametrize("url", ["/api/v1/alerts/alertmanager", "/api/v1/alerts/zabbix", "/api/v1/findings",
                                 "/api/v1/rules/test"])
def test_json_nested_a_thousand_deep_is_a_400_on_every_route(redis_url, url):
    body = b'{"x":' + b"[" * 1000 + b"]" * 1000 + b',"alerts":[]}'
    with client_for(redis_url) as client:
        answer = client.post(url, content=body, headers=ADMIN)
    assert answer.status_code == 400  # (rules/test may first miss its `source`: a 400 too)
    assert answer.json()["error"] in ("malformed JSON", "invalid payload")


def test_pairs_that_joined_to_one_key_no_longer_deduplicate(redis_url):
    """instance `x\\u001fb` + alertname `c` and instance `x` + alertname `b\\u001fc` were one key."""
    first = am_alert("c", host="x\u001fb")
    second = am_alert("b\u001fc", host="x", starts="2026-11-22T03:01:00Z")
    with client_for(redis_url) as client:
        outcomes = [client.post("/api/v1/alerts/alertmanager", json=am_body(a), headers=SOURCE).json()["results"][0]
                    ["outcome"] for a in (first, second)]
    assert outcomes == ["new", "new"]


def test_keys_stored_before_keep_their_tags():
    """Every ordinary key hashes as it always did, so masters stored before find their duplicates."""
    import base64
    import hashlib

    from alertgate.keys import dedup_tag

    for ci, symptom in (("db1", "DiskFull"), ("数据库 01", "17001"), ("", "x")):
        old = base64.b32encode(hashlib.blake2b(f"{ci}\x1f{symptom}".encode(), digest_size=8).digest()).decode()
        assert dedup_tag(ci, symptom) == old.rstrip("=")
    assert dedup_tag("x\x1fb", "c") != dedup_tag("x", "b\x1fc")


@pytest.mark.parametrize("content_type, status", [
    (None, 200), ("application/json", 200), ("application/json; charset=utf-8", 200), ("text/plain", 200),
    ("application/vnd.alertmanager+json", 200), ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415), ("application/xml", 415),
])
def test_content_type_json_or_none_is_taken_anything_else_is_415(redis_url, content_type, status):
    import msgspec

    headers = SOURCE | ({"Content-Type": content_type} if content_type else {})
    with client_for(redis_url) as client:
        answer = client.post("/api/v1/alerts/alertmanager", content=msgspec.json.encode(am_body(am_alert())),
                             headers=headers)
    assert answer.status_code == status
    if status == 415:
        assert "application/json" in answer.json()["error"]


@pytest.mark.parametrize("method, url", [
    ("GET", "/api/v1/tickets"), ("GET", "/api/v1/tickets/INC-AAAAAAAAAAAAA-1"), ("GET", "/api/v1/kpi"),
    ("GET", "/api/v1/problems"), ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/rules/test"),
])
def test_a_source_token_reads_nothing(redis_url, method, url):
    """A stolen Zabbix token must not read the ticket base (README and SPEC §7)."""
    with client_for(redis_url) as client:
        answer = client.request(method, url, headers=SOURCE, json={"source": "finding", "payload": {}})
    assert answer.status_code == 403


def test_only_the_role_that_edits_rules_may_test_them(redis_url):
    body = {"source": "alertmanager", "payload": am_body(am_alert())}
    with client_for(redis_url) as client:
        assert client.post("/api/v1/rules/test", json=body, headers=VIEW).status_code == 403
        assert client.post("/api/v1/rules/test", json=body, headers=ADMIN).status_code == 200
        assert client.get("/metrics", headers=SOURCE).status_code == 200  # metrics and readiness: any role


@pytest.mark.parametrize("url, body", [
    ("/api/v1/alerts/alertmanager", am_body(am_alert("SavedInNotepad"))),
    ("/api/v1/alerts/zabbix", zabbix_event("9717")),
    ("/api/v1/findings", {"finding_id": "F-BOM", "ci": "UPS-2", "title": "battery swollen"}),
])
def test_a_body_saved_by_a_windows_tool_is_taken_or_refused_saying_why(redis_url, url, body):
    """A UTF-8 byte order mark (Notepad's, PowerShell's "UTF8") is read past, and the alert is the
    one the same body without it sends; UTF-16 (PowerShell 5's `>`) and a gzip-compressed body
    are 400s that name what is wrong."""
    text = json.dumps(body, ensure_ascii=False)
    headers = {**SOURCE, "Content-Type": "application/json"}
    with client_for(redis_url) as client:
        marked = client.post(url, content=b"\xef\xbb\xbf" + text.encode(), headers=headers)
        assert marked.status_code == 200, marked.text
        assert marked.json()["results"][0]["outcome"] == "new"
        plain = client.post(url, content=text.encode(), headers=headers)
        assert plain.json()["results"][0]["outcome"] == "repeat"
        wide = client.post(url, content=text.encode("utf-16"), headers=headers)
        packed = client.post(url, content=gzip.compress(text.encode()), headers={**headers, "Content-Encoding": "gzip"})
    assert wide.status_code == 400
    assert wide.json()["error"] == "malformed JSON" and "UTF-16" in wide.json()["detail"][0]["message"]
    assert packed.status_code == 400 and "gzip" in packed.json()["detail"][0]["message"]
