"""Maintenance windows in the state Redis: one JSON record each, their ids, and a version that
every change bumps (each gateway process reloads its windows when it moves). Changes are
transactions under WATCH; a record that cannot be read is skipped and logged."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import msgspec
import structlog
from redis.exceptions import WatchError

from alertgate.keys import MAINTENANCE_IDS, MAINTENANCE_SEQUENCE, MAINTENANCE_VERSION, maintenance_key
from alertgate.maintenance.model import Window

log = structlog.get_logger("alertgate.maintenance")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Window).decode


class WindowNotFound(KeyError):
    pass


def _read(raw: bytes | None, window_id: str) -> Window | None:
    if raw is None:
        return None
    try:
        return _decode(raw)
    except (msgspec.DecodeError, ValueError):
        log.error("maintenance_window_unreadable", id=window_id)
        return None


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
            pipe.set(MAINTENANCE_VERSION, secrets.token_hex(8))
            await pipe.execute()
        return window

    async def get(self, window_id: str) -> Window:
        found = _read(await self._redis.get(maintenance_key(window_id)), window_id)
        if found is None:
            raise WindowNotFound(window_id)
        return found

    async def all(self) -> list[Window]:
        ids = [i.decode() for i in await self._redis.zrange(MAINTENANCE_IDS, 0, -1)]
        if not ids:
            return []
        raws = await self._redis.mget([maintenance_key(i) for i in ids])
        return [w for w in (_read(raw, i) for i, raw in zip(ids, raws)) if w is not None]

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
                    pipe.set(MAINTENANCE_VERSION, secrets.token_hex(8))
                    await pipe.execute()
                    return changed
                except WatchError:
                    continue
