"""Which key layout a Redis holds (``keys.py``), read once per process: ``ag:layout``.

A Redis without the mark gets one: layout 1 when it holds keys of the first layout (a shard
index such as ``ag:{A}:created``), else layout 2. Two processes that
start at once agree: the mark is set only if absent, and each reads it back.
"""

from __future__ import annotations

from typing import Any

import structlog

from alertgate.keys import (
    BASE32,
    LAYOUT,
    balanced_prefix,
    first_layout_index_key,
    first_layout_prefix,
    layout,
    use_layout,
)

log = structlog.get_logger("alertgate.layout")
LAYOUT_KEY = LAYOUT
_FIRST_LAYOUT_MARKS = tuple(first_layout_index_key(shard) for shard in BASE32)


async def ensure(redis: Any) -> int:
    """The layout of this Redis, read (and set where new) unless this process knows it already."""
    known = layout()
    if known is not None:
        return known
    raw = await redis.get(LAYOUT_KEY)
    if raw is None:
        first = False
        for key in _FIRST_LAYOUT_MARKS:  # (one call each: on a Cluster they live in 33 slots)
            if await redis.exists(key):
                first = True
                break
        await redis.set(LAYOUT_KEY, "1" if first else "2", nx=True)
        raw = await redis.get(LAYOUT_KEY)
    return _use(raw)


def ensure_sync(redis: Any) -> int:
    known = layout()
    if known is not None:
        return known
    raw = redis.get(LAYOUT_KEY)
    if raw is None:
        first = any(redis.exists(key) for key in _FIRST_LAYOUT_MARKS)
        redis.set(LAYOUT_KEY, "1" if first else "2", nx=True)
        raw = redis.get(LAYOUT_KEY)
    return _use(raw)


def _use(raw: bytes | str) -> int:
    version = int(raw)
    use_layout(version)
    log.info("key_layout", version=version)
    return version


def migrate_to_balanced(redis: Any) -> int:
    """Move every key of layout 1 (``ag:{<shard>}:…``) to layout 2 and mark the Redis so; returns
    how many keys moved. For a stopped alertgate (no gateway or worker running): keys are copied
    with DUMP/RESTORE, which works across a Cluster's slots, then the old one is deleted. Safe to
    run again after an interruption: a key already moved is left as it is."""
    moved = 0
    for shard in BASE32:
        old_prefix, new_prefix = first_layout_prefix(shard), balanced_prefix(shard)
        for key in list(redis.scan_iter(match=old_prefix + "*", count=1000)):  # (braces are literal in a match)
            name = key.decode() if isinstance(key, bytes) else key
            dumped = redis.dump(name)
            if dumped is None:
                continue
            ttl = redis.pttl(name)
            target = new_prefix + name[len(old_prefix):]
            if not redis.exists(target):
                redis.restore(target, max(ttl, 0), dumped)
            redis.delete(name)
            moved += 1
    redis.set(LAYOUT_KEY, "2")
    use_layout(2)
    return moved
