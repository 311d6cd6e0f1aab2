"""Problem records in Redis: one hash each (``ag:problem:<id>``), an index by creation time, and a
pointer per trigger so that a retried job links to the problem it opened instead of opening
another one. A record that cannot be read is shown as a problem with status ``unreadable`` (its
incidents still listed) and logged, never a 500: it stays as it is for whoever mends it."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import structlog
from redis.asyncio import Redis

from alertgate.keys import (
    PROBLEM_INDEX,
    PROBLEM_SEQUENCE,
    problem_incidents_key,
    problem_key,
    problem_trigger_key,
)
from alertgate.moments import zoned

INDEX = PROBLEM_INDEX
UNREADABLE = "unreadable"
log = structlog.get_logger("alertgate.problems")
_encode = msgspec.json.Encoder().encode


class Problem(msgspec.Struct, kw_only=True):
    id: str
    status: str = "open"
    title: str
    ci: str
    symptom: str | None = None
    reason: str
    incident_ids: list[str] = []
    created_at: datetime
    updated_at: datetime


_decode = msgspec.json.Decoder(Problem).decode


def _moment(score: float | None) -> datetime:
    try:
        return datetime.fromtimestamp(score or 0, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, tz=timezone.utc)


class ProblemNotFound(Exception):
    pass


class ProblemStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def open_or_link(self, trigger: str, title: str, ci: str, symptom: str | None, reason: str,
                           incident_ids: list[str], now: datetime | None = None) -> tuple[Problem, bool]:
        """The problem of ``trigger`` (opened now if it has none), with the incidents linked."""
        now = now or datetime.now(timezone.utc)
        pointer = problem_trigger_key(trigger)
        existing = await self._redis.get(pointer)
        created = False
        if existing is None:
            number = await self._redis.incr(PROBLEM_SEQUENCE)
            candidate = f"PRB-{number:06d}"
            if await self._redis.set(pointer, candidate, nx=True):
                problem = Problem(id=candidate, title=title, ci=ci, symptom=symptom, reason=reason,
                                  created_at=now, updated_at=now)
                await self._redis.set(problem_key(candidate), _encode(problem))
                await self._redis.zadd(INDEX, {candidate: now.timestamp()})
                created = True
            existing = await self._redis.get(pointer)
        problem_id = existing.decode(errors="replace")
        await self._redis.sadd(problem_incidents_key(problem_id), *incident_ids)
        return await self.get(problem_id), created

    async def get(self, problem_id: str) -> Problem:
        raw = await self._redis.get(problem_key(problem_id))
        if raw is None:
            raise ProblemNotFound(problem_id)
        try:
            problem = zoned(_decode(raw))
        except (msgspec.DecodeError, ValueError, RecursionError):
            log.error("problem_unreadable", problem=problem_id)
            at = _moment(await self._redis.zscore(INDEX, problem_id))
            problem = Problem(id=problem_id, status=UNREADABLE, title="(the stored record could not be read)",
                              ci="", reason=UNREADABLE, created_at=at, updated_at=at)
        incidents = sorted(i.decode(errors="replace") for i in await self._redis.smembers(problem_incidents_key(problem_id)))
        return msgspec.structs.replace(problem, id=problem_id, incident_ids=incidents)

    async def list(self, limit: int, offset: int) -> list[Problem]:
        found = []
        for raw in await self._redis.zrevrange(INDEX, offset, offset + limit - 1):
            try:
                found.append(await self.get(raw.decode(errors="replace")))
            except ProblemNotFound:   # (indexed, its record gone: passed over)
                log.error("indexed_problem_missing", problem=raw.decode(errors="replace"))
        return found

    async def linked_incidents(self) -> set[str]:
        """Every incident linked to a problem (for the KPI "escalated to problem")."""
        linked: set[str] = set()
        for raw in await self._redis.zrange(INDEX, 0, -1):
            linked |= {i.decode(errors="replace") for i in await self._redis.smembers(problem_incidents_key(raw.decode(errors="replace")))}
        return linked
