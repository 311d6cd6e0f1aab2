"""The dedup decision (SPEC §2) as a pure function: the reference the Lua script implements.

``decide`` takes what Redis knows about the (ci, symptom) key and the clock, and returns the
outcome, in the table's order. The script ``dedup/ingest.lua`` makes the same decision
atomically; ``tests/integration/test_dedup_model.py`` replays random event sequences through
both and requires the same outcomes.
"""

from __future__ import annotations

import enum

import msgspec

from alertgate.tickets.model import UNRESOLVED, TicketKind, TicketStatus


class Outcome(str, enum.Enum):
    NEW = "new"
    REPEAT = "repeat"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"
    RECURRENCE = "recurrence"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"      # a recovery resolved its master
    RECOVERED = "recovered"    # a recovery recorded outage_end only
    UPDATED = "updated"
    IGNORED = "ignored"
    HEARTBEAT = "heartbeat"    # a rule turned the alert into a ping of a heartbeat (SPEC §9)
    CORRELATED = "correlated"  # a parent CI's recent master caused it: linked, not dispatched (SPEC §11)


# The kind of ticket an outcome creates (alertgate_tickets_created_total{kind}).
CREATED_KIND = {Outcome.NEW: "master", Outcome.RECURRENCE: "master", Outcome.DUPLICATE: "duplicate",
                Outcome.CORRELATED: "correlated"}


class KeyState(msgspec.Struct, kw_only=True):
    """What is known for one (ci, symptom) key; times are epoch seconds."""

    master_status: TicketStatus | None = None
    master_last_at: float | None = None       # the master's last occurrence, or its resolution if later
    closed_at: float | None = None            # when the newest closed master of the key closed


def decide_firing(state: KeyState, delivery_seen: bool, now: float, window: float, lookback: float) -> Outcome:
    """Outcome of a firing alert."""
    if delivery_seen:
        return Outcome.REPEAT
    status = state.master_status
    within_window = now - (state.master_last_at or 0) <= window
    # Past the window an unresolved master is left as it is and the fault is a new incident.
    if status in UNRESOLVED and within_window:
        return Outcome.DUPLICATE
    if status is TicketStatus.RESOLVED and within_window:
        return Outcome.REOPENED
    if state.closed_at is not None and now - state.closed_at <= lookback:
        return Outcome.RECURRENCE
    return Outcome.NEW


def decide_recovery(holder_kind: TicketKind | None, holder_status: TicketStatus | None,
                    delivery_seen: bool, auto_resolve: bool) -> Outcome:
    """Outcome of a resolved alert, given the ticket that holds its occurrence (if any)."""
    if holder_kind is None:
        return Outcome.IGNORED
    if delivery_seen:
        return Outcome.REPEAT
    if holder_kind is TicketKind.MASTER and auto_resolve and holder_status in UNRESOLVED:
        return Outcome.RESOLVED
    return Outcome.RECOVERED


def decide_update(holder_known: bool, delivery_seen: bool) -> Outcome:
    if not holder_known:
        return Outcome.IGNORED
    return Outcome.REPEAT if delivery_seen else Outcome.UPDATED
