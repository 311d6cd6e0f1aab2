"""A gateway process's watches: what it reloads every second (maintenance windows, the CI
catalogue, the topology's recent masters) for as long as it lives; and what it retries until
done (its first contact with a Redis that was away at start)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("alertgate.watch")


def never(exc: BaseException) -> bool:
    return False


async def watch_every(interval: float, step: Callable[[], Awaitable[object]], what: str,
                      away: Callable[[BaseException], bool] = never) -> None:
    """``step`` every ``interval`` s. A Redis that is away (``away``: down, failing over, refusing
    writes) is waited out quietly, what is known stays meanwhile, and ingest answers 503. Any other
    failure is logged. Neither ends the watch: a watch that ended would leave its process on stale
    windows or CIs without a word."""
    while True:
        try:
            await step()
        except Exception as exc:
            if not away(exc):
                log.exception("watch_failed", watch=what, error=type(exc).__name__)
        await asyncio.sleep(interval)


async def until_done(step: Callable[[], Awaitable[object]], away: Callable[[BaseException], bool],
                     every: float = 1.0) -> None:
    """``step`` again every ``every`` s while it fails on a Redis that is away; any other failure
    ends it."""
    while True:
        try:
            await step()
            return
        except Exception as exc:
            if not away(exc):
                raise
        await asyncio.sleep(every)
