"""A user's report of a fault the monitoring may already have opened (handbook §3.1.3.8, pure):
the open masters suggested as the one it duplicates, for the service desk to confirm with
``mark_duplicate``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from alertgate.tickets.model import Ticket, TicketKind
from alertgate.tickets.shortlist import Shortlist

SUGGESTED = 5   # at most this many, the likeliest first
UNKNOWN_CI = "unknown"


class Suggestions:
    """The open masters on the report's CI (case-folded), then those on its affected service; in
    each, the higher priority first, then the newer. Offered the open masters a chunk at a time."""

    def __init__(self, report: Ticket, limit: int = SUGGESTED) -> None:
        self._rank = _ranking(report)
        self._shortlist = Shortlist(self._rank, limit)   # type: ignore[arg-type]
        self._near = {_folded(report.ci) if report.ci != UNKNOWN_CI else "", _folded(report.affected_service)} - {""}

    def worth_reading(self, stored: Mapping[str, bytes | None]) -> bool:
        """Whether a master's stored ``ci`` or ``affected_service`` may make it one: the others
        are passed over before a ticket is made of them."""
        return any(_folded(stored.get(name)) in self._near for name in ("ci", "affected_service"))

    def offer(self, open_masters: Iterable[Ticket]) -> None:
        self._shortlist.offer(master for master in open_masters if self._rank(master) is not None)

    @property
    def ids(self) -> list[str]:
        return [master.id for master in self._shortlist.first]


def suggest_masters(report: Ticket, open_masters: list[Ticket], limit: int = SUGGESTED) -> list[str]:
    suggestions = Suggestions(report, limit)
    suggestions.offer(open_masters)
    return suggestions.ids


def _folded(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return (value or "").casefold()


def _ranking(report: Ticket) -> Callable[[Ticket], tuple | None]:
    ci = report.ci.casefold() if report.ci and report.ci != UNKNOWN_CI else None
    service = (report.affected_service or "").casefold() or None

    def rank(master: Ticket) -> tuple | None:
        if master.id == report.id or master.kind not in (TicketKind.MASTER, TicketKind.MAJOR):
            return None
        if ci is not None and master.ci.casefold() == ci:
            near = 0
        elif service is not None and (master.affected_service or "").casefold() == service:
            near = 1
        else:
            return None
        return (near, master.priority, -master.created_at.timestamp(), master.id)
    return rank
