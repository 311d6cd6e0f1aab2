"""The pure decisions of reconciliation.

A source's answer about one master is ``present``, ``gone`` or unknown (``None``: the source, or
one instance of it, did not answer, answered an error or too late). Only ``gone`` on two
consecutive checks resolves: the first one is remembered on the ticket (``reconcile_gone_at``);
``present`` or unknown forgets it, so that an answer we cannot trust never counts toward a
resolution."""

from __future__ import annotations

import enum
from datetime import datetime


class Verdict(str, enum.Enum):
    PRESENT = "present"      # still at the source: nothing to do (a first "gone" is forgotten)
    GONE_ONCE = "gone_once"  # remember it, and ask again next time
    RESOLVE = "resolve"      # gone on two consecutive checks
    UNKNOWN = "unknown"      # no trustworthy answer: forget any first "gone"


def verdict(present: bool | None, gone_since: datetime | None) -> Verdict:
    if present is None:
        return Verdict.UNKNOWN
    if present:
        return Verdict.PRESENT
    return Verdict.RESOLVE if gone_since is not None else Verdict.GONE_ONCE


def events_present(mine: set[str], still_open: set[str], closed: set[str]) -> bool | None:
    """A Zabbix master's answer from its events' states: present if any is open, gone only if
    every one is known closed (its recovery event seen), unknown otherwise. An event Zabbix did
    not show at all may be one its API user cannot read (a host group it has no right to), or
    one on another Zabbix: never taken for closed."""
    if not mine:
        return None
    if mine & still_open:
        return True
    return False if mine <= closed else None


def stale(last_seen: datetime, stale_after: float | None, now: datetime) -> bool:
    """A master of a source without an API, silent for its rule's ``stale_after``."""
    return stale_after is not None and (now - last_seen).total_seconds() >= stale_after
