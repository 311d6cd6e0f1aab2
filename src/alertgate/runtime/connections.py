"""The asyncio client of the state Redis (dedup keys and tickets): one standalone server, or a
Redis Cluster when ``redis_cluster`` is set. Both answer the same calls; the keys are laid out so
that every multi-key step stays in one slot (``keys.py``)."""

from __future__ import annotations

import functools
import re

from typing import Any, Union
from urllib.parse import urlsplit

import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from alertgate.runtime.packing import connection_class_for
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.redis")
StateRedis = Union[Redis, RedisCluster]
# Redis refusing writes until its operator acts: full (maxmemory with noeviction), a disk that
# failed its AOF or snapshot, too few replicas for min-replicas-to-write, a replica. As for a Redis
# that is down, the sender keeps the alert and retries; Redis never refuses a script's write once
# the script has written, so what a call decided is whole or absent.
WRITES_REFUSED = frozenset({"OOM", "MISCONF", "NOREPLICAS", "READONLY"})


# An error a script caught and passed on as text (``dedup/ingest.lua``) starts with Redis's code;
# Redis before 7 puts where in the script before it: "@user_script: 110: -OOM command not allowed…".
_CODE_IN_TEXT = re.compile(r"(?:^|: -)([A-Z]+) ")


def error_code(exc: BaseException) -> str | None:
    """Redis's error code of a reply: the innermost one its text names (a script's error wrapped
    in "ERR Error running script …: -READONLY …" is READONLY), else the one redis-py parsed."""
    found = _CODE_IN_TEXT.findall(str(exc))
    return found[-1] if found else getattr(exc, "status_code", None)


def refuses_writes(exc: BaseException) -> bool:
    """Whether the error is one of those refusals."""
    if isinstance(exc, (OutOfMemoryError, ReadOnlyError)):
        return True
    return isinstance(exc, ResponseError) and error_code(exc) in WRITES_REFUSED


def seed_nodes(url: str) -> tuple[str, list[tuple[str, int]]]:
    """``ALERTGATE_REDIS_URL`` of a Cluster may list several seed nodes, comma-separated:
    ``redis://:pw@h1:7000,h2:7001,h3:7002`` (or each a full URL). Returns the first URL, whose
    credentials and options serve for all, and the (host, port) of the others."""
    first, *others = [part.strip() for part in url.split(",") if part.strip()]
    seeds = []
    for other in others:
        hostport = urlsplit(other if "://" in other else f"redis://{other}")
        seeds.append((hostport.hostname or "127.0.0.1", hostport.port or 6379))
    return first, seeds


def connect_state(settings: Settings, fail_fast: bool = True) -> StateRedis:
    """``fail_fast`` (the gateway): no client-side retries, so a fault becomes a 503 within
    ``redis_timeout`` instead of hanging (redis-py's default retries a timeout three times); the
    sender retries, and every ingest call is safe to repeat. Workers keep redis-py's retries.
    A Cluster starts from whichever seed node answers first."""
    options: dict = {
        "socket_timeout": float(settings.redis_timeout),
        "socket_connect_timeout": float(settings.redis_timeout),
    }
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    if settings.redis_cluster:
        first, seeds = seed_nodes(settings.redis_url or "")
        return RedisCluster.from_url(first, startup_nodes=[ClusterNode(h, p) for h, p in seeds] or None, **options)
    url = settings.redis_url or ""
    return Redis.from_url(url, health_check_interval=30, connection_class=connection_class_for(url), **options)


def connect_state_sync(settings: Settings) -> SyncRedis | SyncRedisCluster:
    """A synchronous client of the state Redis, for the worker's own threads (the sweeper)."""
    options = {"socket_timeout": float(settings.redis_timeout), "socket_connect_timeout": float(settings.redis_timeout)}
    if settings.redis_cluster:
        first, seeds = seed_nodes(settings.redis_url or "")
        return SyncRedisCluster.from_url(first, startup_nodes=[SyncClusterNode(h, p) for h, p in seeds] or None,
                                         **options)
    return SyncRedis.from_url(settings.redis_url or "", **options)


OLDEST_REDIS = (6, 2)   # what alertgate sends needs it: ZADD … LT (workers/dispatch.py), XPENDING … IDLE (intents.py)


