"""The gateway's enqueues: concurrent requests share one transaction; a failed enqueue is logged
and the request still answers (the worker's sweep dispatches what was missed)."""

from __future__ import annotations

import asyncio
import threading
import time

from alertgate.dedup.decide import Outcome
from alertgate.dedup.store import IngestResult
from alertgate.intake import handoff
from alertgate.intake.handoff import JobHandoff
from redis.exceptions import ConnectionError as RedisConnectionError


def results(n: int) -> list[IngestResult]:
    return [IngestResult(f"occ{n}", Outcome.NEW, f"INC-A{n}-1", f"INC-A{n}-1")]


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
        await asyncio.gather(*(gateway.after_ingest(results(n)) for n in range(40)))
        assert sum(len(b) for b in batches) == 40  # every request's job is in before it returns

    asyncio.run(storm())
    assert sorted(j for b in batches for j in b) == sorted(f"dispatch-INC-A{n}-1-new" for n in range(40))
    assert len(batches) < 10


def test_a_failed_enqueue_is_logged_and_the_request_goes_on(monkeypatch, capsys):
    def enqueue_all(connection, jobs):
        raise RedisConnectionError("queue Redis down")

    monkeypatch.setattr(handoff, "enqueue_all", enqueue_all)
    gateway = JobHandoff(queue_redis=object(), max_attempts=3)

    async def two() -> None:
        await asyncio.gather(gateway.after_ingest(results(1)), gateway.after_ingest(results(2)))

    asyncio.run(two())
    assert capsys.readouterr().out.count("enqueue_failed") == 2
