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
from alertgate.keys import dedup_tag, state_key
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
    # ok1's key was new to this process, so it went with its master's fields and was applied in
    # that call: the sender's retry finds it, and nothing is recorded twice.
    assert again == ["repeat"]


def test_a_new_incident_takes_one_script_call_and_a_known_key_goes_without_master_fields(redis_url):
    """Whether an alert carries its would-be master's fields is a per-process hint (keys seen
    holding a ticket go without); the script decides the same either way."""
    sent: list[bool] = []  # per alert sent: did it carry the master's fields?

    def spy(store: DedupStore) -> DedupStore:
        run = store._calls.run

        async def recording(calls_: list) -> tuple:
            sent.extend(len(args) > 14 for _, args in calls_)
            return await run(calls_)

        store._calls.run = recording  # type: ignore[method-assign]
        return store

    async def scenario() -> list[list[str]]:
        client = Redis.from_url(redis_url)
        try:
            one, other = (spy(DedupStore(client, 86400, 3600, {})) for _ in range(2))
            later = datetime(2026, 11, 22, 2, tzinfo=timezone.utc)  # past the 30-minute window
            return [
                await ingest(one, [alert("fresh1", 0)]),    # new key: fields at once, one call
                await ingest(one, [alert("fresh1", 1)]),    # known here: without them
                await ingest(other, [alert("fresh1", 2)]),  # unknown to that process: with them
                await ingest(other, [alert("fresh1", 3)]),
                [r.outcome.value for r in await one.ingest([alert("fresh1", 4)], [POLICY], later)],
            ]
        finally:
            await client.aclose()

    outcomes = asyncio.run(scenario())
    assert outcomes == [["new"], ["duplicate"], ["duplicate"], ["duplicate"], ["new"]]
    # the last alert went without (its key known), was told its master had left the window
    # (need_master) and went again with them
    assert sent == [True, False, True, False, False, True]
