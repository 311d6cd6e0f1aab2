"""Durations as operators write them: ``30m``, ``45s``, ``1h30m``, ``30d``; at most a century (a
longer one overflowed the time it was added to, or Python's timedelta itself: a 500 where a
heartbeat's ``timeout`` came from a request)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LONGEST = timedelta(days=36_525)  # a century: a deadline from now stays within the times accepted (up to 2200)


def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``1h30m``-style text (or plain seconds) into a positive timedelta of at most
    ``LONGEST``; ValueError if not."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30m, 45s or 1h30m")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        cleaned = text.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", cleaned):
            seconds = float(cleaned)
        else:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(cleaned):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(cleaned) or not cleaned:
                raise ValueError(f"{text!r} is not a duration such as 30m, 45s or 1h30m")
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    if not seconds <= LONGEST.total_seconds():   # (also NaN, and the infinity of 400 digits)
        raise ValueError(f"{text!r} is longer than a century")
    return timedelta(seconds=seconds)
