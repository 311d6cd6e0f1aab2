"""One reading of a moment for the API's query parameters and the CLI's options, and one way of
showing a moment to people (the console, the notices) in ``display_timezone``."""

from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

FORMS = "a date (2026-11-01) or an RFC 3339 date-time (2026-11-01T08:00:00+08:00)"


def parse_moment(text: str) -> datetime:
    """A plain date is midnight UTC; a date-time without a zone is UTC. Raises ValueError naming
    the accepted forms."""
    text = text.strip()
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not {FORMS}") from None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1–9999 in UTC") from None


def zoned(record: Any) -> Any:
    """A decoded record (a msgspec Struct) with its top-level times stored without a zone read as
    UTC: written by hand or by an older version, one such time compared with an aware one failed
    every read of it (a 500), or every alert's intake for a maintenance window."""
    naive = {name: value.replace(tzinfo=timezone.utc) for name in record.__struct_fields__
             if isinstance(value := getattr(record, name), datetime) and value.tzinfo is None}
    return msgspec.structs.replace(record, **naive) if naive else record


def zone_named(name: str) -> tzinfo | None:
    """An IANA zone (``Asia/Shanghai``) or UTC; None for a name that is neither."""
    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def shown(moment: datetime | None, zone: tzinfo = timezone.utc) -> str:
    """A moment as people read it: in their zone, with the offset (``2026-12-07 14:00 UTC+08:00``)."""
    if not moment:
        return "—"
    if zone is timezone.utc:
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M ") + f"UTC{offset[:3]}:{offset[3:]}"
