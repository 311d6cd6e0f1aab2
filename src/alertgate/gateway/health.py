"""``/healthz`` (alive, no credential), ``/readyz`` (Redis reachable) and ``/metrics``."""

from __future__ import annotations

import time

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from alertgate.keys import OPEN_BY_PRIORITY, intents_keys, timers_keys
from alertgate.credentials import ANY_ROLE, Authenticator
from alertgate.gateway.errors import REDIS_UNAVAILABLE, redis_away
from alertgate.runtime.connections import refuses_writes
from alertgate.observability.metrics import CONTENT_TYPE, GatewayMetrics
from alertgate.rules.service import RulesService
from alertgate.work_queue import QUEUES


MEMORY_WARNING = 0.9   # /readyz says degraded past this share of maxmemory


def info_of_nodes(info: dict, field: str) -> list[dict]:
    """An INFO section's fields per node: one Redis answers them (``field`` among them), a Cluster
    client one dict per node."""
    if field in info:
        return [info]
    return [node for node in info.values() if isinstance(node, dict)]


def memory_gauges(nodes: list[dict]) -> list[str]:
    """The fullest node's memory use against its maxmemory (0: none set), and whether any evicts."""
    if not nodes:
        return []
    def share(node: dict) -> float:
        limit = int(node.get("maxmemory", 0) or 0)
        return int(node.get("used_memory", 0) or 0) / limit if limit else 0.0
    fullest = max(nodes, key=share)
    evicting = any(str(node.get("maxmemory_policy", "noeviction")) != "noeviction" for node in nodes)
    return ["# HELP alertgate_redis_memory_used_bytes Memory the state Redis uses (its fullest node).",
            "# TYPE alertgate_redis_memory_used_bytes gauge",
            f"alertgate_redis_memory_used_bytes {int(fullest.get('used_memory', 0) or 0)}",
            "# HELP alertgate_redis_memory_max_bytes Its maxmemory (0: none set).",
            "# TYPE alertgate_redis_memory_max_bytes gauge",
            f"alertgate_redis_memory_max_bytes {int(fullest.get('maxmemory', 0) or 0)}",
            "# HELP alertgate_redis_evicting 1 when a maxmemory policy lets the state Redis drop keys (tickets).",
            "# TYPE alertgate_redis_evicting gauge", f"alertgate_redis_evicting {int(evicting)}"]


def memory_check(nodes: list[dict]) -> str:
    """"ok", or why the state Redis may lose tickets: a maxmemory policy that evicts keys (a
    ticket, a dedup key, an intent dropped without a word), or memory nearly full (writes are
    then refused: ingest answers 503 until it is freed)."""
    for node in nodes:
        policy = str(node.get("maxmemory_policy", "noeviction"))
        if policy != "noeviction":
            return f"maxmemory-policy {policy} evicts keys when memory is full (tickets, dedup state): set noeviction"
        used, limit = int(node.get("used_memory", 0) or 0), int(node.get("maxmemory", 0) or 0)
        if limit and used >= limit:
            return "memory full (maxmemory): writes are refused, ingest answers 503 until memory is freed"
        if limit and used >= limit * MEMORY_WARNING:
            return f"memory {used * 100 // limit}% of maxmemory: new tickets are refused once full"
    return "ok"


def persistence_fault(nodes: list[dict]) -> str | None:
    """Why the state Redis refuses writes now, when its INFO says so: its last AOF write or
    snapshot failed (``MISCONF``: a full or failing disk). Ingest answers 503 meanwhile."""
    for node in nodes:
        if str(node.get("aof_last_write_status", "ok")) != "ok":
            return "its last AOF write failed (a full or failing disk?): writes are refused, ingest answers 503"
        if str(node.get("rdb_last_bgsave_status", "ok")) != "ok":
            return ("its last RDB snapshot failed (a full or failing disk?): while it does, Redis refuses writes "
                    "if stop-writes-on-bgsave-error is on (the default), and ingest answers 503")
    return None


def persistence_gauge(nodes: list[dict]) -> list[str]:
    return ["# HELP alertgate_redis_persistence_failed 1 while the state Redis's last AOF write or snapshot "
            "failed (a full or failing disk): it then refuses writes, and ingest answers 503.",
            "# TYPE alertgate_redis_persistence_failed gauge",
            f"alertgate_redis_persistence_failed {int(persistence_fault(nodes) is not None)}"]


