"""Maintenance windows in the state Redis: one JSON record each, their ids, and a version that
every change bumps (each gateway process reloads its windows when it moves). Changes are
transactions under WATCH; a record that cannot be read is skipped and logged.

Records stay when a window is over, so they pile up: a year of per-host patch nights is tens of
thousands. The processes read only the windows they may still need (``live``): each window's
id is also kept with the time until which it matters (``needed_until``), written in the same
transaction as the record. That time may be late, never early: a late one costs a process a
record it reads and finds over."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import datetime

import msgspec
import structlog
from redis.exceptions import WatchError

from alertgate.keys import (MAINTENANCE_IDS, MAINTENANCE_LIVE, MAINTENANCE_LIVE_BUILT, MAINTENANCE_SEQUENCE,
                            MAINTENANCE_VERSION, maintenance_key)
from alertgate.maintenance.model import Window
from alertgate.moments import zoned

log = structlog.get_logger("alertgate.maintenance")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Window).decode


GRACE = 3600.0   # seconds a window stays live after it is over: the worker's sweeps see its end


class WindowNotFound(KeyError):
    pass


def needed_until(window: Window) -> float:
    """Until when (epoch seconds) the gateways and the worker need the window: to its end (for
    ever, for a recurring one not ended), while a silence or maintenance pushed for it may still
    hold or a failed push is retried, and ``GRACE`` more."""
    if window.ended_at is not None:
        end = window.ended_at if window.recurrence else min(window.ended_at, window.ends_at)
    elif window.recurrence:
        return math.inf
    else:
        end = window.ends_at
    until = end.timestamp()
    for push in window.pushes.values():
        if push.status == "failed":
            return math.inf
        if push.status == "pushed" and push.ends_at is not None:
            until = max(until, push.ends_at.timestamp())
    return until + GRACE


def _read(raw: bytes | None, window_id: str) -> Window | None:
    if raw is None:
        return None
    try:
        window = _decode(raw)
    except (msgspec.DecodeError, ValueError):
        log.error("maintenance_window_unreadable", id=window_id)
        return None
    return zoned(window)   # (an older version stored a POST's zoneless times as sent)


class WindowStore:
    def __init__(self, redis) -> None:
        self._redis = redis

    async def version(self) -> bytes | None:
        """A new random value at every change (not a counter: a Redis that lost its data would
        count again from the start, and a process would keep windows that are gone)."""
        return await self._redis.get(MAINTENANCE_VERSION)

    async def new_id(self) -> str:
        return f"MW-{await self._redis.incr(MAINTENANCE_SEQUENCE):06d}"

    async def create(self, window: Window) -> Window:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(maintenance_key(window.id), _encode(window))
            pipe.zadd(MAINTENANCE_IDS, {window.id: window.created_at.timestamp()})
            pipe.zadd(MAINTENANCE_LIVE, {window.id: needed_until(window)})
            pipe.zremrangebyscore(MAINTENANCE_LIVE, "-inf", f"({window.created_at.timestamp() - 86400}")
            pipe.set(MAINTENANCE_VERSION, secrets.token_hex(8))
            await pipe.execute()
        return window

    async def get(self, window_id: str) -> Window:
        found = _read(await self._redis.get(maintenance_key(window_id)), window_id)
        if found is None:
            raise WindowNotFound(window_id)
        return found

    async def all(self) -> list[Window]:
        return await self._windows([i.decode(errors="replace") for i in await self._redis.zrange(MAINTENANCE_IDS, 0, -1)])

    async def live(self, now: datetime) -> list[Window]:
        """The windows not over at ``now`` (and some just over): what a process holds in force."""
        if not await self._redis.exists(MAINTENANCE_LIVE_BUILT):
            await self._build_live()
        ids = await self._redis.zrangebyscore(MAINTENANCE_LIVE, now.timestamp(), "+inf")
        return await self._windows(sorted((i.decode(errors="replace") for i in ids), key=lambda i: (len(i), i)))   # (by number)

    async def page(self, limit: int, after: str | None = None) -> tuple[list[Window], str | None]:
        """Up to ``limit`` windows, newest first, from the one after ``after``; and the cursor of
        the next page (None at the last). Raises WindowNotFound for an ``after`` not kept."""
        start = 0
        if after is not None:
            rank = await self._redis.zrevrank(MAINTENANCE_IDS, after)
            if rank is None:
                raise WindowNotFound(after)
            start = rank + 1
        ids = [i.decode(errors="replace") for i in await self._redis.zrevrange(MAINTENANCE_IDS, start, start + limit)]
        more = len(ids) > limit
        ids = ids[:limit]
        return await self._windows(ids), (ids[-1] if more else None)

    async def count(self) -> int:
        return await self._redis.zcard(MAINTENANCE_IDS)

    async def _windows(self, ids: list[str]) -> list[Window]:
        if not ids:
            return []
        raws = await self._redis.mget([maintenance_key(i) for i in ids])
        return [w for w in (_read(raw, i) for i, raw in zip(ids, raws)) if w is not None]

    async def _build_live(self) -> None:
        """Once, for windows kept before the live index: each window's time, added where none is
        (a change meanwhile wrote its own, which stands)."""
        times = {window.id: needed_until(window) for window in await self.all()}
        if times:
            await self._redis.zadd(MAINTENANCE_LIVE, times, nx=True)
        await self._redis.set(MAINTENANCE_LIVE_BUILT, 1)

    async def change(self, window_id: str, change: Callable[[Window], Window]) -> Window:
        key = maintenance_key(window_id)
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    current = _read(await pipe.get(key), window_id)
                    if current is None:
                        raise WindowNotFound(window_id)
                    changed = change(current)
                    pipe.multi()
                    pipe.set(key, _encode(changed))
                    pipe.zadd(MAINTENANCE_LIVE, {changed.id: needed_until(changed)})
                    pipe.set(MAINTENANCE_VERSION, secrets.token_hex(8))
                    await pipe.execute()
                    return changed
                except WatchError:
                    continue
