"""The Zabbix events reconciliation asks about (SPEC §9): a master's and those of its unresolved
duplicates. A trigger that opens a new event at every check (Zabbix's "multiple" problem
generation) gives its master thousands of duplicates; each was read whole, one round trip
at a time, every interval. Now their status and occurrence id are read a chunk per round trip."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aredis

from alertgate.keys import ticket_key
from alertgate.tickets.store import TicketStore
from alertgate.workers.reconcile_sweep import _open_event_ids
from tests.integration.helpers import SOURCE, client_for, zabbix_event

pytestmark = pytest.mark.integration

EVENTS = 1_200   # (two chunks)


def test_a_master_s_open_events_are_its_own_and_its_unresolved_duplicates(redis_url):
    with client_for(redis_url) as client:
        results = [client.post("/api/v1/alerts/zabbix", json=zabbix_event(str(700_000 + n), trigger_id="4242"),
                               headers=SOURCE).json()["results"][0] for n in range(EVENTS)]
    assert [r["outcome"] for r in results] == ["new"] + ["duplicate"] * (EVENTS - 1)
    master = results[0]["ticket_id"]
    state = redis.Redis.from_url(redis_url)
    for k in (1, 1000, 1001, EVENTS - 1):   # (a chunk's first and last, the next chunk's first, the last)
        state.hset(ticket_key(f"{master}-{k}"), "status", "resolved")
    state.hset(ticket_key(f"{master}-7"), "status", "closed")
    state.delete(ticket_key(f"{master}-8"))   # (a duplicate whose record is gone)

    async def ask() -> set[str]:
        connection = aredis.Redis.from_url(redis_url)
        store = TicketStore(connection)
        try:
            return await _open_event_ids(store, await store.get(master))
        finally:
            await connection.aclose()

    gone = {1, 1000, 1001, EVENTS - 1, 7, 8}   # (duplicate k holds event 700_000 + k)
    assert asyncio.run(ask()) == {str(700_000 + n) for n in range(EVENTS) if n not in gone}
