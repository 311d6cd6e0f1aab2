"""The CIs pushed through the API, in the state Redis: one JSON record each in a hash, and a
version every change renews (each process rebuilds its catalogue when it moves); and the raw CIs
the catalogue did not know, counted. A record that cannot be read is skipped and logged."""

from __future__ import annotations

import secrets

import msgspec
import structlog

from alertgate.correlation.catalogue import CI
from alertgate.keys import CATALOGUE_RECORDS, CATALOGUE_UNKNOWN, CATALOGUE_VERSION

log = structlog.get_logger("alertgate.catalogue")
# The raw CIs kept counted: the most alerts first. Senders that name a new CI in each alert (a pod,
# an IP and port) would grow the count without bound; the metric counts every alert still.
UNKNOWN_KEPT = 10_000
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(CI).decode


class CatalogueStore:
    def __init__(self, redis) -> None:
        self._redis = redis

    async def version(self) -> bytes | None:
        return await self._redis.get(CATALOGUE_VERSION)

    async def all(self) -> list[CI]:
        found = []
        for name, raw in sorted((await self._redis.hgetall(CATALOGUE_RECORDS)).items()):
            try:
                found.append(_decode(raw))
            except (msgspec.DecodeError, ValueError):
                log.error("catalogue_record_unreadable", name=name.decode(errors="replace"))
        return found

    async def put(self, ci: CI) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(CATALOGUE_RECORDS, ci.name, _encode(ci))
            pipe.set(CATALOGUE_VERSION, secrets.token_hex(8))
            await pipe.execute()

    async def delete(self, name: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(CATALOGUE_RECORDS, name)
            pipe.set(CATALOGUE_VERSION, secrets.token_hex(8))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def count_unknown(self, counts: dict[str, int]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw, count in counts.items():
                pipe.zincrby(CATALOGUE_UNKNOWN, count, raw)
            pipe.zremrangebyrank(CATALOGUE_UNKNOWN, 0, -UNKNOWN_KEPT - 1)   # (the fewest alerts go)
            await pipe.execute()

    async def unknown(self, limit: int) -> list[tuple[str, int]]:
        rows = await self._redis.zrevrange(CATALOGUE_UNKNOWN, 0, limit - 1, withscores=True)
        return [(raw.decode(errors="replace"), int(score)) for raw, score in rows]

    async def forget_unknown(self) -> None:
        await self._redis.delete(CATALOGUE_UNKNOWN)