class RedisTooOld(RuntimeError):
    """The state Redis is older than alertgate needs: it would refuse some of its commands."""


def too_old(info: dict) -> str | None:
    """Why the Redis of this INFO ``server`` answer (one node's, or a Cluster client's dict of
    them) is too old, if it is; None when it is recent enough or does not say."""
    nodes = [info] if "redis_version" in info else [n for n in info.values() if isinstance(n, dict)]
    for node in nodes:
        version = str(node.get("redis_version", ""))
        try:
            parts = tuple(int(part) for part in version.split(".")[:2])
        except ValueError:
            continue   # (a proxy or a fork naming its version its own way)
        if len(parts) == 2 and parts < OLDEST_REDIS:
            return (f"Redis {version} is older than {'.'.join(map(str, OLDEST_REDIS))}, which alertgate needs "
                    "(it would refuse some of alertgate's commands): upgrade it, or unset ALERTGATE_REDIS_URL "
                    "to let `alertgate run` start its own")
    return None


async def require_recent(redis: StateRedis) -> None:
    """Raises RedisTooOld (logged) for a Redis too old; a Redis that refuses INFO passes."""
    try:
        info = await redis.info("server")
    except ResponseError:
        return
    _refuse_if_too_old(info)


def require_recent_sync(redis: SyncRedis | SyncRedisCluster) -> None:
    try:
        info = redis.info("server")
    except ResponseError:
        return
    _refuse_if_too_old(info)


def _refuse_if_too_old(info: dict) -> None:
    if (why := too_old(info)) is not None:
        log.error("redis_too_old", message=why)
        raise RedisTooOld(why)


async def find_again(redis: StateRedis, fault: BaseException) -> None:
    """After a fault that became a 503, what lets the next call find the master again:

    - a Cluster client re-reads the slot map on its next call (a failover moves slots to a
      promoted replica); without retries, redis-py would not;
    - a single Redis's client drops its pooled connections after a ``READONLY``: behind one
      address (a DNS name, a virtual IP), a failover leaves them on the old master, now a replica
      that refuses every write, while new connections reach the promoted one. redis-py keeps a
      connection after an error reply (redis/redis-py#1764)."""
    if isinstance(redis, RedisCluster):
        await redis.aclose()
    elif left_on_a_replica(fault):
        await redis.connection_pool.disconnect()


def find_again_sync(redis: SyncRedis | SyncRedisCluster, fault: BaseException) -> None:
    """``find_again`` for a synchronous client of a single Redis (a Cluster's follows MOVED)."""
    if isinstance(redis, SyncRedis) and left_on_a_replica(fault):
        redis.connection_pool.disconnect()


def left_on_a_replica(fault: BaseException) -> bool:
    return isinstance(fault, ReadOnlyError) or isinstance(fault, ResponseError) and error_code(fault) == "READONLY"


@functools.lru_cache(maxsize=8)
def _queue_client(url: str) -> SyncRedis:
    return SyncRedis.from_url(url)


def shared_queue_redis(settings: Settings) -> SyncRedis:
    """The queue's Redis client of this process, made once (its pool opens a connection again in a
    forked work horse): what jobs enqueue and schedule with, without a connection per call."""
    if not settings.queue_url:
        raise SystemExit("ALERTGATE_QUEUE_REDIS_URL / ALERTGATE_REDIS_URL is not set")
    return _queue_client(settings.queue_url)


def connect_queue_redis(settings: Settings) -> SyncRedis:
    """The RQ queue's Redis (a standalone server: RQ does not run on a Cluster)."""
    url = settings.queue_url
    if not url:
        raise SystemExit("ALERTGATE_QUEUE_REDIS_URL / ALERTGATE_REDIS_URL is not set")
    return SyncRedis.from_url(url)


async def script_pipeline(redis: StateRedis, *scripts: AsyncScript) -> Any:
    """A pipeline (no transaction) to call ``scripts`` in. A single Redis's pipeline loads its
    scripts where missing; a Cluster's does not, so they are loaded on every primary first (a
    primary that restarted or took over since has forgotten them)."""
    if isinstance(redis, RedisCluster):
        for script in scripts:
            await redis.script_load(script.script)
    return redis.pipeline(transaction=False)
