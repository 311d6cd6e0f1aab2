"""The gateway's enqueues after actions: concurrent requests share one transaction; a failed
enqueue is logged and the request still answers (the worker's sweep queues what was missed).
(An alert's own work is an intent the ingest script writes: tests/integration/test_intents.py.)"""

from __future__ import annotations

import asyncio
import threading
import time

from alertgate.intake import handoff
from alertgate.intake.handoff import JobHandoff
from alertgate.tickets.lifecycle import Action
from redis.exceptions import ConnectionError as RedisConnectionError


def acted(gateway: JobHandoff, n: int):
    return gateway.after_action(f"INC-A{n}-1", Action.ASSIGN, entry=n)


def test_concurrent_requests_share_transactions_and_each_waits_for_its_jobs(monkeypatch):
    batches: list[list[str]] = []
    lock = threading.Lock()

    def enqueue_all(connection, jobs):
        time.sleep(0.01)  # a Redis round trip
        with lock:
            batches.append([data.job_id for _, data in jobs])

    monkeypatch.setattr(handoff, "enqueue_all", enqueue_all)
    gateway = JobHandoff(queue_redis=object(), max_attempts=3)

    async def storm() -> None:
        await asyncio.gather(*(acted(gateway, n) for n in range(40)))
        assert sum(len(b) for b in batches) == 40  # every request's job is in before it returns

    asyncio.run(storm())
    assert sorted(j.rpartition("-")[0] for b in batches for j in b) == sorted(f"replan-INC-A{n}-1" for n in range(40))
    assert len(batches) < 10


def test_a_failed_enqueue_is_logged_and_the_request_goes_on(monkeypatch, capsys):
    def enqueue_all(connection, jobs):
        raise RedisConnectionError("queue Redis down")

    monkeypatch.setattr(handoff, "enqueue_all", enqueue_all)
    gateway = JobHandoff(queue_redis=object(), max_attempts=3)

    async def two() -> None:
        await asyncio.gather(acted(gateway, 1), acted(gateway, 2))

    asyncio.run(two())
    assert capsys.readouterr().out.count("enqueue_failed") == 2
