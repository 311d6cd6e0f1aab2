"""Topology correlation as a step of intake (SPEC §11), its Redis side: the masters of parent CIs are
published to one sorted set (``keys.TOPOLOGY_RECENT``) and each process reads back the recent
ones every second; a new ticket of a CI whose ancestor has one is correlated to it (``topology``).
Nothing runs while the catalogue names no parent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alertgate.correlation.catalogue import CI
from alertgate.correlation.service import CatalogueService
from alertgate.correlation.topology import RecentMasters, cause
from alertgate.dedup.decide import Outcome
from alertgate.keys import TOPOLOGY_RECENT, correlated_children_key
from alertgate.tickets.alert import Alert, AlertStatus

NEW, RECURRENCE, CORRELATED = Outcome.NEW, Outcome.RECURRENCE, Outcome.CORRELATED


@dataclass
class Links:
    published: dict[str, float]           # "<ci> <master id>" → opened at
    children: list[tuple[str, str]]       # (parent's master, correlated ticket)


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

    def links(self, alerts: Sequence[Alert], results: Sequence, now: datetime) -> Links | None:
        """What this request's answers call for (None, as in a storm of duplicates: nothing): the
        masters it opened on parent CIs (noted here at once), and correlated tickets to list under
        their parent's master. A plain function: a storm pays no coroutine per request for it."""
        parents, new, recurrence, correlated = self._catalogue.catalogue.parents, NEW, RECURRENCE, CORRELATED
        found = None
        for alert, result in zip(alerts, results):
            outcome = result.outcome   # (compared by identity: an Enum's hash is Python code)
            if (outcome is new or outcome is recurrence) and alert.ci in parents and result.ticket_id:
                moment = now.timestamp()
                self.recent.note(alert.ci, result.ticket_id, moment)
                found = found or Links({}, [])
                found.published[f"{alert.ci} {result.ticket_id}"] = moment
            elif outcome is correlated and result.master_id and result.ticket_id:
                found = found or Links({}, [])
                found.children.append((result.master_id, result.ticket_id))
        return found

    async def write(self, links: Links) -> None:
        """Publish the masters for every process; list the correlated tickets (for their pages)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            if links.published:
                pipe.zadd(TOPOLOGY_RECENT, links.published)
            for master_id, child in links.children:
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
