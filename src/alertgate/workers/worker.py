"""The RQ worker factory: ``create_worker(settings, redis)`` listening on alertgate's queues."""

from __future__ import annotations

from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from alertgate.settings import Settings

# Highest priority first: RQ takes jobs from the first non-empty queue.
QUEUES = ("alertgate-dispatch", "alertgate-notify", "alertgate-timers")


def connect_queue_redis(settings: Settings) -> Redis:
    url = settings.queue_url
    if not url:
        raise SystemExit("ALERTGATE_QUEUE_REDIS_URL / ALERTGATE_REDIS_URL is not set")
    return Redis.from_url(url)


def create_worker(settings: Settings, redis: Redis) -> Worker:
    return Worker(list(QUEUES), connection=redis, serializer=JSONSerializer)
