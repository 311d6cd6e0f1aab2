"""SPEC §2 through HTTP on a real Redis: each row of the table, recovery, reopen, recurrence,
retries; and the ticket API of SPEC §3."""

from __future__ import annotations

import time

import pytest
import redis

from alertgate.keys import ticket_key
from tests.conftest import DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event

pytestmark = pytest.mark.integration
AM = "/api/v1/alerts/alertmanager"
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def send(client, *alerts) -> list[dict]:
    response = client.post(AM, json=am_body(*alerts), headers=SOURCE)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def ticket(client, ticket_id: str) -> dict:
    response = client.get(f"/api/v1/tickets/{ticket_id}", headers=VIEW)
    assert response.status_code == 200, response.text
    return response.json()


def act(client, ticket_id: str, action: str, headers=DESK, **body):
    return client.post(f"/api/v1/tickets/{ticket_id}/actions/{action}", json=body, headers=headers)


def at(minute: int) -> str:
    return f"2026-11-22T03:{minute:02d}:00Z"


def test_second_occurrence_of_a_key_is_a_duplicate_linked_to_the_master(redis_url):
    with client_for(redis_url) as client:
        [first] = send(client, am_alert("DiskFull", starts=at(0), severity="critical", summary="disk"))
        [second] = send(client, am_alert("DiskFull", starts=at(5)))
        assert first["outcome"] == "new" and first["ticket_id"] == first["master_id"]
        assert second["outcome"] == "duplicate" and second["master_id"] == first["ticket_id"]
        detail = ticket(client, first["ticket_id"])
        assert detail["duplicates"] == [second["ticket_id"]]
        master = detail["ticket"]
        assert master["duplicate_count"] == 1 and master["priority"] == 1 and master["kind"] == "master"
        dup = ticket(client, second["ticket_id"])["ticket"]
        assert dup["kind"] == "duplicate" and dup["master_id"] == first["ticket_id"]
        assert dup["title"] == master["title"] and dup["priority"] == 1  # content copied from the master
        assert dup["timeline"][0]["note"] == f"duplicate of {first['ticket_id']}"


def test_a_duplicate_stores_only_its_own_facts_and_shows_its_masters(redis_url):
    """A duplicate's hash holds its status and its alert's facts; kind and master come from its id,
    CI, priority and source from the master: in the API, in list filters, in an action's answer,
    and in the script's answers for its occurrence's redelivery and recovery."""
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("DiskFull", starts=at(0), severity="critical", host="db7"))
        [d] = send(client, am_alert("DiskFull", starts=at(5), host="db7"))
        stored = redis.Redis.from_url(redis_url).hgetall(ticket_key(d["ticket_id"]))
        assert sorted(stored) == [b"alert_source", b"created_at", b"occurrence_id", b"outage_start", b"status"]
        dup = ticket(client, d["ticket_id"])["ticket"]
        assert (dup["kind"], dup["master_id"], dup["ci"], dup["priority"], dup["source"]) == (
            "duplicate", m["ticket_id"], "db7", 1, "monitoring")
        listed = client.get("/api/v1/tickets?kind=duplicate&ci=db7&priority=1&source=monitoring",
                            headers=VIEW).json()["tickets"]
        assert [t["id"] for t in listed] == [d["ticket_id"]]
        assert client.get("/api/v1/tickets?kind=duplicate&priority=2", headers=VIEW).json()["tickets"] == []
        commented = act(client, d["ticket_id"], "comment", note="same disk")
        assert commented.status_code == 200 and commented.json()["ci"] == "db7"
        [again] = send(client, am_alert("DiskFull", starts=at(5), host="db7"))
        assert (again["outcome"], again["ticket_id"], again["master_id"]) == ("repeat", d["ticket_id"], m["ticket_id"])
        [recovered] = send(client, am_alert("DiskFull", starts=at(5), host="db7", status="resolved"))
        assert (recovered["outcome"], recovered["master_id"]) == ("recovered", m["ticket_id"])


def test_recovery_resolves_master_and_duplicates_then_refiring_reopens(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("HighLoad", starts=at(0)))
        [d] = send(client, am_alert("HighLoad", starts=at(1)))
        [r] = send(client, am_alert("HighLoad", starts=at(0), status="resolved"))
        assert r["outcome"] == "resolved" and r["ticket_id"] == m["ticket_id"]
        master, dup = ticket(client, m["ticket_id"])["ticket"], ticket(client, d["ticket_id"])["ticket"]
        assert master["status"] == dup["status"] == "resolved"
        assert master["resolution_code"] == "monitoring_recovered" and master["outage_end"]
        [again] = send(client, am_alert("HighLoad", starts=at(40)))
        assert again["outcome"] == "reopened" and again["ticket_id"] == m["ticket_id"]
        master = ticket(client, m["ticket_id"])["ticket"]
        assert master["status"] == "in_progress" and master["reopen_count"] == 1
        assert master["timeline"][-1]["action"] == "reopen"


def test_recovery_of_a_duplicate_never_touches_the_master(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("Flap", starts=at(0)))
        [d] = send(client, am_alert("Flap", starts=at(1)))
        [r] = send(client, am_alert("Flap", starts=at(1), status="resolved"))
        assert r["outcome"] == "recovered" and r["ticket_id"] == d["ticket_id"]
        assert ticket(client, m["ticket_id"])["ticket"]["status"] == "open"
        assert ticket(client, d["ticket_id"])["ticket"]["outage_end"]


