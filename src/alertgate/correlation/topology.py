"""Topology correlation (SPEC §11), the pure part: which recent master of a parent CI a new
ticket is caused by, and each process's view of those masters.

A parent and its child may live in different Redis Cluster slots, so the decision cannot be one
atomic step with the parent's state. It is taken in the child's slot on a recent snapshot of the
parents' masters (``RecentMasters``: this process's own at once, every process's within a
second), and repaired by promotion: a correlated ticket whose parent's master is resolved, for
whatever reason and however soon, becomes a master at the next sweep (``workers/
correlation_sweep.py``). A snapshot that missed a parent leaves the child a master (dispatched: a
real fault is never swallowed); one that still lists a resolved parent is repaired by the sweep."""

from __future__ import annotations

from collections.abc import Mapping


def cause(ancestors: tuple[str, ...], recent: Mapping[str, tuple[str, float]], now: float,
          window: float) -> str | None:
    """The master of the nearest ancestor opened at most ``window`` seconds before ``now``."""
    for name in ancestors:
        found = recent.get(name)
        if found is not None and 0 <= now - found[1] <= window:
            return found[0]
    return None


class RecentMasters:
    """Masters of parent CIs opened within the window: CI → (master id, opened at, epoch s)."""

    def __init__(self) -> None:
        self.by_ci: dict[str, tuple[str, float]] = {}

    def note(self, ci: str, master_id: str, at: float) -> None:
        current = self.by_ci.get(ci)
        if current is None or current[1] <= at:
            self.by_ci[ci] = (master_id, at)

    def replace(self, rows: list[tuple[str, str, float]], since: float) -> None:
        """Every process's masters (ci, id, at) since ``since``; this process's own newer notes stay."""
        fresh: dict[str, tuple[str, float]] = {}
        for ci, master_id, at in rows:
            if ci not in fresh or fresh[ci][1] <= at:
                fresh[ci] = (master_id, at)
        for ci, (master_id, at) in self.by_ci.items():
            if at >= since and (ci not in fresh or fresh[ci][1] < at):
                fresh[ci] = (master_id, at)
        self.by_ci = fresh
