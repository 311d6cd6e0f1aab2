"""Reading the ticket creation index, which is split into one sorted set per shard
(``keys.index_keys``): ranges are merged here, so callers see one index."""

from __future__ import annotations

import heapq
import re
from typing import Any, AsyncIterator, Iterable, Sequence

import structlog

from alertgate.keys import index_keys

log = structlog.get_logger("alertgate.tickets")
# A ticket id as ``keys.ticket_key`` takes it: a member that is not one (written by hand, or
# broken) is passed over and logged, so that no read of the index breaks on it.
_TICKET_ID = re.compile(rb"INC-[^-]+-[0-9]+(?:-[0-9]+)?").fullmatch


def _ids(members: Iterable[bytes]) -> list[str]:
    found, skipped = [], 0
    for member in members:
        if _TICKET_ID(member):
            found.append(member.decode("ascii", errors="replace"))
        else:
            skipped += 1
    if skipped:
        log.error("ticket_index_entries_unreadable", count=skipped)
    return found


async def ids_between(redis: Any, low: float | str, high: float | str) -> list[str]:
    """Ids with ``low <= created_at <= high`` (redis score syntax, so ``"(x"`` excludes x)."""
    pipe = redis.pipeline(transaction=False)
    for key in index_keys():
        pipe.zrangebyscore(key, low, high)
    return [ticket_id for ids in await pipe.execute() for ticket_id in _ids(ids)]


async def all_ids(redis: Any, batch: int = 1000, keys: Sequence[str] | None = None) -> AsyncIterator[list[str]]:
    """Every id of the shard indexes (or of ``keys``), in chunks of at most ``batch`` (order: by
    shard, then by creation)."""
    for key in keys or index_keys():
        offset = 0
        while True:
            chunk = await redis.zrange(key, offset, offset + batch - 1)
            if not chunk:
                break
            offset += len(chunk)
            yield _ids(chunk)


async def newest_first(redis: Any, high: float | str, low: float | str,
                       batch: int = 100) -> AsyncIterator[tuple[str, float]]:
    """(id, created_at) with ``low <= created_at <= high``, newest first and, on equal times, by
    id descending (the order of ZREVRANGEBYSCORE): a k-way merge that reads each shard lazily,
    ``batch`` entries at a time."""
    keys = index_keys()
    offsets = dict.fromkeys(keys, 0)
    heap: list[tuple[float, _Desc, str, bool]] = []

    async def read(wanted: Sequence[str]) -> None:
        pipe = redis.pipeline(transaction=False)
        for key in wanted:
            pipe.zrevrangebyscore(key, high, low, start=offsets[key], num=batch, withscores=True)
        for key, chunk in zip(wanted, await pipe.execute()):
            offsets[key] += len(chunk)
            for position, (member, score) in enumerate(chunk):
                last = position == len(chunk) - 1 and len(chunk) == batch
                readable = _TICKET_ID(member) is not None
                if not readable:   # (passed over, once it has refilled its shard if it is the last read)
                    log.error("ticket_index_entries_unreadable", count=1)
                heapq.heappush(heap, (-score, _Desc(member.decode("ascii", errors="replace")), key if last else "",
                                      readable))

    await read(keys)
    while heap:
        negative_score, desc, refill, readable = heapq.heappop(heap)
        if refill:  # the last entry read from a shard that may have more
            await read([refill])
        if readable:
            yield desc.value, -negative_score


class _Desc:
    """Orders strings descending inside an ascending heap."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value
