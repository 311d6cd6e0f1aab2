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
from alertgate.tickets.lifecycle import Action
from alertgate.workers.queue import enqueue_dispatch, enqueue_followup

log = structlog.get_logger("alertgate.followups")
DISPATCHED = {Outcome.NEW: "new", Outcome.RECURRENCE: "recurrence", Outcome.REOPENED: "reopened"}


class FollowUps:
    def __init__(self, queue_redis: Redis | None, max_attempts: int) -> None:
        self._redis = queue_redis
        self._attempts = max_attempts

    def _enqueue_ingest(self, results: list[IngestResult]) -> None:
        for result in results:
            if result.ticket_id is None:
                continue
            if result.outcome in DISPATCHED:
                enqueue_dispatch(self._redis, result.ticket_id, DISPATCHED[result.outcome], self._attempts)
            elif result.outcome is Outcome.RESOLVED:
                enqueue_followup(self._redis, "restoration", result.ticket_id, "monitoring recovered", self._attempts)

    async def after_ingest(self, results: Iterable[IngestResult]) -> None:
        needed = [r for r in results if r.outcome in DISPATCHED or r.outcome is Outcome.RESOLVED]
        if needed and self._redis is not None:
            await self._guard(self._enqueue_ingest, needed)

    async def after_action(self, ticket_id: str, action: Action) -> None:
        if self._redis is None or action is Action.COMMENT:
            return
        function = {Action.RESOLVE: "restoration", Action.CLOSE: "problem_on_close"}.get(action, "replan")
        await self._guard(enqueue_followup, self._redis, function, ticket_id, action.value, self._attempts)

    @staticmethod
    async def _guard(function, *args) -> None:
        try:
            await asyncio.to_thread(function, *args)
        except RedisError as exc:
            log.error("enqueue_failed", error=type(exc).__name__, detail=str(exc)[:200])
