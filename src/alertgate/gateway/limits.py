"""Rate limits per credential: a token bucket per token, in each gateway process.

Alertmanager does not retry a 4xx (a 429 drops that notification for good), so a limit for an
Alertmanager token must sit well above its worst storm; tight limits are for other callers. With
N server processes a caller can reach N times the configured rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

from alertgate.credentials import Principal


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> float:
        """0 when allowed, else the seconds until one request would be."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Limits by token name first, then by role; a credential with neither is not limited."""

    def __init__(self, limits: Mapping[str, tuple[float, float]]) -> None:
        self._limits = dict(limits)
        self._buckets: dict[str, _Bucket] = {}

    def check(self, principal: Principal) -> None:
        limit = self._limits.get(principal.name) or self._limits.get(principal.role.value)
        if limit is None:
            return
        bucket = self._buckets.get(principal.name)
        if bucket is None:
            bucket = self._buckets[principal.name] = _Bucket(limit[0], limit[1], limit[1])
        wait = bucket.take(time.monotonic())
        if wait:
            raise RateLimited(wait)
