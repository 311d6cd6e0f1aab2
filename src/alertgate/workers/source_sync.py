"""Tickets → sources (SPEC §10; off by default, ``sync:``): what the people working a master do is
told back to the source it came from.

- Zabbix: accepting, resolving or closing a master acknowledges its event (``event.acknowledge``,
  the message ``INC-… accepted by <actor> (via alertgate)``). Zabbix then sends an update webhook
  for it; the gateway recognises its own words and answers ``repeat`` (``zabbix.is_echo``), so
  nothing loops.
- Alertmanager: a master accepted holds a silence of its alert (every label equal), so other
  receivers stop being reminded while someone works on it; resolving or closing it expires the
  silence, reopening it silences again.

Each push is done once per ticket, action and reopening (a mark in Redis), retried by RQ when
the source is down, and never blocks the action that called for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import structlog

from alertgate.intake.sources.alertmanager import NAME as ALERTMANAGER
from alertgate.intake.sources.zabbix import ECHO_MARK
from alertgate.intake.sources.zabbix import NAME as ZABBIX
from alertgate.keys import sent_key
from alertgate.reconcile import alertmanager
from alertgate.reconcile.zabbix import ZabbixClient, event_id
from alertgate.tickets.model import Ticket, TicketKind
from alertgate.tickets.store import TicketStore
from alertgate.workers.context import WorkerContext

log = structlog.get_logger("alertgate.sync")
WORDS = {"accept": "accepted", "resolve": "resolved", "close": "closed", "reopen": "reopened"}
KEEP = 30 * 86400


async def sync(ctx: WorkerContext, redis, store: TicketStore, ticket_id: str, action: str) -> str:
    ticket = await store.get(ticket_id)
    if ticket.kind is not TicketKind.MASTER or action not in WORDS:
        return "nothing to tell"
    mark = f"sync:{ticket.id}:{action}:{ticket.reopen_count}"
    settings = ctx.settings
    done = []
    async with httpx.AsyncClient(timeout=float(settings.reconcile.timeout)) as client:
        if ticket.alert_source == ZABBIX and settings.sync.zabbix_acknowledge:
            event = event_id(ticket.occurrence_id)
            actor = next((e.actor for e in reversed(ticket.timeline) if e.action == action), "alertgate")
            message = f"{ticket.id} {WORDS[action]} by {actor} {ECHO_MARK}"
            for api in settings.reconcile.zabbix if event else ():
                key = sent_key(mark, "zabbix", api.name)
                if await redis.exists(key):
                    continue
                await ZabbixClient(api, client).acknowledge(event, message, acknowledge=action == "accept")
                await redis.set(key, "1", ex=KEEP)
                done.append(f"zabbix {api.name}")
        if ticket.alert_source == ALERTMANAGER and settings.sync.alertmanager_silence:
            done += await _silence(ctx, client, store, ticket, action)
    if done:
        log.info("synced_to_source", ticket_id=ticket.id, action=action, to=done)
    return ", ".join(done) or "nothing to tell"


async def _silence(ctx: WorkerContext, client, store: TicketStore, ticket: Ticket, action: str) -> list[str]:
    apis = ctx.settings.reconcile.alertmanager
    if action in ("accept", "reopen") and ticket.source_silence is None and ticket.labels:
        now = datetime.now(UTC)
        matchers = [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(ticket.labels.items())]
        ids = [await alertmanager.create_silence(api, client, matchers, now, now + timedelta(
            seconds=float(ctx.settings.sync.silence_for)), f"{ticket.id} in progress (alertgate)") for api in apis]
        await store.change(ticket.id, lambda t: msgspec.structs.replace(t, source_silence=",".join(ids)))
        return ["alertmanager silence"]
    if action in ("resolve", "close") and ticket.source_silence:
        for api, silence in zip(apis, ticket.source_silence.split(",")):
            await alertmanager.expire_silence(api, client, silence)
        await store.change(ticket.id, lambda t: msgspec.structs.replace(t, source_silence=None))
        return ["alertmanager silence expired"]
    return []
