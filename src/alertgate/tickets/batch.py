"""Many tickets read, and acted on, in one round trip each way (the dispatcher's batch, issue #27).

``TicketStore.act`` carries out one action under ``WATCH``: four round trips, retried on a race.
A batch of dispatches instead reads its tickets in one pipeline (``read_many``), computes each
action with the same pure ``lifecycle.apply``, and writes them in one pipeline of compare-and-set
scripts (``act_many``): an action is written only if its ticket is still as it was read, as far
as the action can tell:

- no timeline entry was added since (every action, and every status change by the ingest
  script, adds one);
- the fields the action was computed from (status, priority, reopen count, assignment and route
  group) and every field it writes hold the values read (a field of ``packed`` is checked as
  absent on its own: written since, it differs).

A ticket that changed in between (a duplicate's count and last occurrence do not count: the
action neither reads nor writes them) is not written; the caller acts on it again the usual way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from alertgate.keys import ticket_key
from alertgate.runtime.pipelining import Pipelined
from alertgate.tickets import scripts
from alertgate.tickets.codec import from_hash
from alertgate.tickets.model import Ticket
from alertgate.tickets.store import changes
from alertgate.tickets.timeline import FIRST, NEWEST

# What an action is computed from, besides the fields it writes (those are checked too).
READ_FROM = ("status", "priority", "reopen_count", "assignment_group", "route_group")
ABSENT = b"!"
# KEYS: the hash, its timeline. ARGV: the timeline's length as read, the number of checked
# fields, the number of fields to write; then (field, "=" .. value or "!" for absent) per check,
# (field, value) per write, and the timeline entries to append.
COMPARE_AND_SET = """
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return 0 end
local checks, writes, i = tonumber(ARGV[2]), tonumber(ARGV[3]), 4
for _ = 1, checks do
  local value, want = redis.call('HGET', KEYS[1], ARGV[i]), ARGV[i + 1]
  if want == '!' then
    if value then return 0 end
  elseif value ~= string.sub(want, 2) then
    return 0
  end
  i = i + 2
end
if writes > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * writes - 1)) end
i = i + 2 * writes
if i <= #ARGV then redis.call('RPUSH', KEYS[2], unpack(ARGV, i, #ARGV)) end
return 1
"""


class Read(NamedTuple):
    """A ticket as read by ``read_many``."""

    ticket: Ticket
    raw: dict[bytes, bytes]     # its hash as stored
    timeline_length: int


async def read_many(redis: Any, ticket_ids: list[str]) -> list[Read | None]:
    """Each ticket as stored (no creation entry added, no master's content; a long timeline by
    its first and newest entries, ``timeline_omitted`` set), in one round trip (one reply each);
    None for a ticket not found. Ids must be valid (``keys.ticket_key``)."""
    script = redis.register_script(scripts.READ_WINDOW)
    pipe = Pipelined(redis)
    for ticket_id in ticket_ids:
        key = ticket_key(ticket_id)
        pipe.script(script, [key, key + ":tl"], [FIRST, NEWEST])
    found: list[Read | None] = []
    for ticket_id, (pairs, length, entries) in zip(ticket_ids, await pipe.execute()):
        raw = dict(zip(pairs[::2], pairs[1::2]))
        if not raw:
            found.append(None)
            continue
        ticket = from_hash(raw, entries, ticket_id)
        if length > len(entries):
            ticket = msgspec.structs.replace(ticket, timeline_omitted=length - len(entries))
        found.append(Read(ticket, raw, length))
    return found


class ActionWriter:
    """``act_many``: the compare-and-set script registered once per client."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._script = redis.register_script(COMPARE_AND_SET)

    async def act_many(self, acts: list[tuple[Read, Ticket]]) -> list[bool]:
        """Each (ticket as read, ticket after the action) written if the ticket is unchanged since
        the read; in one round trip. True where written (or nothing to write)."""
        if not acts:
            return []
        pipe = Pipelined(self._redis)
        for read, after in acts:
            key = ticket_key(after.id)
            pipe.script(self._script, [key, key + ":tl"], _arguments(read, after))
        return [bool(answer) for answer in await pipe.execute()]


def _arguments(read: Read, after: Ticket) -> list[Any]:
    changed, added = changes(read.ticket, after)
    checked = dict.fromkeys((*READ_FROM, *changed))
    pairs: list[Any] = []
    for name in checked:
        value = read.raw.get(name.encode())
        pairs += [name, ABSENT if value is None else b"=" + value]
    for name, value in changed.items():
        pairs += [name, value]
    return [read.timeline_length, len(checked), len(changed), *pairs, *added]
