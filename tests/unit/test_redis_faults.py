"""What the gateway makes of Redis's errors (gateway/errors.py), and its watches
(runtime/watching.py), which outlive any of them."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from alertgate.gateway.errors import redis_away
from alertgate.runtime.connections import refuses_writes
from alertgate.runtime.watching import watch_every


@pytest.mark.parametrize("error", [
    OutOfMemoryError("command not allowed when used memory > 'maxmemory'.", status_code="OOM"),
    ResponseError("OOM command not allowed when used memory > 'maxmemory'."),   # (as a script passes it on)
    ResponseError("MISCONF Errors writing to the AOF file: No space left on device"),
    ResponseError("Redis is configured to save RDB snapshots", status_code="MISCONF"),
    ResponseError("NOREPLICAS Not enough good replicas to write."),
    ResponseError("@user_script: 110: -OOM command not allowed when used memory > 'maxmemory'."),   # (Redis 6.2)
    ResponseError("ERR Error running script (call to f_40): @user_script:1: @user_script: 1: "
                  "-READONLY You can't write against a read only replica."),
    ReadOnlyError("You can't write against a read only replica."),
])
def test_a_redis_that_refuses_writes_is_waited_for(error):
    assert refuses_writes(error) and redis_away(error)


@pytest.mark.parametrize("error", [
    ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    ResponseError("user_script:12: Script attempted to access nonexistent global variable 'x'"),
    ResponseError("ERR Error running script"),
    ResponseError("user_script:3: OOM is not a word this test may throw"),
    ValueError("a bug"),
])
def test_any_other_error_is_not(error):
    assert not redis_away(error)


def test_a_redis_that_is_down_is_waited_for():
    assert redis_away(RedisConnectionError("Connection refused"))


def test_a_watch_outlives_a_redis_that_is_away_and_a_bug():
    steps = []

    async def step() -> None:
        steps.append(1)
        if len(steps) == 1:
            raise RedisConnectionError("down")
        if len(steps) == 2:
            raise KeyError("a bug")

    async def three_steps() -> None:
        task = asyncio.create_task(watch_every(0.0, step, "test", redis_away))
        while len(steps) < 3:
            await asyncio.sleep(0.001)
        task.cancel()

    with capture_logs() as logged:
        asyncio.run(three_steps())
    assert [(entry["event"], entry["error"]) for entry in logged] == [("watch_failed", "KeyError")]


def test_the_consoles_queue_watch_outlives_a_bug():
    """A read that fails with anything but a Redis that is away used to end the process's one
    queue watch: every open console stopped following the queue, without a word."""
    from alertgate.console.watch import QueueWatch

    class Store:
        reads = 0

        async def unresolved_masters(self, fields):
            Store.reads += 1
            if Store.reads == 1:
                raise KeyError("a bug")
            if False:
                yield []

    async def follow_twice() -> list:
        watch = QueueWatch(Store(), poll=0.0, errors=(RedisConnectionError,))
        seen = []
        async for version in watch.follow():
            seen.append(version)
            if len(seen) == 1:
                break
        return seen

    with capture_logs() as logged:
        assert asyncio.run(asyncio.wait_for(follow_twice(), 10)) == [1]
    assert Store.reads >= 2 and [entry["event"] for entry in logged][:1] == ["queue_watch_failed"]
