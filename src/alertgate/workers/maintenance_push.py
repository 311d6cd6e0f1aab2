"""Maintenance windows pushed to the sources (SPEC §10; off by default): each window's occurrence
in force, or starting within ``maintenance.push_ahead``, as an Alertmanager silence and as a
Zabbix maintenance of the hosts it names, on the APIs listed under ``reconcile``. Every sweep
brings the sources in line with the windows: a changed or new occurrence replaces what was pushed,
an ended or shortened window removes or replaces it, a failed push is retried the next sweep.
Each window shows its state per source (``pushes``): pushed, removed, failed (with the error and
the attempts) or not_expressible (a matcher the source has no words for: reported, not dropped)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import structlog

from alertgate.maintenance import schedule
from alertgate.maintenance.model import Push, Window
from alertgate.maintenance.store import WindowStore
from alertgate.maintenance.translate import NotExpressible, silence_matchers, zabbix_hosts
from alertgate.reconcile import alertmanager
from alertgate.reconcile.alertmanager import SourceUnavailable
from alertgate.reconcile.zabbix import ZabbixClient
from alertgate.runtime.connections import connect_state
from alertgate.settings import AlertmanagerApi, ZabbixApi
from alertgate.workers.context import context

log = structlog.get_logger("alertgate.maintenance")


class MaintenancePush:
    def run(self) -> str:
        settings = context().settings.maintenance
        if not (settings.push_alertmanager or settings.push_zabbix):
            return "maintenance push: off"
        return asyncio.run(self._push())

    async def _push(self) -> str:
        settings = context().settings
        targets: list[tuple[str, AlertmanagerApi | ZabbixApi]] = []
        if settings.maintenance.push_alertmanager:
            targets += [(f"alertmanager:{api.name}", api) for api in settings.reconcile.alertmanager]
        if settings.maintenance.push_zabbix:
            targets += [(f"zabbix:{api.name}", api) for api in settings.reconcile.zabbix]
        redis = connect_state(settings, fail_fast=False)
        changed = 0
        try:
            store = WindowStore(redis)
            now = datetime.now(UTC)
            ahead = timedelta(seconds=float(settings.maintenance.push_ahead))
            async with httpx.AsyncClient(timeout=float(settings.reconcile.timeout)) as client:
                for window in await store.live(now):
                    try:
                        wanted = _wanted(window, now, ahead)
                    except schedule.UNWORKABLE as exc:
                        log.error("maintenance_window_unusable", id=window.id, error=str(exc))
                        continue
                    for key, api in targets:
                        before = window.pushes.get(key)
                        after = await _sync(api, client, window, wanted, before, now)
                        if after != before:
                            changed += 1
                            await store.change(window.id, lambda w, key=key, after=after:
                                               msgspec.structs.replace(w, pushes={**w.pushes, key: after}))
                            log.info("maintenance_pushed", window=window.id, target=key, status=after.status,
                                     error=after.error)
            return f"maintenance push: {changed} changed"
        finally:
            await redis.aclose()


def _wanted(window: Window, now: datetime, ahead: timedelta) -> tuple[datetime, datetime] | None:
    current = schedule.occurrence_at(window, now)
    if current is not None:
        return current
    upcoming = schedule.next_occurrence(window, now)
    return upcoming if upcoming is not None and upcoming[0] <= now + ahead else None


async def _sync(api, client: httpx.AsyncClient, window: Window, wanted, before: Push | None, now: datetime) -> Push | None:
    pushed = before is not None and before.remote_id is not None and before.status in ("pushed", "failed")
    if wanted is None:
        if not pushed or (before.ends_at is not None and before.ends_at <= now and before.status == "pushed"):
            return before  # nothing there, or it lapsed by itself
        try:
            await _remove(api, client, before.remote_id)
        except SourceUnavailable as exc:
            return msgspec.structs.replace(before, status="failed", error=str(exc), attempts=before.attempts + 1, at=now)
        return Push(status="removed", at=now)
    if before is not None and before.status == "pushed" and (before.starts_at, before.ends_at) == wanted:
        return before
    try:
        if isinstance(api, AlertmanagerApi):
            words = silence_matchers(window.matchers)
        else:
            words = zabbix_hosts(window.matchers)
    except NotExpressible as exc:
        if before is not None and before.status == "not_expressible" and before.error == str(exc):
            return before
        return Push(status="not_expressible", error=str(exc), at=now)
    try:
        if pushed:  # a changed occurrence: what was pushed goes first
            await _remove(api, client, before.remote_id)
        remote_id = await _create(api, client, window, words, wanted)
    except SourceUnavailable as exc:
        attempts = before.attempts + 1 if before is not None and before.status == "failed" else 1
        return Push(status="failed", remote_id=before.remote_id if pushed else None, starts_at=wanted[0],
                    ends_at=wanted[1], error=str(exc), attempts=attempts, at=now)
    return Push(status="pushed", remote_id=remote_id, starts_at=wanted[0], ends_at=wanted[1], at=now)


async def _create(api, client: httpx.AsyncClient, window: Window, words: list, wanted) -> str:
    note = f"alertgate {window.id}: {window.title}" + (f" ({window.change_id})" if window.change_id else "")
    if isinstance(api, AlertmanagerApi):
        return await alertmanager.create_silence(api, client, words, wanted[0], wanted[1], note)
    name = f"alertgate {window.id} {wanted[0]:%Y-%m-%d %H:%M}"
    return await ZabbixClient(api, client).create_maintenance(
        name, words, int(wanted[0].timestamp()), int(wanted[1].timestamp()), note)


async def _remove(api, client: httpx.AsyncClient, remote_id: str) -> None:
    if isinstance(api, AlertmanagerApi):
        await alertmanager.expire_silence(api, client, remote_id)
    else:
        await ZabbixClient(api, client).delete_maintenance(remote_id)
