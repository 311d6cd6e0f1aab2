"""What the gateway hands to the workers after it answered for the tickets: dispatch of new,
recurring and reopened masters, restoration notices, timer re-planning after an action.

Enqueueing happens after the ticket writes. If the queue Redis is down the ticket is kept and the
error logged: the worker's periodic sweep dispatches any master that was never dispatched.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

import structlog
from redis import Redis
from redis.exceptions import RedisError

from alertgate.dedup.decide import Outcome
from alertgate.dedup.store import IngestResult
from alertgate.runtime.batching import Batcher
from alertgate.tickets.lifecycle import Action, job_after
from alertgate.work_queue import dispatch_job, enqueue_all, action_job

log = structlog.get_logger("alertgate.handoff")
SYNCED = frozenset({Action.ACCEPT, Action.RESOLVE, Action.CLOSE, Action.REOPEN})
DISPATCHED = {Outcome.NEW: "new", Outcome.RECURRENCE: "recurrence", Outcome.REOPENED: "reopened"}


class JobHandoff:
    """Enqueues from concurrent requests are gathered (``runtime.batching``) into one Redis
    transaction. Each request still answers only after its jobs are enqueued (or the enqueue
    failed: logged, and the sweep dispatches later)."""

    def __init__(self, queue_redis: Redis | None, max_attempts: int, sync: bool = False) -> None:
        self._redis = queue_redis
        self._attempts = max_attempts
        self._sync = sync  # tickets → sources (settings.sync): a job after accept, resolve, close
        self._batches: Batcher[list, None] = Batcher(self._write)

    def _ingest_jobs(self, results: Iterable[IngestResult]) -> list:
        jobs = []
        for result in results:
            if result.ticket_id is None:
                continue
            if result.master_id not in (None, result.ticket_id):
                continue  # (a correlated ticket, reopened or resolved: its parent's master is the one worked)
            if result.outcome in DISPATCHED:
                jobs.append(dispatch_job(result.ticket_id, DISPATCHED[result.outcome], self._attempts))
            elif result.outcome is Outcome.RESOLVED:
                jobs.append(action_job("restoration", result.ticket_id, "monitoring recovered", self._attempts))
        return jobs

    async def after_ingest(self, results: Iterable[IngestResult]) -> None:
        jobs = self._ingest_jobs(results)
        if jobs and self._redis is not None:
            await self._enqueue(jobs)

    async def dispatch(self, ticket_id: str) -> None:
        """A master that no alert opened (a user report) goes to dispatch like a new one."""
        if self._redis is not None:
            await self._enqueue([dispatch_job(ticket_id, DISPATCHED[Outcome.NEW], self._attempts)])

    async def after_action(self, ticket_id: str, action: Action, entry: int | None = None) -> None:
        """``entry``: the action's place on the timeline, so that the notices after it are this
        action's even when another action came first to the worker."""
        function = job_after(action)
        if self._redis is None or function is None:
            return
        note = action.value if entry is None else f"{action.value}@{entry}"
        jobs = [action_job(function, ticket_id, note, self._attempts)]
        if self._sync and action in SYNCED:
            jobs.append(action_job("sync_source", ticket_id, action.value, self._attempts))
        await self._enqueue(jobs)

    async def _enqueue(self, jobs: list) -> None:
        try:
            await self._batches.submit(jobs)
        except RedisError as exc:
            log.error("enqueue_failed", error=type(exc).__name__, detail=str(exc)[:200])

    async def _write(self, batch: list[list]) -> list[None]:
        # (in a thread: RQ is synchronous)
        await asyncio.to_thread(enqueue_all, self._redis, [job for jobs in batch for job in jobs])
        return [None] * len(batch)
