"""A master's duplicates follow it into resolved or closed a slice at a time (``cascade.lua``).

Resolving a master with 100,000 duplicates in one script held Redis for 1.3–3.0 s, and every
sender's alert waited that long (``bench/cascade_pause.py``). Now the call that resolves or
closes the master (the ingest script, the action's transaction) moves its first
``SLICE`` duplicates, and notes the rest on the master and in its shard's cascades; the
caller then carries it on with ``finish``, a slice per call, so that other clients' commands
run between slices. A cascade that a crash cut short is finished by the worker's sweep
(``finish_stale``). Each slice is idempotent, so a slice done twice (a continuation racing
the sweep) changes nothing the second time. Until it is done, a duplicate not reached yet still
shows its former status.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib.resources import files
from typing import Any

import structlog
from redis.exceptions import RedisError

from alertgate.keys import cascades_key, cascades_keys, tag_of, ticket_key, ticket_prefix

log = structlog.get_logger("alertgate.tickets")

SLICE = 1000   # duplicates moved per script call: about 15 ms of Redis for the desk's, 6 for a recovery's
LUA = f"local CASCADE_SLICE = {SLICE}\n" + files("alertgate.tickets").joinpath("cascade.lua").read_text()

# KEYS: a master's hash, its shard's cascades. ARGV: the ticket prefix, the master's id, now
# (epoch), the number of fields to write on a duplicate, then (field, value) pairs, then
# (status, timeline entry) pairs: the entry of a duplicate in that status (a status not named: the
# duplicate is left as it is). Answers the duplicates changed and 1 when every one is done.
START = LUA + """
local prefix, master, now, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local fields = {unpack(ARGV, 5, 4 + 2 * n)}
local entries = {}
for i = 5 + 2 * n, #ARGV, 2 do entries[ARGV[i]] = ARGV[i + 1] end
local changed, done = cascade_start(prefix, master, KEYS[1], KEYS[2], fields, entries, now)
return {changed, done}
"""

# KEYS: a master's hash, its shard's cascades. ARGV: the ticket prefix, the master's id, now.
# One more slice of the master's cascade: answers 1 when none is left, 0 when more is, -1 when
# the cascade's record cannot be read (it is dropped: nothing else could finish it).
CONTINUE = LUA + """
local spec, first, last = unpack(redis.call('HMGET', KEYS[1], 'cascade', 'cascade_next', 'cascade_last'))
if not spec and not first then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
local ok, cascade = pcall(cmsgpack.unpack, spec or '')
first, last = tonumber(first), tonumber(last)
if not ok or type(cascade) ~= 'table' or type(cascade[1]) ~= 'table' or type(cascade[2]) ~= 'table'
    or not first or not last then
  redis.call('HDEL', KEYS[1], 'cascade', 'cascade_next', 'cascade_last')
  redis.call('ZREM', KEYS[2], ARGV[2])
  return -1
end
local _, done = cascade_from(ARGV[1], ARGV[2], KEYS[1], KEYS[2], cascade[1], cascade[2], first, last, ARGV[3])
return done
"""


def start(pipe: Any, master_id: str, now: float, fields: dict[str, str | bytes],
          entries: dict[str, str | bytes]) -> None:
    """Queue a new cascade of the master's duplicates on ``pipe`` (an action's transaction):
    ``fields`` written on each duplicate in a status ``entries`` names, with its entry."""
    tag = tag_of(master_id)
    pairs = [value for pair in fields.items() for value in pair]
    statuses = [value for pair in entries.items() for value in pair]
    pipe.eval(START, 2, ticket_key(master_id), cascades_key(tag), ticket_prefix(tag), master_id, repr(now),
              len(fields), *pairs, *statuses)


async def finish(redis: Any, master_ids: Iterable[str]) -> int:
    """Carry each master's cascade on to its end, a slice per call; returns the slices run."""
    script = redis.register_script(CONTINUE)
    slices = 0
    for master_id in master_ids:
        tag = tag_of(master_id)
        keys = [ticket_key(master_id), cascades_key(tag)]
        while True:
            answer = await script(keys, [ticket_prefix(tag), master_id, repr(time.time())])
            slices += 1
            if answer == -1:
                log.error("cascade_unreadable", ticket_id=master_id)
            if answer != 0:
                break
    return slices


async def carry_on(redis: Any, master_ids: list[str]) -> None:
    """``finish``, after the change that started the cascades was written: a Redis fault now is
    not the caller's to retry (its change is done), so it is logged and the sweep finishes them."""
    try:
        await finish(redis, master_ids)
    except RedisError as exc:
        log.warning("cascade_left_to_sweep", ticket_ids=master_ids[:10], error=type(exc).__name__)


async def finish_stale(redis: Any, idle: float) -> int:
    """Finish every cascade whose last slice is older than ``idle`` seconds (its caller crashed,
    or lost Redis, before it was done): the worker's sweep. Returns how many."""
    before = time.time() - idle
    keys = cascades_keys()
    pipe = redis.pipeline(transaction=False)   # (every shard's in one round trip; routed on a Cluster)
    for key in keys:
        pipe.zrangebyscore(key, "-inf", before)
    stale = []
    for key, members in zip(keys, await pipe.execute()):
        for member in members:
            master_id = member.decode(errors="replace")
            if _is_ticket_id(master_id):
                stale.append(master_id)
            else:   # (no ticket's: dropped, so that it does not stop every sweep)
                log.error("cascade_unreadable", ticket_id=master_id)
                await redis.zrem(key, member)
    await finish(redis, stale)
    return len(stale)


def _is_ticket_id(text: str) -> bool:
    try:
        ticket_key(text)
    except KeyError:
        return False
    return True
