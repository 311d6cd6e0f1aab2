"""The ingest sequence of one request, without HTTP: the sender's body → Alerts (its source's
parser, ``SOURCES[name](body, SourceContext(...))``) → each CI as the catalogue names it
(``correlation``) → a Policy each (the rules) → outcomes and
tickets (the dedup store, atomically per key) → the workers' jobs (``handoff``). The gateway adds
credentials, metrics and the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

import msgspec
from redis.exceptions import TimeoutError as RedisTimeoutError

from alertgate.correlation.catalogue import CI
from alertgate.correlation.service import CatalogueService
from alertgate.dedup.decide import CREATED_KIND, Outcome
from alertgate.dedup.store import DedupStore, IngestResult
from alertgate.heartbeats import clock
from alertgate.heartbeats.model import Definition
from alertgate.heartbeats.store import HeartbeatLimitReached, HeartbeatNotFound, HeartbeatStore
from alertgate.intake.correlation import Correlator
from alertgate.intake.handoff import JobHandoff
from alertgate.intake.heartbeats import HeartbeatFeed
from alertgate.intake.sources import zabbix
from alertgate.intake.windows import WindowPlanner
from alertgate.maintenance.active import ActiveWindows
from alertgate.maintenance.store import WindowStore
from alertgate.rules.policy import Policy
from alertgate.rules.service import RulesService
from alertgate.runtime.watching import never, watch_every
from alertgate.settings import Settings
from alertgate.tickets.alert import Alert, AlertStatus


class Intake:
    def __init__(self, settings: Settings, dedup: DedupStore, rules: RulesService, handoff: JobHandoff,
                 heartbeats: HeartbeatStore, windows: WindowStore, catalogue: CatalogueService,
                 correlation: Correlator, on_heartbeat_failed: Callable[[str], None] | None = None,
                 on_created: Callable[[str, int], None] | None = None) -> None:
        self._dedup, self._rules, self.handoff, self.catalogue = dedup, rules, handoff, catalogue
        self.correlation = correlation
        self._redis_timeout = float(settings.redis_timeout)
        self._on_created = on_created   # (kind, priority) of each ticket ``send`` creates
        self.heartbeats = HeartbeatFeed(heartbeats, settings, self.send, on_heartbeat_failed)
        self.windows, self.maintenance = windows, ActiveWindows()
        self._window_changes = 0   # (maintenance.changes when the dedup store last heard of them)
        self.planner = WindowPlanner(windows, self.maintenance, settings)

    async def watch_windows(self, away: Callable[[BaseException], bool] = never) -> None:
        """Reload the maintenance windows when they change (each gateway process for itself)."""
        await watch_every(1.0, lambda: self.maintenance.refresh(self.windows), "maintenance windows", away)

    async def watch_topology(self, away: Callable[[BaseException], bool] = never) -> None:
        """Read every process's recent masters of parent CIs (topology correlation)."""
        await watch_every(1.0, lambda: self.correlation.refresh(datetime.now(timezone.utc)), "topology", away)

    async def send(self, alerts: list[Alert], now: datetime) -> list[IngestResult]:
        """The whole pipeline for alerts made here (a heartbeat's expiry and recovery, held alerts
        released); the tickets it creates are counted (the gateway counts a sender's itself)."""
        _, policies, results = await self.record(alerts, now)
        if self._on_created is not None:
            for policy, result in zip(policies, results):
                if result.outcome in CREATED_KIND:
                    self._on_created(CREATED_KIND[result.outcome], policy.priority)
        return results

    async def record(self, alerts: list[Alert], now: datetime) -> tuple[list[Alert], list[Policy], list[IngestResult]]:
        """Classify, then decide and write each alert's outcome. The whole Redis part, batching and
        any second call included, is bounded by ``redis_timeout``: past it, a Redis fault (503)."""
        echoes = [i for i, alert in enumerate(alerts) if alert.update and zabbix.is_echo(alert)]
        if echoes:  # (rare: the update webhooks of alertgate's own acknowledgements)
            return await self._without_echoes(alerts, set(echoes), now)
        canonical = self.catalogue.catalogue.canonical if self.catalogue.active else None
        classified, policies, cis = classify(alerts, self._rules, now, canonical)
        if cis is not None and None in cis:
            self.catalogue.count_unknown(alerts, cis)   # (the senders' names, before any rule)
        alerts = classified
        held = self.maintenance.holding(alerts, policies, now)
        if held is not None and self.maintenance.changes != self._window_changes:
            self._window_changes = self.maintenance.changes
            self._dedup.forget_held()
        correlating = cis is not None and self.correlation.enabled
        caused = self.correlation.causes(alerts, cis, now) if correlating else None
        cascading: list[str] = []
        try:
            async with asyncio.timeout(self._redis_timeout):
                results = await self._dedup.ingest(alerts, policies, now, held, caused, cascading)
                links = self.correlation.links(alerts, results, now) if correlating else None
                if links is not None:
                    await self.correlation.write(links)
        except TimeoutError:
            raise RedisTimeoutError(f"no answer within redis_timeout ({self._redis_timeout:g} s)") from None
        if cascading:   # (rare: a recovered master's many duplicates; a slice a call, unbounded by redis_timeout)
            await self._dedup.finish_cascades(cascading)
        for i, policy in enumerate(policies):
            if policy.heartbeat is not None:  # (rare: the rest of a storm pays this test only)
                results[i] = await self._ping(alerts[i], policy, now)
        return alerts, policies, results

    async def _without_echoes(self, alerts: list[Alert], echoes: set[int], now: datetime):
        """The echoes answer ``repeat`` and record nothing (so a sync never loops); the rest as usual."""
        rest = [a for i, a in enumerate(alerts) if i not in echoes]
        done, policies, results = await self.record(rest, now) if rest else ([], [], [])
        merged_alerts, merged_policies, merged = [], [], []
        it = iter(zip(done, policies, results))
        for i, alert in enumerate(alerts):
            if i in echoes:
                merged_alerts.append(alert)
                merged_policies.append(Policy())
                merged.append(IngestResult(alert.occurrence_id, Outcome.REPEAT))
            else:
                a, p, r = next(it)
                merged_alerts.append(a)
                merged_policies.append(p)
                merged.append(r)
        return merged_alerts, merged_policies, merged

    async def _ping(self, alert: Alert, policy: Policy, now: datetime) -> IngestResult:
        """A firing alert a rule maps to a heartbeat pings it. A resolved one says its sender
        stopped (a Watchdog resolves when its Prometheus no longer evaluates it): the heartbeat
        fails now rather than at its timeout, unless it was pinged after that end."""
        rule = policy.heartbeat
        if alert.update:
            return IngestResult(alert.occurrence_id, Outcome.HEARTBEAT)
        name = clock.name_from(rule.name, rule.label, alert)
        try:
            if alert.status is AlertStatus.FIRING:
                await self.heartbeats.ping(name, None, now, registration=Definition(timeout=rule.timeout))
            else:
                await self.heartbeats.fail(name, now, stopped_at=alert.observed_at, register=False)
        except (HeartbeatLimitReached, HeartbeatNotFound):   # (logged by the feed; an unknown one: nothing to fail)
            pass
        return IngestResult(alert.occurrence_id, Outcome.HEARTBEAT)


def classify(alerts: list[Alert], rules: RulesService, now: datetime,
             resolve: Callable[[Alert], tuple[Alert, CI | None]] | None = None,
             ) -> tuple[list[Alert], list[Policy], list[CI | None] | None]:
    """Each alert as the rules see it, its Policy, and its catalogue CI (``resolve``: the
    catalogue's step, if one is in use; else no CIs, None). A classify rule that corrects the CI
    or names the symptom changes the alert's dedup key. One pass: a storm runs it per alert."""
    evaluate, replace = rules.engine.evaluate, msgspec.structs.replace
    classified, policies, cis = [], [], []
    for alert in alerts:
        ci = None
        if resolve is not None:
            alert, ci = resolve(alert)
            cis.append(ci)
        policy = evaluate(alert, now, ci).policy
        if policy.ci or policy.symptom:
            alert = replace(alert, ci=policy.ci or alert.ci, symptom=policy.symptom or alert.symptom)
        classified.append(alert)
        policies.append(policy)
    return classified, policies, (cis if resolve is not None else None)
