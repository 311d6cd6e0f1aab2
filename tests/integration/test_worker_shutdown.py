"""A worker's shutdown does not wait a minute for RQ's command listener (workers/worker.py)."""

from __future__ import annotations

import time

import pytest
import redis
from rq import Worker
from rq.serializers import JSONSerializer

from alertgate.work_queue import NOTIFY, queue
from alertgate.workers.worker import COMMAND_WAKE, AlertgateWorker

pytestmark = pytest.mark.integration


def unsubscribe_after_the_listener_read_the_reply(worker: Worker) -> float:
    """RQ's race made certain: the listener reads the unsubscribe reply while it is still
    running, so it goes on to wait for a new subscription. Seconds the worker's unsubscribe took."""
    worker.subscribe()
    worker.pubsub.unsubscribe()
    deadline = time.monotonic() + 10
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.pubsub.subscribed
    time.sleep(0.2)   # (the listener is waiting again)
    started = time.monotonic()
    worker.unsubscribe()
    took = time.monotonic() - started
    worker.pubsub_thread.join(COMMAND_WAKE + 5)
    assert not worker.pubsub_thread.is_alive()
    return took


def test_a_worker_unsubscribes_within_a_second_when_its_listener_read_the_reply_first(redis_url):
    connection = redis.Redis.from_url(redis_url)
    worker = AlertgateWorker([queue(NOTIFY, connection)], connection=connection, serializer=JSONSerializer)
    assert unsubscribe_after_the_listener_read_the_reply(worker) < COMMAND_WAKE + 5   # (RQ's own: up to 60 s)
