"""A storm of Alertmanager deliveries from senders that retry as Alertmanager does (on 5xx and on
connection errors), with a fault injected while it runs; and the exactly-once check after it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.census import census
from tests.conftest import SOURCE_SECRET
from tests.integration.helpers import am_body

SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
KEYS, PER_KEY = 40, 10


def occurrence(n: int) -> dict:
    key = n % KEYS
    return {"labels": {"alertname": f"Storm{key % 4}", "instance": f"node{key // 4}:9100"},
            "startsAt": f"2026-11-22T03:{n // 60 % 60:02d}:{n % 60:02d}Z", "status": "firing"}


def send_until_accepted(url: str, alerts: list[dict], deadline: float) -> int:
    """POST until 200, like Alertmanager: retry on 5xx, timeouts and refused connections."""
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            response = httpx.post(url, json=am_body(*alerts), headers=SOURCE, timeout=5)
            if response.status_code == 200:
                return attempts
            assert response.status_code >= 500, response.text
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("a delivery was never accepted")


def storm(base: str, batch: int, crash, deadline_s: float = 60) -> None:
    url = base + "/api/v1/alerts/alertmanager"
    alerts = [occurrence(n) for n in range(KEYS * PER_KEY)]
    batches = [alerts[i:i + batch] for i in range(0, len(alerts), batch)]
    deadline = time.monotonic() + deadline_s
    crasher = threading.Thread(target=crash)
    crasher.start()
    with ThreadPoolExecutor(6) as pool:
        attempts = list(pool.map(lambda b: send_until_accepted(url, b, deadline), batches))
    crasher.join()
    assert sum(attempts) > len(batches), "the crash should have hit deliveries in flight"


def assert_exactly_once(base: str, client: Any) -> None:
    """``client``: a sync Redis or RedisCluster client of the state store."""
    found = census(client)
    assert found == {"masters": KEYS, "duplicates": KEYS * (PER_KEY - 1), "counted": KEYS * (PER_KEY - 1)}
    # and a full redelivery now changes nothing
    url = base + "/api/v1/alerts/alertmanager"
    alerts = [occurrence(n) for n in range(KEYS * PER_KEY)]
    outcomes = httpx.post(url, json=am_body(*alerts), headers=SOURCE, timeout=30).json()["results"]
    assert {r["outcome"] for r in outcomes} == {"repeat"}
    assert_one_intent_per_master(client)


def assert_one_intent_per_master(client: Any) -> None:
    """The dispatch of every master is written in the call that created it (``dedup/ingest.lua``),
    once: no worker ran, so each is still in its shard's stream (issue #27)."""
    from alertgate.keys import intents_keys

    intents = [(fields[b"ticket"], fields[b"work"]) for stream in intents_keys() for _, fields in client.xrange(stream)]
    assert len(intents) == KEYS and len({ticket for ticket, _ in intents}) == KEYS
    assert {work for _, work in intents} == {b"new"}
