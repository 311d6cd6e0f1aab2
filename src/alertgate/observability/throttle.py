"""At most one log line per key per interval, the next saying how many were held back: a flood
of the same event (refused requests from one caller, notices with nobody to tell) leaves a trace
without filling the disk. Every event is still counted in its metric by the caller."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

MAX_KEYS = 10_000   # bounded memory however many keys a flood brings


class LogThrottle:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval, self._clock = interval, clock
        self._last: dict[Hashable, tuple[float, int]] = {}

    def held(self, key: Hashable) -> int | None:
        """None: do not log this one (it is held back); else log it, with this many held back
        since the last line of its key."""
        now = self._clock()
        last, held = self._last.get(key, (None, 0))
        if last is not None and now - last < self._interval:
            self._last[key] = (last, held + 1)
            return None
        if len(self._last) >= MAX_KEYS:
            self._last.clear()
        self._last[key] = (now, 0)
        return held
