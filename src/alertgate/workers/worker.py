"""The RQ worker factory: ``create_worker(settings, redis)`` listening on alertgate's queues."""

from __future__ import annotations

from datetime import timedelta

import structlog
from redis import Redis
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from alertgate.settings import Settings
from alertgate.workers.context import context, set_context
from alertgate.workers.queue import QUEUES, TIMERS, queue

# After a worker dies, another worker's maintenance pass takes the scheduler over once the dead
# one's lock expires (RQ: interval + 60 s). The pass runs only when the worker wakes from waiting
# for a job (after worker_ttl - 15 s when idle) and at most every maintenance_interval: RQ's
# defaults (420 s, 10 min) make that failover take up to ~17 minutes; ours take about 60–80 s.
MAINTENANCE_INTERVAL = 15
WORKER_TTL = 35
SWEEP_INTERVAL = 30.0
log = structlog.get_logger("alertgate.worker")


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
                  maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL,
                  exception_handlers=[log_job_failure])


def log_job_failure(job: Job, exc_type: type, exc_value: BaseException, _traceback: object) -> bool:
    """Every failed attempt in the worker's log with its cause (RQ keeps it only in the job); the
    last attempt is counted in ``alertgate_jobs_failed_total`` and stays in RQ's failed registry."""
    final = not job.retries_left
    log.error("job_gave_up" if final else "job_failed", job_id=job.id, function=job.func_name,
              error=exc_type.__name__, message=str(exc_value)[:500], retries_left=job.retries_left)
    if final:
        function = (job.func_name or "unknown").rpartition(".")[2]
        context().metrics.jobs_failed.labels(function).inc()
    return True  # RQ's own handling (retry or the failed registry) goes on


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """The worker's own /metrics on ``host:port``: every job's counts (SLA breaches, escalations,
    notices), for a Prometheus that cannot read the gateway's metric files (compose, other hosts)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
