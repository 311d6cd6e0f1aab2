"""The RQ worker factory: ``create_worker(settings, redis)`` listening on alertgate's queues."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from alertgate.settings import Settings
from alertgate.workers.context import set_context
from alertgate.workers.queue import QUEUES, TIMERS, queue

# After a worker dies, another worker's maintenance pass takes the scheduler over once the dead
# one's lock expires (RQ: interval + 60 s). The pass runs only when the worker wakes from waiting
# for a job (after worker_ttl - 15 s when idle) and at most every maintenance_interval: RQ's
# defaults (420 s, 10 min) make that failover take up to ~17 minutes; ours take about 60–80 s.
MAINTENANCE_INTERVAL = 15
WORKER_TTL = 35
SWEEP_INTERVAL = 30.0


def connect_queue_redis(settings: Settings) -> Redis:
    url = settings.queue_url
    if not url:
        raise SystemExit("ALERTGATE_QUEUE_REDIS_URL / ALERTGATE_REDIS_URL is not set")
    return Redis.from_url(url)


def create_worker(settings: Settings, redis: Redis) -> Worker:
    set_context(settings)
    # The periodic sweep: one chain however many workers start (a fixed job id).
    queue(TIMERS, redis).enqueue_in(timedelta(seconds=SWEEP_INTERVAL), "alertgate.workers.jobs.sweep",
                                    SWEEP_INTERVAL, job_id="alertgate-sweep", result_ttl=600)
    return Worker([queue(name, redis) for name in QUEUES], connection=redis, serializer=JSONSerializer,
                  maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL)


def serve_metrics(port: int) -> None:
    """The worker's own /metrics (for a worker on a host without a gateway): every job's counts."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