def health_handlers(redis: Redis, queue_url: str | None, auth: Authenticator, metrics: GatewayMetrics,
                    rules: RulesService) -> list[HTTPRouteHandler]:
    queue_redis = Redis.from_url(queue_url, socket_timeout=2) if queue_url else redis

    async def gauges() -> bytes:
        """Tickets open (counted by the worker's sweep), intents and queue depths, read at scrape time."""
        lines = ["# HELP alertgate_tickets_open Unresolved master tickets, by priority.",
                 "# TYPE alertgate_tickets_open gauge"]
        try:
            open_counts = await redis.hgetall(OPEN_BY_PRIORITY)
            for priority in ("1", "2", "3", "4"):
                count = open_counts.get(priority.encode(), b"0").decode()
                lines.append(f'alertgate_tickets_open{{priority="{priority}"}} {count}')
            pipe = redis.pipeline(transaction=False)   # (64 counts: one round trip)
            for stream in intents_keys():
                pipe.xlen(stream)
            now = repr(time.time())
            for key in timers_keys():
                pipe.zcount(key, "-inf", now)
            counts = await pipe.execute()
            waiting, overdue = sum(counts[:len(intents_keys())]), sum(counts[len(intents_keys()):])
            lines += ["# HELP alertgate_intents_waiting Work in the intents streams not done yet: dispatches and restorations written by ingest, and due timers (at most 32 a shard).",
                      "# TYPE alertgate_intents_waiting gauge", f"alertgate_intents_waiting {waiting}"]
            lines += ["# HELP alertgate_timers_overdue Tickets whose next SLA, escalation or notice timer is due and "
                      "not yet taken by a worker (they wait while the workers are busy: new dispatches go first).",
                      "# TYPE alertgate_timers_overdue gauge", f"alertgate_timers_overdue {overdue}"]
            nodes = await state_nodes()
            lines += memory_gauges(nodes) + persistence_gauge(nodes)
            lines += ["# HELP alertgate_queue_depth Jobs waiting, by queue.", "# TYPE alertgate_queue_depth gauge"]
            for name in QUEUES:
                lines.append(f'alertgate_queue_depth{{queue="{name}"}} {await queue_redis.llen("rq:queue:" + name)}')
        except REDIS_UNAVAILABLE:
            lines = []
            up = 0
        else:
            up = 1
        lines += ["# HELP alertgate_redis_up Whether this gateway reached its Redis at this scrape.",
                  "# TYPE alertgate_redis_up gauge", f"alertgate_redis_up {up}"]
        return ("\n".join(lines) + "\n").encode()

    @get("/healthz", sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @get("/readyz")
    async def readyz(request: Request) -> Response[dict]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        checks = {"rules": f"generation {rules.engine.generation}, {rules.engine.rule_count} rules"}
        if rules.last_errors:
            checks["rules"] += f" (last reload rejected: {len(rules.last_errors)} errors)"
        try:
            await redis.ping()
        except Exception as exc:   # (Redis refuses even PING while a failed AOF write or snapshot stops writes)
            if not redis_away(exc):
                raise
            cause = f"refuses writes: {str(exc)[:200]}" if refuses_writes(exc) else type(exc).__name__
            return Response({"status": "not ready", "checks": {**checks, "redis": cause}}, status_code=503)
        nodes = await state_nodes()
        checks["redis"] = persistence_fault(nodes) or memory_check(nodes)
        checks.update(await worker_checks())
        # Ingest works without the queue or a worker (the sweep dispatches later), so the answer
        # stays 200; "degraded" says that dispatch, notices and timers are not running, or that
        # Redis may drop what it holds.
        degraded = checks["queue"] != "ok" or checks["workers"].startswith("none") or checks["redis"] != "ok"
        return Response({"status": "degraded" if degraded else "ready", "checks": checks})

    async def state_nodes() -> list[dict]:
        """INFO of the state Redis, per node: its default sections, memory and persistence among
        them, in one call; none when INFO is refused (a proxy). INFO, because a managed Redis
        that refuses CONFIG still answers it."""
        try:
            return info_of_nodes(await redis.info(), "redis_version")
        except ResponseError:
            return []

    async def worker_checks() -> dict[str, str]:
        """The queue Redis and the RQ workers whose heartbeat key is alive there."""
        try:
            names = await queue_redis.smembers("rq:workers")
            alive = await queue_redis.exists(*names) if names else 0
        except REDIS_UNAVAILABLE as exc:
            return {"queue": type(exc).__name__, "workers": "unknown (queue Redis unreachable)"}
        return {"queue": "ok", "workers": f"{alive} alive" if alive else
                "none alive: dispatch, notices and SLA timers are not running"}

    @get("/metrics")
    async def metrics_endpoint(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        return Response(metrics.render() + await gauges(), media_type=CONTENT_TYPE)

    return [healthz, readyz, metrics_endpoint]
