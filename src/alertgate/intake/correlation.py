"""Topology correlation as a step of intake (SPEC §11), its Redis side: the masters of parent CIs are
published to one sorted set (``keys.TOPOLOGY_RECENT``) and each process reads back the recent
ones every second; a new ticket of a CI whose ancestor has one is correlated to it (``topology``).
Nothing runs while the catalogue names no parent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alertgate.correlation.catalogue import CI
from alertgate.correlation.service import CatalogueService
from alertgate.correlation.topology import RecentMasters, cause
from alertgate.dedup.decide import Outcome
from alertgate.keys import TOPOLOGY_RECENT, correlated_children_key
from alertgate.tickets.alert import Alert, AlertStatus

OPENED = frozenset({Outcome.NEW, Outcome.RECURRENCE})


class Correlator:
    def __init__(self, catalogue: CatalogueService, redis, window: float, max_depth: int) -> None:
        self._catalogue = catalogue
        self._redis = redis
        self.window = float(window)
        self.max_depth = max_depth
        self.recent = RecentMasters()

    @property
    def enabled(self) -> bool:
        return bool(self._catalogue.catalogue.parents)

    def causes(self, alerts: Sequence[Alert], cis: Sequence[CI | None], now: datetime) -> list[str | None] | None:
        """Per alert, the parent CI's master a new ticket of it would be caused by; None for all
        when none would be."""
        recent = self.recent.by_ci
        if not recent:
            return None
        catalogue, moment, found = self._catalogue.catalogue, now.timestamp(), None
        for index, (alert, ci) in enumerate(zip(alerts, cis)):
            if ci is None or alert.status is not AlertStatus.FIRING or alert.update:
                continue
            parent = cause(catalogue.ancestors_of(ci.name, self.max_depth), recent, moment, self.window)
            if parent is not None:
                found = found or [None] * len(alerts)
                found[index] = parent
        return found

    async def after_ingest(self, alerts: Sequence[Alert], results: Sequence, now: datetime) -> None:
        """Publish the masters this request opened on parent CIs; link correlated tickets to their
        parent's master (its list of children, for the ticket's page)."""
        parents, moment = self._catalogue.catalogue.parents, now.timestamp()
        published: dict[str, float] = {}
        children: list[tuple[str, str]] = []
        for alert, result in zip(alerts, results):
            if result.outcome in OPENED and alert.ci in parents and result.ticket_id:
                self.recent.note(alert.ci, result.ticket_id, moment)
                published[f"{alert.ci} {result.ticket_id}"] = moment
            elif result.outcome is Outcome.CORRELATED and result.master_id and result.ticket_id:
                children.append((result.master_id, result.ticket_id))
        if not published and not children:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            if published:
                pipe.zadd(TOPOLOGY_RECENT, published)
            for master_id, child in children:
                pipe.rpush(correlated_children_key(master_id), child)
            await pipe.execute()

    async def refresh(self, now: datetime) -> None:
        """Every process's masters of parent CIs within the window (older ones are dropped)."""
        if not self.enabled:
            self.recent.by_ci = {}
            return
        since = now.timestamp() - self.window
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(TOPOLOGY_RECENT, "-inf", f"({since}")
            pipe.zrangebyscore(TOPOLOGY_RECENT, since, "+inf", withscores=True)
            _, rows = await pipe.execute()
        parsed = []
        for member, score in rows:
            ci, _, master_id = member.decode(errors="replace").rpartition(" ")
            parsed.append((ci, master_id, float(score)))
        self.recent.replace(parsed, since)
