"""Reconciliation's clock (SPEC §9): every ``reconcile.interval`` one worker (the holder of a
lock in the state Redis) asks the configured Alertmanagers and Zabbix servers whether each
unresolved master of theirs still exists, and resolves those gone on two consecutive checks
(``monitoring_reconciled``); masters of sources without an API whose rule set ``stale_after``
are resolved after that long without an occurrence (``stale_timeout``). An unreachable source,
an error or a timeout resolves nothing: it is logged and counted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import structlog

from alertgate.correlation.service import CatalogueService
from alertgate.correlation.store import CatalogueStore
from alertgate.dedup import layout
from alertgate.intake.sources.alertmanager import NAME as ALERTMANAGER
from alertgate.intake.sources.common import SourceContext
from alertgate.intake.sources.zabbix import NAME as ZABBIX
from alertgate.heartbeats.model import SOURCE as HEARTBEAT
from alertgate.keys import RECONCILE_LOCK
from alertgate.reconcile import alertmanager
from alertgate.reconcile.alertmanager import SourceUnavailable
from alertgate.reconcile.decide import Verdict, events_present, stale, verdict
from alertgate.reconcile.zabbix import ZabbixClient, event_id
from alertgate.rules.service import RulesService
from alertgate.runtime.connections import connect_queue_redis, connect_state
from alertgate.settings import Role
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor, IllegalTransition
from alertgate.tickets.model import ResolutionCode, Ticket, TicketStatus
from alertgate.tickets.store import TicketNotFound, TicketStore
from alertgate.work_queue import action_job, enqueue_all
from alertgate.workers.context import context

log = structlog.get_logger("alertgate.reconcile")
RESOLVABLE = {TicketStatus.OPEN, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS}
# What the checks read of each master (a chunk of the masters index at a time, not each whole).
FIELDS = ("alert_source", "stale_after", "ci", "symptom", "occurrence_id", "duplicate_count", "reconcile_gone_at",
          "last_occurrence_at")
# Reconciliation resolves with the incident manager's authority, recorded as alertgate's.
ACTOR = Actor("alertgate", Role.INCIDENT_MANAGER)


class ReconcileSweep:
    def __init__(self) -> None:
        settings = context().settings
        self._rules = RulesService(Path(settings.config_dir), settings.dedup_window)
        self._rules.reload()
        # Alerts are asked back with the CI the catalogue gives them, as intake named their masters.
        self._catalogue = CatalogueService(Path(settings.config_dir) / "cmdb", CatalogueStore(None))

    def run(self, state_sync) -> str:
        """Once per ``reconcile.interval`` among all workers (``state_sync``: the sweeper's client)."""
        interval = float(context().settings.reconcile.interval)
        if not state_sync.set(RECONCILE_LOCK, "1", nx=True, px=max(1, int(interval * 950))):
            return "not due"
        self._rules.reload_if_changed()
        return asyncio.run(self._sweep())

    async def _sweep(self) -> str:
        ctx = context()
        settings = ctx.settings
        redis = connect_state(settings, fail_fast=False)
        try:
            await layout.ensure(redis)
            store = TicketStore(redis)
            self._catalogue.store = CatalogueStore(redis)
            await self._catalogue.refresh()
            now = datetime.now(UTC)
            candidates: dict[str, list[Ticket]] = {ALERTMANAGER: [], ZABBIX: [], "stale": []}
            async for chunk in store.unresolved_masters(FIELDS):
                for ticket in chunk:   # (each with FIELDS only: read whole one at a time, 10,000 took seconds)
                    if ticket.status not in RESOLVABLE:
                        continue
                    source = ticket.alert_source or ""
                    if source in (ALERTMANAGER, ZABBIX):
                        candidates[source].append(ticket)
                    elif source != HEARTBEAT and ticket.stale_after:
                        candidates["stale"].append(ticket)
            async with httpx.AsyncClient(timeout=float(settings.reconcile.timeout)) as client:
                results = []
                if settings.reconcile.alertmanager and candidates[ALERTMANAGER]:
                    results += await self._alertmanager(store, client, candidates[ALERTMANAGER], now)
                if settings.reconcile.zabbix and candidates[ZABBIX]:
                    results += await self._zabbix(store, client, candidates[ZABBIX], now)
            results += await self._stale(store, candidates["stale"], now)
            resolved = [ticket_id for ticket_id, done in results if done]
            if resolved:
                attempts = settings.notify.max_attempts
                enqueue_all(connect_queue_redis(settings),
                            [action_job("restoration", t, "reconciled", attempts) for t in resolved])
            return f"reconcile: {len(resolved)} resolved of {len(results)} checked"
        finally:
            await redis.aclose()

    async def _alertmanager(self, store: TicketStore, client, tickets: list[Ticket], now: datetime) -> list:
        settings = context().settings
        ctx = SourceContext(now, tuple(settings.ci_labels), tuple(settings.symptom_labels))
        present = await _ask_all(settings.reconcile.alertmanager, ALERTMANAGER,
                                 lambda api: alertmanager.present_keys(api, client, ctx, self._rules, self._catalogue, now,
                                                                      float(settings.reconcile.restart_grace)))
        source = f"Alertmanager {', '.join(api.name for api in settings.reconcile.alertmanager)}"
        out = []
        for ticket in tickets:
            found = None if present is None else (ticket.ci, ticket.symptom) in present
            out.append((ticket.id, await self._apply(store, ticket, found, ALERTMANAGER, source, now)))
        return out

    async def _zabbix(self, store: TicketStore, client, tickets: list[Ticket], now: datetime) -> list:
        settings = context().settings
        events = {t.id: await _open_event_ids(store, t) for t in tickets}
        wanted = sorted({e for found in events.values() for e in found})
        async def states(api) -> set[tuple[str, str]]:   # (each state tagged: _ask_all unions sets)
            still_open, closed = await ZabbixClient(api, client).event_states(wanted)
            return {("open", e) for e in still_open} | {("closed", e) for e in closed}
        answers = await _ask_all(settings.reconcile.zabbix, ZABBIX, states)
        source = f"Zabbix {', '.join(api.name for api in settings.reconcile.zabbix)}"
        out = []
        for ticket in tickets:
            mine = events[ticket.id]
            found = None if answers is None else events_present(
                mine, {e for state, e in answers if state == "open"}, {e for state, e in answers if state == "closed"})
            out.append((ticket.id, await self._apply(store, ticket, found, ZABBIX, source, now)))
        return out

    async def _stale(self, store: TicketStore, tickets: list[Ticket], now: datetime) -> list:
        out = []
        for ticket in tickets:
            if not stale(ticket.last_occurrence_at or ticket.created_at, ticket.stale_after, now):
                continue
            note = f"no occurrence for {ticket.stale_after:g} s (the rule's stale_after)"
            out.append((ticket.id, await _resolve(store, ticket.id, ResolutionCode.STALE_TIMEOUT, note, now)))
        return out

    async def _apply(self, store: TicketStore, ticket: Ticket, present: bool | None, source_name: str,
                     source: str, now: datetime) -> bool:
        metrics = context().metrics
        decided = verdict(present, ticket.reconcile_gone_at)
        if decided is Verdict.UNKNOWN:
            metrics.reconciled.labels(source_name, "error").inc()
        elif decided is Verdict.PRESENT:
            metrics.reconciled.labels(source_name, "present").inc()
        if decided is Verdict.RESOLVE:
            note = f"{source} no longer has it (asked at {ticket.reconcile_gone_at:%H:%M:%S} and {now:%H:%M:%S} UTC)"
            done = await _resolve(store, ticket.id, ResolutionCode.MONITORING_RECONCILED, note, now)
            if done:
                metrics.reconciled.labels(source_name, "resolved").inc()
            return done
        gone_at = now if decided is Verdict.GONE_ONCE else None
        if ticket.reconcile_gone_at != gone_at:
            await store.change(ticket.id, lambda t: msgspec.structs.replace(t, reconcile_gone_at=gone_at)
                               if t.status in (TicketStatus.OPEN, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS)
                               else None)
        return False


async def _ask_all(apis: list, source: str, ask) -> set | None:
    """The union of every instance's answer; None as soon as one cannot be trusted."""
    found: set = set()
    for api in apis:
        try:
            found |= await ask(api)
        except SourceUnavailable as exc:
            log.warning("reconcile_source_unavailable", source=source, reason=str(exc))
            return None
    return found


async def _open_event_ids(store: TicketStore, master: Ticket) -> set[str]:
    """The Zabbix events of a master and its unresolved duplicates (their stored status and
    occurrence id only, a chunk per round trip: read whole, one by one, a master of 20,000
    duplicates took seconds every interval)."""
    found = {event_id(master.occurrence_id)}
    async for chunk in store.duplicate_fields(master, ("status", "occurrence_id")):
        for duplicate in chunk:
            occurrence = duplicate["occurrence_id"]
            if occurrence and duplicate["status"] not in (b"resolved", b"closed"):
                found.add(event_id(occurrence.decode(errors="replace")))
    return {e for e in found if e}


async def _resolve(store: TicketStore, ticket_id: str, code: ResolutionCode, note: str, now: datetime) -> bool:
    try:
        await store.act(ticket_id, Action.RESOLVE, ActionRequest(resolution_code=code, solution=note, note=note),
                        ACTOR, now, owe="restoration")
    except (IllegalTransition, TicketNotFound):
        return False  # resolved, suspended or gone meanwhile
    log.info("reconciled", ticket_id=ticket_id, resolution_code=code.value, note=note)
    return True
