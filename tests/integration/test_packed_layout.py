"""A new master's content in one packed value (issue #27, item 3; tickets/codec.py): written by
the ingest script, read by every reader, overridden by later changes, copied by a recurrence; a
value that cannot be read never breaks a read; a ticket stored before reads as it did."""

from __future__ import annotations

import time

import msgspec
import pytest
import redis

from alertgate.keys import ticket_key
from alertgate.tickets.codec import PACKED, PACKED_FIELDS
from tests.integration.helpers import am_alert, client_for
from tests.integration.test_dedup_http import DESK, VIEW, act, at, send, ticket

pytestmark = pytest.mark.integration


def stored(redis_url: str, ticket_id: str) -> dict[str, bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {k.decode(): v for k, v in client.hgetall(ticket_key(ticket_id)).items()}
    finally:
        client.close()


def test_a_new_master_keeps_its_content_packed_and_shows_all_of_it(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("DiskFull", "db1", severity="critical", summary="disk almost full", starts=at(0)))
        [d] = send(client, am_alert("DiskFull", "db1", severity="critical", starts=at(1)))
        raw = stored(redis_url, m["ticket_id"])
        content = msgspec.msgpack.decode(raw[PACKED])
        assert {"title", "sla", "labels", "impact", "route_group"} <= set(content) <= PACKED_FIELDS
        assert not set(raw) & PACKED_FIELDS   # none of them stored twice
        assert {"status", "kind", "ci", "priority", "duplicate_count"} <= set(raw)   # what scripts and lists read
        master = ticket(client, m["ticket_id"])["ticket"]
        assert master["title"] == "disk almost full" and master["labels"]["severity"] == "critical"
        assert len(master["sla"]) == 3 and master["sla"][0]["target"] == "assignment"
        duplicate = ticket(client, d["ticket_id"])["ticket"]
        assert (duplicate["title"], duplicate["impact"], duplicate["labels"]) == ("disk almost full", master["impact"],
                                                                              master["labels"])
        queue = client.get("/api/v1/queue", headers=VIEW)
        assert queue.status_code == 200, queue.text
        [row] = [t for t in queue.json()["tickets"] if t["id"] == m["ticket_id"]]
        assert row["title"] == "disk almost full" and row["sla"]


def test_a_later_change_wins_over_the_packed_value_and_a_recurrence_copies_it(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("Disk", "db2", summary="disk almost full", starts=at(0)))
        changed = act(client, m["ticket_id"], "reprioritise", impact=1, reason="the payroll runs on it")
        assert changed.status_code == 200, changed.text
        raw = stored(redis_url, m["ticket_id"])
        assert raw["impact"] == b"1" and msgspec.msgpack.decode(raw[PACKED])["impact"] != "1"
        assert ticket(client, m["ticket_id"])["ticket"]["impact"] == 1
        client_redis = redis.Redis.from_url(redis_url)
        client_redis.hset(ticket_key(m["ticket_id"]), "title", "disk full, renamed")   # (as an edit would)
        client_redis.close()
        assert act(client, m["ticket_id"], "resolve", resolution_code="resolved_by_workaround").status_code == 200
        assert act(client, m["ticket_id"], "close", closure_code="completed").status_code == 200
        time.sleep(0.01)
        [n] = send(client, am_alert("Disk", "db2", summary="another words", starts=at(50)))
        assert n["outcome"] == "recurrence"
        new = ticket(client, n["ticket_id"])["ticket"]
        assert (new["title"], new["recurrence_of"]) == ("disk full, renamed", m["ticket_id"])
        assert new["route_group"] == ticket(client, m["ticket_id"])["ticket"]["route_group"]


def test_a_packed_value_that_cannot_be_read_never_breaks_a_read(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("Cpu", "web1", summary="cpu hot", starts=at(0)))
        [d] = send(client, am_alert("Cpu", "web1", starts=at(1)))
        for poison in (b"\xc1not msgpack", msgspec.msgpack.encode({"title": 7}), msgspec.msgpack.encode([1, 2])):
            client_redis = redis.Redis.from_url(redis_url)
            client_redis.hset(ticket_key(m["ticket_id"]), PACKED, poison)
            client_redis.close()
            shown = ticket(client, m["ticket_id"])["ticket"]
            assert shown["status"] == "open" and shown["ci"] == "web1"
            assert "packed" in shown["timeline"][-1]["note"]   # named as unreadable, left as stored
            assert ticket(client, d["ticket_id"])["ticket"]["ci"] == "web1"
            assert client.get("/api/v1/queue", headers=VIEW).status_code == 200
            assert client.get("/api/v1/tickets", headers=VIEW).status_code == 200
            assert act(client, m["ticket_id"], "comment", note="still workable").status_code == 200


def test_a_ticket_stored_before_the_packed_layout_reads_as_it_did(redis_url):
    with client_for(redis_url) as client:
        [m] = send(client, am_alert("Mem", "app1", summary="memory low", starts=at(0)))
        client_redis = redis.Redis.from_url(redis_url)
        key = ticket_key(m["ticket_id"])
        content = msgspec.msgpack.decode(client_redis.hget(key, PACKED))
        client_redis.hdel(key, PACKED)
        client_redis.hset(key, mapping=content)   # every field its own, as before issue #27
        client_redis.close()
        shown = ticket(client, m["ticket_id"])["ticket"]
        assert shown["title"] == "memory low" and len(shown["sla"]) == 3
        assert act(client, m["ticket_id"], "assign", headers=DESK, group="network").status_code == 200
