"""Sending alerts to the ingest script (``ingest.lua``), many alerts per script call, optionally
followed by a ``WAIT`` for replicas on the same connection (WAIT waits for that connection's
writes only).

An alert goes as its four keys and its arguments (``Call``); a script call carries up to
``ALERTS_PER_CALL`` of them, so Redis's cost per call and the gateway's cost per reply are paid
once for many alerts, and no single call keeps Redis busy for long.

- ``StandaloneCalls``: the alerts of every request that reaches Redis while the previous batch is
  on its way (or in the same event-loop turn) go together (``runtime.batching``): packed by
  hiredis (C), written at once on one pooled connection, one WAIT for all of them. In an alert
  storm of single-alert requests a round trip per request was a fifth of the gateway's time and
  most of Redis's (a read and a write system call per request).
- ``ClusterCalls``: one script call per shard (a shard's keys share a slot), sent by redis-py's
  ClusterPipeline, which groups the calls by node and follows a moved slot; with WAIT, one per
  node and no redirections.

``run`` answers (each alert's outcome, ticket, master; replicas that confirmed or None without
WAIT). An error reply, or an alert the script failed on, is raised to its request after every
reply was read, so the connection stays in step; the other requests of the batch get theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

from hiredis import pack_command
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from alertgate.runtime.batching import Batcher
from alertgate.runtime.pipelining import exchange

Call = tuple[tuple[str, str, str, str], tuple]  # an alert's (state, occurrence, index, masters) keys, arguments
KEYS_PER_ALERT = 4
Decision = tuple[bytes, bytes, bytes]  # outcome, ticket, master
Replies = tuple[list[Decision], "int | None"]
ALERTS_PER_CALL = 200


def script_call(sha: str, calls: Sequence[Call]) -> tuple:
    """EVALSHA's arguments for these alerts: every alert's keys, then each one's argument count
    and arguments."""
    arguments: list = ["EVALSHA", sha, KEYS_PER_ALERT * len(calls)]
    for keys, _ in calls:
        arguments += keys
    for _, args in calls:
        arguments.append(len(args))
        arguments += args
    return tuple(arguments)


def decisions(reply: list | BaseException, count: int) -> list[Decision | BaseException]:
    """One script call's reply, split per alert; a failed call fails each of its alerts."""
    if isinstance(reply, BaseException):
        return [reply] * count
    found: list[Decision | BaseException] = []
    for i in range(0, 3 * count, 3):
        outcome, ticket, master = reply[i:i + 3]
        found.append(ResponseError(ticket.decode(errors="replace")) if outcome == b"error" else (outcome, ticket, master))
    return found


def first_error(found: Sequence[Decision | BaseException]) -> BaseException | None:
    return next((item for item in found if isinstance(item, BaseException)), None)


def chunks(items: Sequence, size: int = ALERTS_PER_CALL) -> list[Sequence]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class StandaloneCalls:
    def __init__(self, redis: Redis, sha: str, wait_replicas: int, wait_timeout_ms: int) -> None:
        self._pool = redis.connection_pool
        self._sha = sha
        self._wait = pack_command(("WAIT", wait_replicas, wait_timeout_ms)) if wait_replicas else None
        self._batches: Batcher[Sequence[Call], Replies] = Batcher(self._write)

    async def run(self, calls: Sequence[Call]) -> Replies:
        return await self._batches.submit(calls)

    async def _write(self, requests: list[Sequence[Call]]) -> list[Replies | BaseException]:
        parts = chunks([call for calls in requests for call in calls])
        packed = [pack_command(script_call(self._sha, part)) for part in parts]
        if self._wait:
            packed.append(self._wait)
        replies = await exchange(self._pool, b"".join(packed), len(packed))
        confirmed = replies.pop() if self._wait else None
        found = [item for part, reply in zip(parts, replies) for item in decisions(reply, len(part))]
        outcomes: list[Replies | BaseException] = []
        start = 0
        for calls in requests:
            mine = found[start:start + len(calls)]
            start += len(calls)
            error = first_error(mine)
            outcomes.append(error if error is not None else (mine, confirmed))  # type: ignore[arg-type]
        return outcomes


class ClusterCalls:
    def __init__(self, redis: RedisCluster, sha: str, wait_replicas: int, wait_timeout_ms: int) -> None:
        self._redis = redis
        self._sha = sha
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms

    async def run(self, calls: Sequence[Call]) -> Replies:
        by_shard: dict[str, list[int]] = {}  # the index key names the shard; order kept per shard
        for position, (keys, _) in enumerate(calls):
            by_shard.setdefault(keys[2], []).append(position)
        groups = [part for positions in by_shard.values() for part in chunks(positions)]
        pipe = self._redis.pipeline(transaction=False)
        for positions in groups:
            # (ClusterPipeline refuses pipe.evalsha; the command is routed by its keys all the same)
            pipe.execute_command(*script_call(self._sha, [calls[p] for p in positions]))
        confirmed = None
        if self._wait_replicas:
            await self._redis.initialize()  # a no-op once the slot map is known
            nodes = {node.name: node for node in (self._redis.get_node_from_key(calls[g[0]][0][0]) for g in groups)}
            for node in nodes.values():
                pipe.execute_command("WAIT", self._wait_replicas, self._wait_timeout_ms, target_nodes=node)
            # A redirected call would be sent again on another connection, outside the WAIT: let
            # it fail instead (503); the sender's retry finds the new owner of the slot.
            replies = await pipe.execute(allow_redirections=False)
            replies, confirmed = replies[:len(groups)], min(replies[len(groups):])
        else:
            replies = await pipe.execute()
        found: list[Decision | BaseException] = [b""] * len(calls)  # type: ignore[list-item]
        for positions, reply in zip(groups, replies):
            for position, item in zip(positions, decisions(reply, len(positions))):
                found[position] = item
        error = first_error(found)
        if error is not None:
            raise error
        return found, confirmed  # type: ignore[return-value]


def calls_for(redis: Redis | RedisCluster, sha: str, wait_replicas: int, wait_timeout_ms: int) -> StandaloneCalls | ClusterCalls:
    kind = ClusterCalls if isinstance(redis, RedisCluster) else StandaloneCalls
    return kind(redis, sha, wait_replicas, wait_timeout_ms)
