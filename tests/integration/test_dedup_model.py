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
        unresolved = [t for t in masters if t.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)]
        assert len(unresolved) <= 1
        for m in masters:
            assert m.duplicate_count == len(await tickets.duplicate_ids(m.id))
        return expected, actual
    finally:
        await client.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=events)
def test_lua_script_agrees_with_the_pure_decision(redis_url, sequence):
    sync_redis.Redis.from_url(redis_url).flushall()
    expected, actual = asyncio.run(replay(redis_url, sequence))
    assert actual == expected
