"""The pipeline built from the settings, the same for the gateway and the worker's sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from redis import Redis as SyncRedis

from alertgate.correlation.service import CatalogueService
from alertgate.correlation.store import CatalogueStore
from alertgate.dedup.store import DedupStore
from alertgate.heartbeats.model import SOURCE as HEARTBEAT_SOURCE
from alertgate.heartbeats.store import HeartbeatStore
from alertgate.intake.correlation import Correlator
from alertgate.intake.handoff import JobHandoff
from alertgate.intake.pipeline import Intake
from alertgate.intake.sources import REGISTRY
from alertgate.maintenance.store import WindowStore
from alertgate.rules.service import RulesService
from alertgate.settings import Settings


def auto_resolve_defaults(settings: Settings) -> dict[str, bool]:
    """Per source, whether a recovery resolves its master: the source's default, the settings'
    override. A heartbeat's recovery always does (its expiry is nothing a person confirmed)."""
    return {name: source.auto_resolve for name, source in REGISTRY.items()} | settings.auto_resolve | {
        HEARTBEAT_SOURCE: True}


def build_intake(settings: Settings, redis, rules: RulesService, queue_redis: SyncRedis | None,
                 on_unknown_ci: Callable[[str, int], None] | None = None,
                 on_heartbeat_failed: Callable[[str], None] | None = None,
                 on_created: Callable[[str, int], None] | None = None) -> Intake:
    # Occurrences are kept as long as a closed ticket can still make a recurrence.
    retention = int(settings.recurrence_lookback + settings.dedup_window)
    dedup = DedupStore(redis, retention, settings.recurrence_lookback, auto_resolve_defaults(settings),
                       settings.redis_wait_replicas, float(settings.redis_wait_timeout),
                       ticket_sources={name: source.ticket_source for name, source in REGISTRY.items()})
    catalogue = CatalogueService(Path(settings.config_dir) / "cmdb", CatalogueStore(redis), on_unknown_ci)
    handoff = JobHandoff(queue_redis, settings.notify.max_attempts,
                         settings.sync.zabbix_acknowledge or settings.sync.alertmanager_silence)
    return Intake(settings, dedup, rules, handoff, HeartbeatStore(redis), WindowStore(redis), catalogue,
                  Correlator(catalogue, redis, settings.topology.window, settings.topology.max_depth),
                  on_heartbeat_failed, on_created)
