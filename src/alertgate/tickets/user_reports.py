"""A user's report of a fault the monitoring may already have opened (handbook §3.1.3.8, pure):
the open masters suggested as the one it duplicates, for the service desk to confirm with
``mark_duplicate``."""

from __future__ import annotations

from alertgate.tickets.model import Ticket, TicketKind

SUGGESTED = 5   # at most this many, the likeliest first
UNKNOWN_CI = "unknown"


def suggest_masters(report: Ticket, open_masters: list[Ticket], limit: int = SUGGESTED) -> list[str]:
    """The open masters on the report's CI (case-folded), then those on its affected service;
    in each, the higher priority first, then the newer."""
    ci = report.ci.casefold() if report.ci and report.ci != UNKNOWN_CI else None
    service = (report.affected_service or "").casefold() or None

    def rank(master: Ticket) -> int | None:
        if master.id == report.id or master.kind not in (TicketKind.MASTER, TicketKind.MAJOR):
            return None
        if ci is not None and master.ci.casefold() == ci:
            return 0
        if service is not None and (master.affected_service or "").casefold() == service:
            return 1
        return None

    ranked = [(r, m) for m in open_masters if (r := rank(m)) is not None]
    ranked.sort(key=lambda pair: (pair[0], pair[1].priority, -pair[1].created_at.timestamp(), pair[1].id))
    return [master.id for _, master in ranked[:limit]]
