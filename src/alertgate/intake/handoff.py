"""What the gateway hands to the workers after an action or a user report: timer re-planning,
notices, the sync to the source, the dispatch of a reported incident.

An alert's own work (the dispatch of a new, recurring or reopened master, the restoration notice
of a recovery) is not here: the ingest script writes it as an intent in the call that writes the
ticket (``dedup/ingest.lua``, ``workers/intents.py``). Enqueueing happens after the ticket writes;
if the queue Redis is down the ticket is kept and the error logged: the worker's periodic sweep
queues the work the ticket is still owed (``workers/recovery.py``).
"""

from __future__ import annotations

import asyncio

import structlog
from redis import Redis
from redis.exceptions import RedisError

from alertgate.runtime.batching import Batcher
from alertgate.tickets.lifecycle import Action, job_after
from alertgate.work_queue import dispatch_job, enqueue_all, action_job

log = structlog.get_logger("alertgate.handoff")
SYNCED = frozenset({Action.ACCEPT, Action.RESOLVE, Action.CLOSE, Action.REOPEN})


class JobHandoff:
    """Enqueues from concurrent requests are gathered (``runtime.batching``) into one Redis
    transaction. Each request still answers only after its jobs are enqueued (or the enqueue
    failed: logged, and the sweep dispatches later)."""

    def __init__(self, queue_redis: Redis | None, max_attempts: int, sync: bool = False) -> None:
        self._redis = queue_redis
        self._attempts = max_attempts
        self._sync = sync  # tickets → sources (settings.sync): a job after accept, resolve, close
        self._batches: Batcher[list, None] = Batcher(self._write)

    async def dispatch(self, ticket_id: str) -> None:
        """A master that no alert opened (a user report) goes to dispatch like a new one."""
        if self._redis is not None:
            await self._enqueue([dispatch_job(ticket_id, "new", self._attempts)])

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
