"""Many commands in one round trip, at a few µs each (issue #27, the dispatcher's batch).

redis-py's asyncio pipeline costs about 20 µs of the client's CPU per command (through its
command methods and response callbacks; every script call preceded by a ``SCRIPT EXISTS`` round
trip), against 8–10 µs for the same commands packed by hiredis in one call, written at once and
their replies read as they come (``bench/README.md``, 2026-12-06). A dispatch sends five or six
commands: ``Pipelined`` is what the dispatcher's batch sends them with.

- On a single Redis: packed by hiredis, written on one pooled connection, every reply read
  (``exchange``, which the gateway's ingest calls use too: the connection stays in step; one that
  faults midway is closed, not returned half-read). A script Redis does not hold (``NOSCRIPT``: a
  restart, ``SCRIPT FLUSH``) is loaded and its calls sent again: such a call did nothing, so the
  commands must not depend on one another's order (the batch's calls each touch their own ticket).
- On a Cluster: redis-py's ClusterPipeline, which routes each command by its key and follows a
  moved slot; scripts loaded on every primary first (``connections.script_pipeline``).

Replies are raw (no response callbacks): ``EXISTS`` an int, ``SET`` ``b"OK"``. An error reply is
raised once every reply was read, the first one.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from hiredis import pack_command
from redis.asyncio import ConnectionPool, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alertgate.runtime.connections import StateRedis, script_pipeline


class Pipelined:
    """Commands gathered, then ``execute``d in one round trip."""

    def __init__(self, redis: StateRedis) -> None:
        self._redis = redis
        self._commands: list[tuple] = []
        self._scripts: dict[str, AsyncScript] = {}

    def __len__(self) -> int:
        return len(self._commands)

    def command(self, *args: Any) -> None:
        self._commands.append(args)

    def script(self, script: AsyncScript, keys: list[str], args: list[Any] = ()) -> None:  # type: ignore[assignment]
        self._scripts[script.sha] = script
        self._commands.append(("EVALSHA", script.sha, len(keys), *keys, *args))

    async def execute(self) -> list[Any]:
        commands, self._commands = self._commands, []
        if not commands:
            return []
        if isinstance(self._redis, RedisCluster):
            return await self._on_cluster(commands)
        replies = await self._send(commands)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for sha in {commands[n][1] for n in missing}:
                await self._redis.script_load(self._scripts[sha].script)
            for n, reply in zip(missing, await self._send([commands[n] for n in missing])):
                replies[n] = reply
        error = next((reply for reply in replies if isinstance(reply, ResponseError)), None)
        if error is not None:
            raise error
        return replies

    async def _send(self, commands: list[tuple]) -> list[Any]:
        packed = b"".join(pack_command(command) for command in commands)
        return await exchange(self._redis.connection_pool, packed, len(commands))

    async def _on_cluster(self, commands: list[tuple]) -> list[Any]:
        pipe = await script_pipeline(self._redis, *self._scripts.values())
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()


async def exchange(pool: ConnectionPool, packed: bytes, count: int) -> list[Any]:
    """Commands packed already (``count`` of them) written at once on one pooled connection of a
    single Redis, and every reply read, in order: an error reply is returned in its place (the
    replies after it still come). The replies are read under one deadline, the connection's
    ``socket_timeout``, not one each (an ``asyncio.timeout`` per reply cost the dispatcher's batch
    about a tenth of its CPU). A connection that faults midway is closed, not given back
    half-read. Also what the gateway's ingest calls go through (``dedup/calls.StandaloneCalls``)."""
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(packed)
        replies: list[Any] = []
        try:
            async with asyncio.timeout(connection.socket_timeout):
                for _ in range(count):
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as error:
                        replies.append(error)
        except TimeoutError:
            raise RedisTimeoutError(f"{count - len(replies)} of {count} replies not read within "
                                    f"{connection.socket_timeout:g} s") from None
        return replies
    except BaseException:
        await connection.disconnect(nowait=True)   # (out of step with its replies)
        raise
    finally:
        await pool.release(connection)
