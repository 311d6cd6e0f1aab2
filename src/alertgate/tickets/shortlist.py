"""The first few of many tickets by some order, read a chunk at a time (pure).

The work queue and a report's suggested masters each show a handful of the unresolved masters,
and there may be hundreds of thousands after a storm. Holding every one of them until the sort
cost the collector as much again as reading them (650,000 masters: 36 s of the gateway's CPU,
half of it garbage collection; ``bench/README.md``). A shortlist keeps only the first ``size`` of
what it was offered, and counts the rest."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from alertgate.tickets.model import Ticket


class Shortlist:
    def __init__(self, key: Callable[[Ticket], tuple], size: int) -> None:
        # (each key ends with the ticket's id, which no two tickets share: a tie never compares tickets)
        self._key, self._size = key, size
        self._first: list[tuple[tuple, Ticket]] = []
        self.offered = 0

    def offer(self, tickets: Iterable[Ticket]) -> None:
        keyed = [(self._key(ticket), ticket) for ticket in tickets]
        self.offered += len(keyed)
        self._first = heapq.nsmallest(self._size, [*self._first, *keyed], key=_first_item)

    @property
    def first(self) -> list[Ticket]:
        """The first ``size`` in order."""
        return [ticket for _, ticket in self._first]

    @property
    def more(self) -> int:
        """How many were offered past those."""
        return self.offered - len(self._first)


def _first_item(pair: tuple[tuple, Any]) -> tuple:
    return pair[0]
