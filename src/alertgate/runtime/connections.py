"""The asyncio client of the state Redis (dedup keys and tickets): one standalone server, or a
Redis Cluster when ``redis_cluster`` is set. Both answer the same calls; the keys are laid out so
that every multi-key step stays in one slot (``dedup/keys.py``)."""

from __future__ import annotations

from typing import Union

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from alertgate.settings import Settings

StateRedis = Union[Redis, RedisCluster]


def connect_state(settings: Settings, fail_fast: bool = True) -> StateRedis:
    """``fail_fast`` (the gateway): no client-side retries, so a fault becomes a 503 within
    ``redis_timeout`` instead of hanging (redis-py's default retries a timeout three times); the
    sender retries, and every ingest call is safe to repeat. Workers keep redis-py's retries."""
    url = settings.redis_url or ""
    options: dict = {
        "socket_timeout": float(settings.redis_timeout),
        "socket_connect_timeout": float(settings.redis_timeout),
    }
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    if settings.redis_cluster:
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, health_check_interval=30, **options)


async def forget_topology(redis: StateRedis) -> None:
    """After a connection fault: a Cluster client re-reads the slot map on its next call (a
    failover moves slots to a promoted replica). Without retries, redis-py would not."""
    if isinstance(redis, RedisCluster):
        await redis.aclose()
