"""A user's report of a fault the monitoring may already have opened (handbook §3.1.3.8, pure):
the open masters suggested as the one it duplicates, for the service desk to confirm with
``mark_duplicate``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alertgate.tickets.model import Ticket, TicketKind
from alertgate.tickets.shortlist import Shortlist

SUGGESTED = 5   # at most this many, the likeliest first
UNKNOWN_CI = "unknown"


class Suggestions:
    """The open masters on the report's CI (case-folded), then those on its affected service; in
    each, the higher priority first, then the newer. Offered the open masters a chunk at a time."""

    def __init__(self, report: Ticket, limit: int = SUGGESTED) -> None:
        self._report_id = report.id
        self._ci = _folded(report.ci) if report.ci != UNKNOWN_CI else ""
        self._service = _folded(report.affected_service)
        self._shortlist = Shortlist(self._rank, limit)   # type: ignore[arg-type]

    def worth_reading(self, stored: Mapping[str, bytes | None]) -> bool:
        """Whether a master's stored ``ci`` or ``affected_service`` may make it one: the others
        are passed over before a ticket is made of them."""
        near = {self._ci, self._service} - {""}
        return any(_folded(stored.get(name)) in near for name in ("ci", "affected_service"))

    def offer(self, open_masters: Iterable[Ticket]) -> None:
        self._shortlist.offer(master for master in open_masters if self._rank(master) is not None)

    @property
    def ids(self) -> list[str]:
        return [master.id for master in self._shortlist.first]

    def _rank(self, master: Ticket) -> tuple | None:
        """Its place among the suggestions (None: not one)."""
        if master.id == self._report_id or master.kind not in (TicketKind.MASTER, TicketKind.MAJOR):
            return None
        if self._ci and _folded(master.ci) == self._ci:
            near = 0
        elif self._service and _folded(master.affected_service) == self._service:
            near = 1
        else:
            return None
        return (near, master.priority, -master.created_at.timestamp(), master.id)


def suggest_masters(report: Ticket, open_masters: list[Ticket], limit: int = SUGGESTED) -> list[str]:
    suggestions = Suggestions(report, limit)
    suggestions.offer(open_masters)
    return suggestions.ids


def _folded(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return (value or "").casefold()
