"""Gathering the writes of concurrent requests into one (a "group commit", as ioredis's
auto-pipelining does for Redis commands).

While one batch is being written, the items that arrive wait and go together in the next one;
an item that arrives while nothing is being written goes at the start of the next event-loop
turn, with whatever else arrived in that turn. Each caller waits for its own item's result, so
a request still answers only after its write is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes a batch; answers one result per item, in order: a value, or an exception for that item's
# caller alone. An exception raised by the write itself goes to every caller of the batch.
Write = Callable[[list[Item]], Awaitable[list["Result | BaseException"]]]


class Batcher(Generic[Item, Result]):
    def __init__(self, write: Write) -> None:
        self._write = write
        self._waiting: list[tuple[Item, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, item: Item) -> Result:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches())
        return await done

    async def _write_batches(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    outcomes = await self._write([item for item, _ in batch])
                except asyncio.CancelledError:  # shutting down: nobody is left waiting
                    for _, done in batch + self._waiting:
                        done.cancel()
                    raise
                except Exception as exc:  # every caller of the batch gets it
                    outcomes = [exc] * len(batch)
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():  # its caller was cancelled (a client that went away)
                        continue
                    if isinstance(outcome, BaseException):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self._writer = None
