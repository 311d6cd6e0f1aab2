"""The dispatcher waits a moment after a small read, so that a storm's masters, arriving one by
one, are read in batches; after a full read, or an empty one (the read itself waited), it reads
again at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import fakeredis

from alertgate.workers import intents
from alertgate.workers.intents import LINGER, LINGER_BELOW, IntentConsumer


def test_the_consumer_lingers_only_after_a_small_read(monkeypatch) -> None:
    reads = [1, LINGER_BELOW, 0, LINGER_BELOW - 1, 0]
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def step(block_ms=None, claim_idle=None) -> int:
        return reads.pop(0)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    async def body() -> None:
        ctx = SimpleNamespace(settings=SimpleNamespace(intent_claim_idle=30, redis_timeout=2))
        consumer = IntentConsumer(ctx, fakeredis.FakeAsyncRedis(), None, None, None)

        async def ready() -> None:
            return None
        consumer.streams.ensure_groups = ready
        consumer.step = step
        await consumer.run(lambda: bool(reads))

    monkeypatch.setattr(intents.asyncio, "sleep", sleep)
    asyncio.run(body())
    assert slept == [LINGER, LINGER]   # (after 1 and after LINGER_BELOW - 1 intents)
