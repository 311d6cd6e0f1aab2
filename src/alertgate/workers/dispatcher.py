"""``alertgate worker``'s dispatcher: a process of its own beside RQ's work loop that consumes the
intents streams and fires due timers (``workers/intents.py``, ``workers/timers.py``). Started,
and started again if it dies, by the worker (``workers/worker.Companions``)."""

from __future__ import annotations

import asyncio
import os

from redis.exceptions import RedisError

from alertgate.settings import Settings


def dispatch_forever(settings: Settings, parent: int) -> None:
    """Until the worker that started it is gone."""
    from alertgate.dedup import layout
    from alertgate.observability.logging import configure_logging
    from alertgate.runtime.connections import connect_state, shared_queue_redis
    from alertgate.workers.context import set_context
    from alertgate.workers.jobs import intent_consumer

    configure_logging(settings.log_level)
    ctx = set_context(settings)

    async def main() -> None:
        redis = connect_state(settings, fail_fast=False)
        while True:
            try:
                await layout.ensure(redis)
                break
            except (RedisError, OSError):
                await asyncio.sleep(1.0)
        consumer = intent_consumer(ctx, redis, shared_queue_redis(settings))
        await consumer.run(lambda: os.getppid() == parent)

    asyncio.run(main())
