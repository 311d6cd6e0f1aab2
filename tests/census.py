"""What Redis holds after a storm, read straight from the keys (no gateway involved)."""

from __future__ import annotations

from typing import Any

from alertgate.keys import index_keys
from alertgate.keys import ticket_key


def census(client: Any) -> dict:
    """Masters, duplicates and the sum of the masters' duplicate_count; ``client`` is a sync
    ``redis.Redis`` or ``redis.RedisCluster``."""
    masters = duplicates = counted = 0
    for index in index_keys():
        ids = [raw.decode() for raw in client.zrange(index, 0, -1)]
        pipe = client.pipeline(transaction=False)
        for ticket_id in ids:
            pipe.hmget(ticket_key(ticket_id), "kind", "duplicate_count")
        for kind, count in pipe.execute() if ids else []:
            if kind == b"master":
                masters, counted = masters + 1, counted + int(count or 0)
            else:
                duplicates += 1
    return {"masters": masters, "duplicates": duplicates, "counted": counted}
