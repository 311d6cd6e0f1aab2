"""``runtime.pipelining.Pipelined`` on a real Redis: what the dispatcher's batch sends its commands
with (a Cluster's path runs in ``tests/faults/test_cluster_worker.py``)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alertgate.runtime.packing import connection_class_for
from alertgate.runtime.pipelining import Pipelined

pytestmark = pytest.mark.integration

COUNTED = "return redis.call('INCR', KEYS[1])"
# (busy for ARGV[1] ms, then answers: a reply that comes late)
SLOW = """
local start = redis.call('TIME')
repeat local now = redis.call('TIME')
until (now[1] - start[1]) * 1000 + (now[2] - start[2]) / 1000 >= tonumber(ARGV[1])
return 'late'
"""


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture(params=["hiredis connections", "redis-py connections"])
def connect(request):
    """The state client's connections (``connections.connect_state``: hiredis packing), and a
    plain client's."""
    def client(url: str, **options) -> Redis:
        if request.param == "hiredis connections":
            options["connection_class"] = connection_class_for(url)
        return Redis.from_url(url, **options)
    return client


def test_replies_come_in_order_and_an_error_reply_is_raised_once_all_were_read(redis_url, connect):
    async def scenario():
        redis = connect(redis_url)
        pipe = Pipelined(redis)
        pipe.command("SET", "a", "text")
        pipe.command("EXISTS", "a")
        pipe.command("INCR", "a")          # (an error reply: not an integer)
        pipe.command("SET", "b", "after")  # (still run, and its reply read)
        with pytest.raises(ResponseError, match="not an integer"):
            await pipe.execute()
        assert len(pipe) == 0
        pipe.command("GET", "b")
        pipe.command("EXISTS", "a", "b", "c")
        pipe.command("ECHO", "ünïcode")
        assert await pipe.execute() == [b"after", 2, "ünïcode".encode()]
        assert await Pipelined(redis).execute() == []
        await redis.aclose()

    run(scenario())


def test_scripts_redis_forgot_are_loaded_and_each_call_runs_once(redis_url, connect):
    async def scenario():
        redis = connect(redis_url)
        counted = redis.register_script(COUNTED)
        await redis.script_flush()
        pipe = Pipelined(redis)
        for key in ("x", "y", "z"):
            pipe.script(counted, [key])
        pipe.command("INCR", "w")
        assert await pipe.execute() == [1, 1, 1, 1]
        assert [int(v) for v in await redis.mget("x", "y", "z", "w")] == [1, 1, 1, 1]
        pipe.script(counted, ["x"])   # (loaded now: sent once)
        assert await pipe.execute() == [2]
        await redis.aclose()

    run(scenario())


def test_replies_that_come_too_late_close_the_connection_and_the_next_call_reads_its_own(redis_url, connect):
    async def scenario():
        redis = connect(redis_url, socket_timeout=0.3)
        slow = redis.register_script(SLOW)
        await slow(args=[0])
        pipe = Pipelined(redis)
        pipe.command("ECHO", "first")
        pipe.script(slow, [], [900])
        with pytest.raises(RedisTimeoutError):
            await pipe.execute()
        await asyncio.sleep(0.8)   # (the script has answered by now, on the closed connection)
        pipe.command("ECHO", "mine")
        assert await pipe.execute() == [b"mine"]
        await redis.aclose()

    run(scenario())
