"""A ticket's answers with a long timeline (a flapping master gathers two entries a flap): the
ticket, the list, an action and the console show the first 20 and the newest 200 entries and
``timeline_omitted``, read without the rest; ``GET .../timeline`` pages through every entry."""

from __future__ import annotations

import re

import msgspec
import redis

from alertgate.keys import ticket_prefix
from alertgate.tickets.model import TimelineEntry
from tests.conftest import DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_console import sign_in

VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}


def whole_timeline(client, ticket_id: str) -> list[dict]:
    entries, offset = [], 0
    while offset is not None:
        page = client.get(f"/api/v1/tickets/{ticket_id}/timeline", headers=VIEW,
                          params={"offset": offset, "limit": 1000}).json()
        entries, offset = entries + page["entries"], page["next_offset"]
        assert page["total"] >= len(entries)
    return entries


def test_a_long_timeline_is_answered_by_its_first_and_newest_entries(redis_url):
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Flaps", "long1")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        store = redis.Redis.from_url(redis_url)
        key = ticket_prefix(tid.split("-")[1]) + tid + ":tl"
        store.rpush(key, *(msgspec.json.encode(TimelineEntry(at="2026-11-22T03:00:00Z", actor="alertgate",
                                                             action="comment", note=f"n{n}")) for n in range(2999)))
        store.rpush(key, b'{"at": "broken"')   # the newest entry unreadable
        whole = whole_timeline(client, tid)
        # the creation entry derived from the record, the 2,999 readable of 3,000 stored, and one that
        # names the unreadable
        assert len(whole) == 3001 and whole[0]["action"] == "create" and whole[-1]["action"] == "unreadable"

        ticket = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
        assert ticket["timeline"] == whole[:20] + whole[-200:] and ticket["timeline_omitted"] == 3001 - 220
        [listed] = client.get("/api/v1/tickets?ci=long1", headers=VIEW).json()["tickets"]
        assert listed["timeline"] == ticket["timeline"] and listed["timeline_omitted"] == 2781
        sign_in(client, DESK_SECRET)
        page = client.get(f"/console/tickets/{tid}").text
        shown = re.search(r'<ol class="timeline">(.*?)</ol>', page, re.S).group(1)
        assert shown.count("<li><time>") == 220 and "2781 entries between are left out here" in shown

        answer = client.post(f"/api/v1/tickets/{tid}/actions/comment", json={"note": "seen"}, headers=DESK)
        assert answer.status_code == 200, answer.text
        after = answer.json()
        assert len(after["timeline"]) == 220 and after["timeline_omitted"] == 2782
        assert after["timeline"][:20] == whole[:20] and after["timeline"][-1]["note"] == "seen"
        assert whole_timeline(client, tid)[-2]["note"] == "seen"   # (the unreadable one is named last)


def test_a_short_timeline_is_answered_whole(redis_url):
    with client_for(redis_url) as client:
        tid = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Once", "short1")),
                          headers=SOURCE).json()["results"][0]["ticket_id"]
        ticket = client.get(f"/api/v1/tickets/{tid}", headers=VIEW).json()["ticket"]
        assert ticket["timeline_omitted"] == 0 and ticket["timeline"] == whole_timeline(client, tid)
        assert client.get(f"/api/v1/tickets/{tid}/timeline?offset=5", headers=VIEW).json() == {
            "entries": [], "total": len(ticket["timeline"]), "next_offset": None}
