"""The heartbeats' clock: each sweep (``sweeper.py``, one worker per interval) registers the
heartbeats the settings expect, expires the due ones and finishes any expiry or recovery not yet
through the pipeline (``intake/heartbeats.py``), then sets the heartbeat metrics. An expiry is
therefore seen within one ``sweep_interval`` of its deadline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alertgate.dedup import layout
from alertgate.heartbeats.model import HeartbeatStatus
from alertgate.intake.assembly import build_intake
from alertgate.rules.service import RulesService
from alertgate.runtime.connections import connect_queue_redis, connect_state
from alertgate.workers.context import context


class HeartbeatSweep:
    def __init__(self) -> None:
        settings = context().settings
        self._rules = RulesService(Path(settings.config_dir), settings.dedup_window)
        self._rules.reload()  # (invalid files are logged; an expiry is then classified by the defaults)

    def run(self) -> str:
        self._rules.reload_if_changed()  # (a failed reload keeps the last good set, as in the gateway)
        return asyncio.run(self._sweep())

    async def _sweep(self) -> str:
        ctx = context()
        redis = connect_state(ctx.settings, fail_fast=False)
        try:
            await layout.ensure(redis)
            intake = build_intake(ctx.settings, redis, self._rules, connect_queue_redis(ctx.settings),
                                  on_created=ctx.metrics.ticket_created)
            await intake.maintenance.refresh(intake.windows)  # (an expiry inside a window is held by it)
            await intake.catalogue.refresh()
            await intake.correlation.refresh(datetime.now(UTC))
            now = datetime.now(UTC)
            await intake.heartbeats.register(ctx.settings.heartbeats.expected, now)
            swept = await intake.heartbeats.sweep(now)
            self._measure(await intake.heartbeats.store.all(), now, swept.expired)
            return swept.summary()
        finally:
            await redis.aclose()

    @staticmethod
    def _measure(heartbeats: list, now: datetime, expired: list[str]) -> None:
        metrics = context().metrics
        by_status = {status: 0 for status in HeartbeatStatus}
        for heartbeat in heartbeats:
            by_status[heartbeat.status] += 1
            seen = heartbeat.last_seen or heartbeat.created_at
            metrics.heartbeat_age.labels(heartbeat.name).set(round((now - seen).total_seconds(), 3))
        for status, count in by_status.items():
            metrics.heartbeats.labels(status.value).set(count)
        for name in expired:
            metrics.heartbeat_expired.labels(name).inc()
