"""workers/flapping.py (pure): which restorations wait, and which reopenings are not announced."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alertgate.tickets.model import Ticket, TicketStatus, TimelineEntry
from alertgate.workers import flapping

T0 = datetime(2026, 12, 7, 3, tzinfo=timezone.utc)


def entry(action: str, minutes: float, note: str | None = None, actor: str = "alertgate") -> TimelineEntry:
    return TimelineEntry(at=T0 + timedelta(minutes=minutes), actor=actor, action=action, note=note)


def reopened(*timeline: TimelineEntry, count: int = 1) -> Ticket:
    return Ticket(id="INC-A-1", status=TicketStatus.IN_PROGRESS, reopen_count=count, created_at=T0, updated_at=T0,
                  timeline=list(timeline))


def test_a_reopening_soon_after_a_reported_recovery_is_quiet_and_a_later_one_is_not():
    recovered = entry("resolve", 10, flapping.RECOVERED_NOTE)
    assert flapping.quiet_reopening(reopened(recovered, entry("reopen", 14)), 300)
    assert flapping.quiet_reopening(reopened(recovered, entry("comment", 11, "looking"), entry("reopen", 14)), 300)
    assert not flapping.quiet_reopening(reopened(recovered, entry("reopen", 16)), 300)
    assert not flapping.quiet_reopening(reopened(recovered, entry("reopen", 14)), 0)


def test_a_reopening_after_a_person_resolved_it_is_announced():
    by_hand = entry("resolve", 10, "rerouted", actor="li")
    assert not flapping.quiet_reopening(reopened(by_hand, entry("reopen", 11)), 300)
    assert not flapping.quiet_reopening(reopened(entry("reopen", 11), count=0), 300)


def test_only_a_reported_recovery_waits_for_its_hold():
    resolved = Ticket(id="INC-A-1", status=TicketStatus.RESOLVED, resolution_code="monitoring_recovered",
                      resolved_at=T0, created_at=T0, updated_at=T0)
    assert flapping.restoration_due(resolved, 300) == T0 + timedelta(minutes=5)
    assert flapping.restoration_due(resolved, 0) is None
    for code in ("resolved_by_workaround", "monitoring_reconciled", "stale_timeout"):
        assert flapping.restoration_due(Ticket(id="INC-A-1", status=TicketStatus.RESOLVED, resolution_code=code,
                                               resolved_at=T0, created_at=T0, updated_at=T0), 300) is None
