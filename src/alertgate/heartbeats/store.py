"""Heartbeats in the state Redis: one JSON record per heartbeat, the set of names, and a zset of
deadlines that the sweep reads. Every change is a transaction under WATCH (retried on a race),
so a ping, an expiry and a pause never overwrite one another, on a Cluster too (``keys.py``: the
heartbeat keys share one slot). A record that cannot be read is skipped and logged, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
import structlog
from redis.exceptions import WatchError

from alertgate.heartbeats.model import Heartbeat, HeartbeatStatus
from alertgate.keys import HEARTBEAT_DEADLINES, HEARTBEAT_NAMES, heartbeat_key
from alertgate.moments import zoned

log = structlog.get_logger("alertgate.heartbeats")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Heartbeat).decode

Change = Callable[[Heartbeat | None], Heartbeat | None]


class HeartbeatNotFound(KeyError):
    pass


class HeartbeatLimitReached(Exception):
    """A new heartbeat would make more than the limit (``heartbeats.auto_register_limit``)."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"no heartbeat {name}: {limit} heartbeats exist (heartbeats.auto_register_limit)")
        self.name, self.limit = name, limit


def _read(raw: bytes | None, name: str) -> Heartbeat | None:
    if raw is None:
        return None
    try:
        return zoned(_decode(raw))
    except (msgspec.DecodeError, ValueError):
        log.error("heartbeat_unreadable", name=name)
        return None


class HeartbeatStore:
    def __init__(self, redis) -> None:
        self._redis = redis

    async def get(self, name: str) -> Heartbeat | None:
        return _read(await self._redis.get(heartbeat_key(name)), name)

    async def all(self) -> list[Heartbeat]:
        names = sorted(n.decode(errors="replace") for n in await self._redis.smembers(HEARTBEAT_NAMES))
        if not names:
            return []
        raws = await self._redis.mget([heartbeat_key(n) for n in names])
        return [hb for hb in (_read(raw, n) for n, raw in zip(names, raws)) if hb is not None]

    async def due(self, now: datetime) -> list[str]:
        return [n.decode(errors="replace") for n in await self._redis.zrangebyscore(HEARTBEAT_DEADLINES, "-inf", now.timestamp())]

    async def change(self, name: str, change: Change,
                     limit: int | None = None) -> tuple[Heartbeat | None, Heartbeat | None]:
        """(before, after) of ``change`` applied atomically; after None from it: nothing written.
        With ``limit``, a new heartbeat is refused (HeartbeatLimitReached) when that many exist:
        the count is watched with the record, so concurrent registrations never pass it."""
        key = heartbeat_key(name)
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    before = _read(raw, name)
                    full = False
                    if raw is None and limit is not None:   # (an unreadable record is replaced, not added)
                        await pipe.watch(HEARTBEAT_NAMES)
                        full = await pipe.scard(HEARTBEAT_NAMES) >= limit
                    after = change(before)
                    if after is None:
                        await pipe.reset()
                        return before, None
                    if full:
                        await pipe.reset()
                        raise HeartbeatLimitReached(name, limit)
                    pipe.multi()
                    pipe.set(key, _encode(after))
                    pipe.sadd(HEARTBEAT_NAMES, name)
                    if after.status is HeartbeatStatus.OK and after.expires_at is not None:
                        pipe.zadd(HEARTBEAT_DEADLINES, {name: after.expires_at.timestamp()})
                    else:
                        pipe.zrem(HEARTBEAT_DEADLINES, name)
                    await pipe.execute()
                    return before, after
                except WatchError:
                    continue

    async def delete(self, name: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(heartbeat_key(name))
            pipe.srem(HEARTBEAT_NAMES, name)
            pipe.zrem(HEARTBEAT_DEADLINES, name)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)
