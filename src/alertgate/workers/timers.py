"""A ticket's timers in Redis (issue #27): SLA checks, warnings, escalation steps, stakeholder
notices and the end of a suspension (``workers/plan.py``), kept in one sorted set per shard
(``keys.timers_key``: due epoch → the timer), not as one RQ scheduled job each.

- planned with one ``ZADD`` per ticket; a timer is its own member, so planning twice adds nothing;
- once due, a script moves it from the set into the shard's intents stream, atomically: however
  many workers look, each timer becomes one intent, and from there the intents' guarantee holds
  (at least once delivery, taken over if its worker dies, handed to RQ if it fails:
  ``workers/intents.py``); the firing itself re-reads the ticket and acts only if the timer is
  still due (``plan.still_due``), so a timer delivered twice acts once;
- a timer planned before a change (a reassignment, a new priority) stays in the set and is a
  no-op when it fires, as an RQ job was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.asyncio import RedisCluster

from alertgate.keys import BASE32, intents_key, tag_of, timers_key
from alertgate.workers.plan import Timer

RELEASE_AT_ONCE = 200   # due timers moved per shard and call

# KEYS: pairs of (timers set, intents stream) of one shard each; ARGV: now (epoch), at most per shard.
RELEASE_SCRIPT = """
local moved = 0
for i = 1, #KEYS, 2 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
  for _, timer in ipairs(due) do
    redis.call('XADD', KEYS[i + 1], '*', 'ticket', string.match(timer, '^[^\\t]*'), 'work', 'timer', 'timer', timer)
  end
  if #due > 0 then
    redis.call('ZREM', KEYS[i], unpack(due))
    moved = moved + #due
  end
end
return moved
"""


def member(ticket_id: str, timer: Timer) -> str:
    """The timer as the set holds it (its due time exact, as ``still_due`` compares it)."""
    return f"{ticket_id}\t{timer.kind}\t{timer.at.isoformat()}\t{timer.step}"


def parse(text: str) -> tuple[str, Timer] | None:
    """The ticket id and timer of a member (None: not one of ours)."""
    parts = text.split("\t", 3)
    if len(parts) != 4:
        return None
    ticket_id, kind, at, step = parts
    try:
        return ticket_id, Timer(datetime.fromisoformat(at), kind, step)
    except ValueError:
        return None


class TimerSets:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self._release: Any = None   # (registered on first use: planning, once per dispatch, needs no script)

    async def plan(self, ticket_id: str, timers: list[Timer]) -> None:
        if timers:
            await self.redis.zadd(timers_key(tag_of(ticket_id)),
                                  {member(ticket_id, t): t.at.timestamp() for t in timers})

    async def release_due(self, now: float, count: int = RELEASE_AT_ONCE) -> int:
        """Due timers of every shard moved into their intents streams; how many. One call on a
        single Redis, one per shard on a Cluster (each shard's pair is in its own slot)."""
        pairs = [[timers_key(shard), intents_key(shard)] for shard in BASE32]
        if self._release is None:
            self._release = self.redis.register_script(RELEASE_SCRIPT)
        if not self.cluster:
            return int(await self._release(keys=[k for pair in pairs for k in pair], args=[repr(now), count]))
        moved = 0
        for pair in pairs:
            moved += int(await self._release(keys=pair, args=[repr(now), count]))
        return moved

    async def due(self, now: float) -> set[tuple[str, str]]:
        """("timers", ticket id) of every timer due and not yet moved: work the sweep must not
        queue again (a worker is behind, not lost)."""
        found = set()
        for shard in BASE32:
            for text in await self.redis.zrangebyscore(timers_key(shard), "-inf", repr(now)):
                parsed = parse(text.decode() if isinstance(text, bytes) else text)
                if parsed is not None:
                    found.add(("timers", parsed[0]))
        return found

    async def planned(self, ticket_id: str) -> list[Timer]:
        """The ticket's timers in its shard's set (tests, the lost-timer check)."""
        found = []
        for text in await self.redis.zrange(timers_key(tag_of(ticket_id)), 0, -1):
            parsed = parse(text.decode() if isinstance(text, bytes) else text)
            if parsed is not None and parsed[0] == ticket_id:
                found.append(parsed[1])
        return found
