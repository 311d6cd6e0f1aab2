"""The Lua script against the pure decision: random event sequences on one key, replayed through
both with the same clock, must give the same outcomes (dedup/decide.py is the reference)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given, settings, strategies as st
from redis.asyncio import Redis

from alertgate.dedup.store import DedupStore
from alertgate.rules.policy import Policy
from alertgate.settings import Role
from alertgate.tickets.alert import Alert, AlertStatus
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor, IllegalTransition
from alertgate.keys import ticket_key
from alertgate.tickets.model import ClosureCode, TicketKind, TicketStatus
from alertgate.tickets.store import TicketFilter, TicketStore
from tests.unit.test_decide import KeyModel

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, tzinfo=timezone.utc)
WINDOW, LOOKBACK = 1800.0, 20000.0
events = st.lists(st.tuples(st.sampled_from(["fire", "fire", "recover", "close"]), st.integers(0, 4),
                            st.floats(0, 3000)), min_size=1, max_size=40)


def alert(occ: int, status: AlertStatus, now: datetime) -> Alert:
    return Alert(source="alertmanager", occurrence_id=f"am:occ{occ}", ci="db1", symptom="DiskFull", status=status,
                 title="DiskFull", observed_at=now, received_at=now, delivery_id=f"am:occ{occ}:{status.value}")


async def replay(url: str, sequence) -> tuple[list[str], list[str]]:
    client = Redis.from_url(url)
    dedup = DedupStore(client, 10**7, LOOKBACK, {"alertmanager": True})
    tickets = TicketStore(client)
    model, seconds, expected, actual = KeyModel(WINDOW, LOOKBACK), 0.0, [], []
    master: str | None = None
    desk = Actor("desk", Role.SERVICE_DESK)
    try:
        for kind, occ, step in sequence:
            seconds += step
            now = T0 + timedelta(seconds=seconds)
            if kind == "close":
                model.close(seconds)
                if master is not None:
                    try:
                        await tickets.act(master, Action.CLOSE, ActionRequest(closure_code=ClosureCode.COMPLETED), desk, now)
                    except IllegalTransition:
                        pass
                continue
            status = AlertStatus.FIRING if kind == "fire" else AlertStatus.RESOLVED
            expected.append((model.fire if kind == "fire" else model.recover)(occ, seconds).value)
            a = alert(occ, status, now)
            [result] = await dedup.ingest([a], [Policy(dedup_window=WINDOW)], now)
            actual.append(result.outcome.value)
            if result.outcome.value in ("new", "recurrence"):
                master = result.ticket_id
        # counts add up in Redis too
        page, _ = await tickets.list(TicketFilter(), None, 500)
        masters = [t for t in page if t.kind is TicketKind.MASTER]
        for m in masters:
            ids = await tickets.duplicate_ids(m)
            assert len(ids) == m.duplicate_count
            for duplicate in ids:
                assert (await tickets.get(duplicate)).master_id == m.id
        return expected, actual
    finally:
        await client.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=events)
def test_lua_script_agrees_with_the_pure_decision(redis_url, sequence):
    sync_redis.Redis.from_url(redis_url).flushall()
    expected, actual = asyncio.run(replay(redis_url, sequence))
    assert actual == expected


def test_duplicates_are_numbered_after_their_master_and_after_a_listed_past(redis_url):
    """The k-th duplicate of a master is <master>-<k>; a master stored by a version that listed its
    duplicates under <key>:dups keeps those, numbers the next ones after them, and resolves all."""

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        await client.flushall()
        dedup, tickets = DedupStore(client, 10**7, LOOKBACK, {"alertmanager": True}), TicketStore(client)
        try:
            fire = [alert(n, AlertStatus.FIRING, T0 + timedelta(seconds=n)) for n in range(4)]
            results = [(await dedup.ingest([a], [Policy(dedup_window=WINDOW)], a.received_at))[0] for a in fire]
            master = results[0].ticket_id
            assert [r.ticket_id for r in results[1:]] == [f"{master}-1", f"{master}-2", f"{master}-3"]
            # As an older version left it: two duplicates with ids of the key's sequence, in a list.
            key = ticket_key(master)
            await client.hset(key, "duplicate_count", 2)
            legacy = ["INC-%s-7" % master.split("-")[1], "INC-%s-8" % master.split("-")[1]]
            for n, old in zip((1, 2), legacy):
                await client.rename(ticket_key(f"{master}-{n}"), ticket_key(old))
            await client.delete(ticket_key(f"{master}-3"))
            await client.rpush(key + ":dups", *legacy)
            later = alert(9, AlertStatus.FIRING, T0 + timedelta(seconds=9))
            [dup] = await dedup.ingest([later], [Policy(dedup_window=WINDOW)], later.received_at)
            assert dup.ticket_id == f"{master}-3"
            assert await tickets.duplicate_ids(await tickets.get(master)) == [*legacy, f"{master}-3"]
            recovery = alert(0, AlertStatus.RESOLVED, T0 + timedelta(seconds=20))
            [resolved] = await dedup.ingest([recovery], [Policy(dedup_window=WINDOW)], recovery.received_at)
            assert resolved.outcome.value == "resolved"
            for ticket_id in [*legacy, f"{master}-3"]:
                assert (await tickets.get(ticket_id)).status is TicketStatus.RESOLVED
        finally:
            await client.aclose()

    asyncio.run(scenario())