def test_after_close_a_firing_within_the_lookback_is_a_recurrence(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("Disk", starts=at(0), summary="disk almost full"))
        assert act(client, m["ticket_id"], "resolve", resolution_code="resolved_by_workaround").status_code == 200
        closed = act(client, m["ticket_id"], "close", closure_code="completed")
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        time.sleep(0.01)
        [n] = send(client, am_alert("Disk", starts=at(50)))
        assert n["outcome"] == "recurrence" and n["ticket_id"] != m["ticket_id"]
        new = ticket(client, n["ticket_id"])["ticket"]
        assert new["recurrence_of"] == m["ticket_id"] and new["title"] == "disk almost full"
        assert ticket(client, m["ticket_id"])["recurrences"] == [n["ticket_id"]]


def test_resolved_master_past_the_window_gives_a_new_master(redis_url):
    with client_for(redis_url, ALERTGATE_DEDUP_WINDOW="1s") as client:
        [m] = send(client, am_alert("Slow", starts=at(0)))
        send(client, am_alert("Slow", starts=at(0), status="resolved"))
        time.sleep(1.3)
        [n] = send(client, am_alert("Slow", starts=at(30)))
        assert n["outcome"] == "new" and n["ticket_id"] != m["ticket_id"]


def test_open_master_past_the_window_is_left_and_the_fault_is_a_new_incident(redis_url):
    with client_for(redis_url, ALERTGATE_DEDUP_WINDOW="1s") as client:
        [m] = send(client, am_alert("Slow", starts=at(0)))
        [d] = send(client, am_alert("Slow", starts=at(1)))  # within the window
        time.sleep(1.3)
        [n] = send(client, am_alert("Slow", starts=at(30)))
        assert d["outcome"] == "duplicate" and d["master_id"] == m["ticket_id"]
        assert n["outcome"] == "new" and n["ticket_id"] != m["ticket_id"]
        # the key's occurrences from now on go to the new master; the old one keeps its own
        [d2] = send(client, am_alert("Slow", starts=at(31)))
        assert d2["outcome"] == "duplicate" and d2["master_id"] == n["ticket_id"]
        [r] = send(client, am_alert("Slow", starts=at(0), status="resolved"))
        assert r["outcome"] == "resolved" and r["ticket_id"] == m["ticket_id"]
        assert ticket(client, m["ticket_id"])["ticket"]["duplicate_count"] == 1
        assert ticket(client, d["ticket_id"])["ticket"]["status"] == "resolved"
        assert ticket(client, n["ticket_id"])["ticket"]["status"] == "open"


def test_unknown_recovery_is_ignored_and_zabbix_update_lands_on_the_timeline(redis_url):
    with client_for(redis_url) as client:
        [r] = send(client, am_alert("Never", status="resolved"))
        assert r == {"occurrence_id": r["occurrence_id"], "outcome": "ignored", "ticket_id": None, "master_id": None}
        url = "/api/v1/alerts/zabbix"
        [p] = client.post(url, json=zabbix_event("77"), headers=SOURCE).json()["results"]
        ack = zabbix_event("77", update="1", event_update_action="acknowledged", event_update_user="Ann",
                           event_update_message="on it")
        [u] = client.post(url, json=ack, headers=SOURCE).json()["results"]
        assert u["outcome"] == "updated" and u["ticket_id"] == p["ticket_id"]
        timeline = ticket(client, p["ticket_id"])["ticket"]["timeline"]
        assert timeline[-1]["action"] == "source_update" and timeline[-1]["actor"] == "Ann"


def _snapshot(client) -> list[tuple]:
    page = client.get("/api/v1/tickets?limit=500", headers=VIEW).json()["tickets"]
    return sorted((t["id"], t["status"], t["duplicate_count"], len(t["timeline"])) for t in page)


def test_alertmanager_body_delivered_five_times_changes_nothing_after_the_first(redis_url):
    with client_for(redis_url) as client:
        body = am_body(am_alert("A", starts=at(0)), am_alert("A", starts=at(1)), am_alert("B", host="web2"),
                       am_alert("C", status="resolved"))
        first = client.post(AM, json=body, headers=SOURCE).json()["results"]
        assert [r["outcome"] for r in first] == ["new", "duplicate", "new", "ignored"]
        before = _snapshot(client)
        for _ in range(4):
            again = client.post(AM, json=body, headers=SOURCE).json()["results"]
            assert [r["outcome"] for r in again] == ["repeat", "repeat", "repeat", "ignored"]
            assert [r["ticket_id"] for r in again[:3]] == [r["ticket_id"] for r in first[:3]]
        assert _snapshot(client) == before and len(before) == 3


def test_zabbix_event_delivered_five_times_changes_nothing_after_the_first(redis_url):
    with client_for(redis_url) as client:
        results = [client.post("/api/v1/alerts/zabbix", json=zabbix_event("501"), headers=SOURCE).json()["results"][0]
                   for _ in range(5)]
        assert [r["outcome"] for r in results] == ["new"] + ["repeat"] * 4
        assert len({r["ticket_id"] for r in results}) == 1
        assert len(_snapshot(client)) == 1


def test_suppressed_alerts_are_reported_without_a_ticket(redis_url):
    # Suppression comes from rules (issue 4); the outcome path exists already.
    from alertgate.dedup.decide import Outcome
    assert Outcome.SUPPRESSED.value == "suppressed"
