"""A master that flaps — the monitoring reports it recovered, then it fires again soon after —
tells nobody each time. SPEC §4 asks for a notice on restoration, and a reopened master is
dispatched again (§5): an alert that comes and goes every minute sent a restoration notice and
an incident notice every minute, to the stakeholders too once the incident was an hour old
(measured: 3,000 flaps of one alert, 3,000 reopenings). So:

- a restoration the monitoring reported (``monitoring_recovered``) is announced once the master
  has stayed resolved for ``notify.restoration_hold`` (5m): its job waits in RQ's scheduled
  registry (``work_queue.held_restoration_job``), and a master reopened meanwhile announces
  nothing for that recovery;
- a master reopened within that hold of such a recovery is dispatched (its timers planned again),
  and its notices are not sent: nobody was told it was restored, so nobody is told it is back.

A resolution by a person, by reconciliation or by a stale timeout is announced at once. The hold
is Alertmanager's ``group_interval`` (5m) for resolved alerts and Nagios's flap detection in one
simple rule (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from alertgate.tickets.model import Ticket, TicketStatus

HELD_CODE = "monitoring_recovered"
RECOVERED_NOTE = "monitoring recovered"   # the resolve entry dedup/ingest.lua writes with HELD_CODE


def restoration_due(ticket: Ticket, hold: float) -> datetime | None:
    """When the ticket's restoration notice may go, if it must wait for its recovery to hold."""
    if hold <= 0 or ticket.status is not TicketStatus.RESOLVED or ticket.resolution_code != HELD_CODE:
        return None
    return ticket.resolved_at + timedelta(seconds=hold) if ticket.resolved_at else None


def quiet_reopening(ticket: Ticket, hold: float) -> bool:
    """Whether the ticket's latest reopening came within ``hold`` of a recovery the monitoring
    reported (whose restoration was therefore never announced)."""
    if hold <= 0 or ticket.reopen_count == 0:
        return False
    reopened = None
    for entry in reversed(ticket.timeline):
        if reopened is None:
            if entry.action == "reopen":
                reopened = entry
        elif entry.action == "resolve":
            return entry.note == RECOVERED_NOTE and (reopened.at - entry.at).total_seconds() < hold
    return False
