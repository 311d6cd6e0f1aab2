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


def test_rq_commands_still_reach_the_worker(redis_url):
    """The listener's shorter wait changes nothing of what it hears: RQ's shutdown command (`rq
    shutdown`, `send_shutdown_command`) is handed to the worker."""
    from rq.command import send_shutdown_command

    connection = redis.Redis.from_url(redis_url)
    worker = AlertgateWorker([queue(NOTIFY, connection)], connection=connection, serializer=JSONSerializer)
    heard = []
    worker.handle_payload = heard.append
    worker.subscribe()
    try:
        deadline = time.monotonic() + 10
        while not worker.pubsub.subscribed and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(COMMAND_WAKE * 1.5)   # (past one of the listener's waits)
        send_shutdown_command(connection, worker.name)
        while not heard and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        assert len(heard) == 1 and b"shutdown" in heard[0]["data"]
    finally:
        worker.unsubscribe()
