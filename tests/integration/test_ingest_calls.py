"""Many alerts per ingest-script call (dedup/calls.py): alerts of concurrent requests share a call,
a request larger than one call is split, and an alert the script fails on fails its own request
only."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from alertgate.dedup import calls
from alertgate.dedup.keys import dedup_tag, state_key
from alertgate.dedup.store import DedupStore
from alertgate.rules.policy import Policy
from alertgate.tickets.alert import Alert, AlertStatus

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
POLICY = Policy(dedup_window=1800.0)


def alert(ci: str, n: int = 0) -> Alert:
    return Alert(source="alertmanager", occurrence_id=f"am:{ci}:{n}", ci=ci, symptom="DiskFull",
                 status=AlertStatus.FIRING, title="DiskFull", observed_at=NOW, received_at=NOW,
                 delivery_id=f"am:{ci}:{n}:firing")


async def ingest(store: DedupStore, alerts: list[Alert]) -> list[str]:
    return [r.outcome.value for r in await store.ingest(alerts, [POLICY] * len(alerts), NOW)]


def test_a_request_larger_than_one_call_is_split_and_keeps_its_order(redis_url, monkeypatch):
    monkeypatch.setattr(calls, "ALERTS_PER_CALL", 7)

    async def scenario() -> list[str]:
        client = Redis.from_url(redis_url)
        try:
            store = DedupStore(client, 86400, 3600, {})
            # 20 keys, then the same 20 keys again in one request: 3 calls of ≤ 7 per phase
            batch = [alert(f"db{i}", 0) for i in range(20)] + [alert(f"db{i}", 1) for i in range(20)]
            return await ingest(store, batch)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == ["new"] * 20 + ["duplicate"] * 20


def test_an_alert_the_script_fails_on_fails_its_request_alone(redis_url):
    async def scenario() -> tuple[object, list[str], list[str]]:
        client = Redis.from_url(redis_url)
        try:
            # A key state that is not a hash: the script's HGET on it fails (WRONGTYPE).
            await client.set(state_key(dedup_tag("broken", "DiskFull")), "not a hash")
            store = DedupStore(client, 86400, 3600, {})
            # Submitted in one event-loop turn, so all three go in one script call.
            broken, healthy, other = await asyncio.gather(
                ingest(store, [alert("ok1"), alert("broken")]), ingest(store, [alert("ok2")]),
                ingest(store, [alert("ok3", 0), alert("ok3", 1)]), return_exceptions=True)
            again = await ingest(store, [alert("ok1")])
            return broken, healthy, other, again
        finally:
            await client.aclose()

    broken, healthy, other, again = asyncio.run(scenario())
    assert isinstance(broken, ResponseError) and "WRONGTYPE" in str(broken)
    assert healthy == ["new"] and other == ["new", "duplicate"]
    # The failed request stopped before its new master was written: the sender's retry opens it.
    assert again == ["new"]
