"""One watcher of the queue per gateway process, however many consoles are open: while at least
one follows it, it reads the unresolved masters' few changing fields and bumps its version when
their digest moves. It rests at least ``poll`` between reads, and at least ``REST`` times as long
as the last read took, so a queue of thousands in a storm costs the process a bounded share of
its time (the ingest path itself does nothing for an open console)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import perf_counter

import structlog

from alertgate.tickets import queue
from alertgate.tickets.store import TicketStore

log = structlog.get_logger("alertgate.console")

DIGEST_FIELDS = ("assignee", "duplicate_count")   # (and status, created_at, updated_at)
REST = 20          # read at most 1/(REST+1) of the time
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream


class QueueWatch:
    def __init__(self, store: TicketStore, poll: float, errors: tuple[type[BaseException], ...] = ()) -> None:
        self._store, self._poll, self._errors = store, poll, errors
        self.version, self._digest = 0, None
        self._changed = asyncio.Condition()
        self._followers = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while self._followers:
            started = perf_counter()
            try:
                whole = queue.Digest()
                async for chunk in self._store.unresolved_masters(DIGEST_FIELDS):
                    whole.offer(chunk)
                digest = whole.value()
            except self._errors:
                digest = self._digest  # (Redis is away: nothing to tell)
            except Exception as exc:   # (a bug: logged; the watch goes on, or every open queue would stop following)
                log.exception("queue_watch_failed", error=type(exc).__name__)
                digest = self._digest
            spent = perf_counter() - started
            if digest != self._digest:
                self._digest, self.version = digest, self.version + 1
                async with self._changed:
                    self._changed.notify_all()
            await asyncio.sleep(max(self._poll, REST * spent))
        self._task = None

    async def follow(self) -> AsyncIterator[int | None]:
        """Yields the new version at each change (the first read's included), None on a quiet
        KEEP_ALIVE."""
        self._followers += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        seen = self.version
        try:
            while True:
                try:
                    async with self._changed:
                        await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen), KEEP_ALIVE)
                except TimeoutError:
                    yield None
                    continue
                seen = self.version
                yield seen
        finally:
            self._followers -= 1
