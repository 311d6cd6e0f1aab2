"""Refused requests, counted and logged (issue #19): a mistyped sender token must leave a trace.

Each refusal increments ``alertgate_requests_rejected_total{endpoint,status,reason}`` and writes a
log line with the reason, the endpoint, the credential's name when it is known and the peer
address; never the secret, never the body. Under a flood at most one line per (endpoint, reason,
caller) per minute is written, and the next one says how many were held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from alertgate.observability.throttle import LogThrottle

log = structlog.get_logger("alertgate.gateway")

LOG_INTERVAL = 60.0

# The reasons a refusal is counted under (a closed set: labels must not grow with the input).
REASONS_BY_STATUS = {400: "invalid_input", 401: "unknown_credential", 403: "role_not_allowed",
                     404: "not_found", 405: "method_not_allowed", 408: "too_slow", 413: "body_too_large",
                     415: "unsupported_media_type", 429: "rate_limited", 431: "head_too_large"}


class Rejections:
    def __init__(self, counter: Any, clock: Callable[[], float] = time.monotonic,
                 interval: float = LOG_INTERVAL) -> None:
        """``counter``: a Counter with labels (endpoint, status, reason)."""
        self._counter = counter
        self._lines = LogThrottle(interval, clock)

    def record(self, endpoint: str, status: int, reason: str, credential: str | None, peer: str | None) -> None:
        self._counter.labels(endpoint, str(status), reason).inc()
        held = self._lines.held((endpoint, reason, credential or peer or "unknown"))
        if held is not None:
            log.warning("request_rejected", endpoint=endpoint, status=status, reason=reason,
                        credential=credential, peer=peer, **({"held_back": held} if held else {}))


def reason_for(status: int, detail: str = "") -> str:
    """The counted reason: 401s say whether a credential was missing or not known."""
    if status == 401 and "required" in detail:
        return "missing_credential"
    if status == 401 and ("without" in detail or "malformed" in detail):
        return "malformed_credential"
    return REASONS_BY_STATUS.get(status, f"http_{status}")
