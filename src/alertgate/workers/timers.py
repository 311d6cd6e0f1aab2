"""A ticket's timers in Redis (issue #27): SLA checks, warnings, escalation steps, stakeholder
notices and the end of a suspension (``workers/plan.py``), kept in one sorted set per shard
(``keys.timers_key``) as **one entry per ticket**: the member is the ticket id, the score when its
next timer is due. Not one RQ scheduled job per timer, and not one entry per timer either (nine
entries of ~60 bytes each were more than half of what a dispatch wrote).

- planned with ``ZADD LT``: planning again, or twice, keeps the earlier time, never a later one;
- once due, a script moves the entry from the set into the shard's intents stream, atomically,
  with its score (``since``): however many workers look, it becomes one intent, and from there the
  intents' guarantee holds (at least once, taken over if its worker dies, handed to RQ if it fails:
  ``workers/intents.py``);
- the firing (``jobs.fire_due_on``) re-reads the ticket, plans its timers again (``plan.plan``) and
  fires those due between ``since`` and now that are still due (``plan.still_due``; each notice
  sent once by its mark), then puts the entry back at the next one. A timer delivered twice acts
  once; an entry planned before a change fires early and finds nothing due, as an RQ job did.
- sets written by an earlier version hold one member per timer ("<ticket id>\t<kind>\t<ISO>\t<step>",
  score its due time): the same script moves them, as the ticket's entry due at that time.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from redis.asyncio import RedisCluster

from alertgate.keys import BASE32, intents_key, tag_of, timers_key
from alertgate.workers.plan import Timer

RELEASE_AT_ONCE = 200   # due entries moved per shard and call
# Due timers wait in their set, not in the stream, while a shard's stream holds this many intents
# not done: a new master's dispatch is never queued behind more than that many of them. Before,
# every due timer was moved at once: after a storm of 650,000 masters the streams held 627,000
# timers and a new P1 waited behind them (a worker fires about 300 a second: 35 minutes). A worker
# moves timers every second, so this bounds the timers fired at 32 × this a second per worker (a
# worker fired 300).
STREAM_ROOM = 32

# KEYS: pairs of (timers set, intents stream) of one shard each; ARGV: now (epoch), at most moved
# per shard, at most held by a shard's stream after the move. The intent: the ticket (the member
# up to a tab: an earlier version's member is a timer) and the entry's due time.
RELEASE_SCRIPT = """
local moved = 0
for i = 1, #KEYS, 2 do
  local room = math.min(tonumber(ARGV[2]), tonumber(ARGV[3]) - redis.call('XLEN', KEYS[i + 1]))
  local due = {}
  if room > 0 then
    due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, room)
  end
  local members = {}
  for j = 1, #due, 2 do
    redis.call('XADD', KEYS[i + 1], '*', 'ticket', string.match(due[j], '^[^\t]*'), 'work', 'timer', 'timer', due[j + 1])
    members[#members + 1] = due[j]
  end
  if #members > 0 then
    redis.call('ZREM', KEYS[i], unpack(members))
    moved = moved + #members
  end
end
return moved
"""


def next_due(timers: list[Timer], after: float | None = None) -> float | None:
    """When the ticket's entry is due: its first timer (after ``after``, if given), as an epoch."""
    times = [t.at.timestamp() for t in timers]
    pending = [at for at in times if after is None or at > after]
    return min(pending) if pending else None


def since_of(text: str) -> float | None:
    """The due time an intent carries: an entry's score; or, in an intent an earlier version
    wrote, its timer ("<ticket id>\t<kind>\t<ISO>\t<step>"), due at its own time. None: not ours."""
    try:
        value = float(text)
        return value if math.isfinite(value) else None
    except ValueError:
        pass
    parts = text.split("\t", 3)
    if len(parts) != 4:
        return None
    try:
        return datetime.fromisoformat(parts[2]).timestamp()
    except ValueError:
        return None


def _ticket_of(member: Any) -> str:
    text = member.decode(errors="replace") if isinstance(member, bytes) else str(member)
    return text.partition("\t")[0]


class TimerSets:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self._release: Any = None   # (registered on first use: planning, once per dispatch, needs no script)

    async def plan(self, ticket_id: str, timers: list[Timer]) -> None:
        """The ticket's entry at its first timer, unless it is due earlier already (``ZADD LT``)."""
        due = next_due(timers)
        if due is not None:
            await self.redis.zadd(timers_key(tag_of(ticket_id)), {ticket_id: due}, lt=True)
    async def release_due(self, now: float, count: int = RELEASE_AT_ONCE, room: int = STREAM_ROOM) -> int:
        """Due timers of every shard moved into their intents streams, each stream to at most
        ``room`` intents not done; how many. One call on a single Redis, one per shard on a
        Cluster (each shard's pair is in its own slot)."""
        pairs = [[timers_key(shard), intents_key(shard)] for shard in BASE32]
        if self._release is None:
            self._release = self.redis.register_script(RELEASE_SCRIPT)
        if not self.cluster:
            return int(await self._release(keys=[k for pair in pairs for k in pair], args=[repr(now), count, room]))
        moved = 0
        for pair in pairs:
            moved += int(await self._release(keys=pair, args=[repr(now), count, room]))
        return moved

    async def due(self, now: float) -> set[tuple[str, str]]:
        """("timers", ticket id) of every entry due and not yet moved: work the sweep must not
        queue again (a worker is behind, not lost)."""
        found = set()
        for shard in BASE32:
            for member in await self.redis.zrangebyscore(timers_key(shard), "-inf", repr(now)):
                found.add(("timers", _ticket_of(member)))
        return found

    async def next_at(self, ticket_id: str) -> float | None:
        """When the ticket's entry is due (None: it has none). Tests, and a reader's question."""
        score = await self.redis.zscore(timers_key(tag_of(ticket_id)), ticket_id)
        return None if score is None else float(score)
