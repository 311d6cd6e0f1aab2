"""The shard indexes read as one: ranges, chunks and the newest-first merge (fakeredis)."""

from __future__ import annotations

import asyncio
import random

import fakeredis

from alertgate.keys import BASE32, index_key, random_tag
from alertgate.tickets import index


def filled(count: int, seed: int) -> tuple[fakeredis.FakeAsyncRedis, list[tuple[str, float]]]:
    rng = random.Random(seed)
    redis = fakeredis.FakeAsyncRedis()
    entries = []
    for _ in range(count):
        tag = random_tag(rng.choice(BASE32))
        entries.append((f"INC-{tag}-1", float(rng.randint(0, count // 4))))  # many equal times

    async def write() -> None:
        for ticket_id, score in entries:
            await redis.zadd(index_key(ticket_id.split("-")[1]), {ticket_id: score})

    asyncio.run(write())
    return redis, entries


def test_newest_first_merges_every_shard_in_order_with_small_batches() -> None:
    redis, entries = filled(700, seed=1)

    async def read() -> list[tuple[str, float]]:
        return [entry async for entry in index.newest_first(redis, "+inf", 40, batch=3)]

    expected = sorted((e for e in entries if e[1] >= 40), key=lambda e: (e[1], e[0]), reverse=True)
    assert asyncio.run(read()) == expected


def test_ranges_and_chunks_cover_every_shard() -> None:
    redis, entries = filled(300, seed=2)

    async def read() -> tuple[list[str], list[str]]:
        between = await index.ids_between(redis, 10, "(20")
        chunks = [ids async for ids in index.all_ids(redis, batch=7)]
        assert all(len(chunk) <= 7 for chunk in chunks)
        return between, [i for chunk in chunks for i in chunk]

    between, every = asyncio.run(read())
    assert sorted(between) == sorted(i for i, score in entries if 10 <= score < 20)
    assert sorted(every) == sorted(i for i, _ in entries)


def test_a_shard_given_to_random_tag_is_kept() -> None:
    assert all(random_tag(shard)[0] == shard for shard in BASE32)
    assert len({random_tag() for _ in range(100)}) == 100
