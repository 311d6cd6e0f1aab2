"""Heartbeats through the pipeline (SPEC §9): a ping, and the alert an expiry raises.

An expiry is an ordinary alert (rules, dedup, ticket, dispatch, SLA): source ``heartbeat``, CI
the heartbeat's, symptom ``heartbeat_missing:<name>``, outage start the deadline it missed. The
next ping sends the same occurrence resolved. Exactly one ticket per expiry, whatever fails when:

1. the sweep marks a due heartbeat expired (one transaction: only one sweeper wins it), then
2. sends the expiry's firing alert, whose delivery id is the expiry's (a second send is a
   ``repeat``), then marks it raised;
3. a ping ends the expiry and notes it as recovering (one transaction), then sends the firing
   alert again if it was not marked raised (so a recovery never comes before its firing), then the
   resolved one, then clears the note.

Whatever a crash leaves between those steps (expired and not raised, or recovering), the next
sweep finishes (``owed``), and every send is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import structlog

from alertgate.heartbeats import clock
from alertgate.heartbeats.model import Definition, Heartbeat, HeartbeatStatus
from alertgate.heartbeats.store import HeartbeatLimitReached, HeartbeatNotFound, HeartbeatStore
from alertgate.settings import ExpectedHeartbeat, Settings
from alertgate.tickets.alert import AlertStatus

log = structlog.get_logger("alertgate.heartbeats")


@dataclass
class Swept:
    expired: list[str] = field(default_factory=list)
    raised: int = 0
    recovered: int = 0

    def summary(self) -> str:
        return f"heartbeats: {len(self.expired)} expired, {self.raised} raised, {self.recovered} recovered"


class HeartbeatFeed:
    """``send(alerts, now)`` is the pipeline (``Intake.record``: the script writes the work intents)."""

    def __init__(self, store: HeartbeatStore, settings: Settings, send,
                 on_failed: Callable[[str], None] | None = None) -> None:
        self.store = store
        self._settings = settings.heartbeats
        self._send = send
        self._refusals = _Refusals()
        self._on_failed = on_failed   # (the gateway's counter of failure reports)
        self._early = float(self._settings.early_tolerance)

    def _new(self, name: str, definition: Definition | None, now: datetime) -> Heartbeat:
        base = Heartbeat(name=name, ci=name, timeout=float(self._settings.default_timeout), created_at=now)
        return clock.applied(base, definition) if definition else base

    async def ping(self, name: str, definition: Definition | None, now: datetime,
                   registration: Definition | None = None) -> Heartbeat:
        """Seen now; an open expiry recovers. ``definition`` (a ping's body) sets its fields. An
        unknown name is registered if ``heartbeats.auto_register``, or always with a
        ``registration`` (a heartbeat rule's: its fields apply to a new heartbeat only, so that
        what an operator set later through the API stays). A new name is refused with
        HeartbeatLimitReached once ``heartbeats.auto_register_limit`` heartbeats exist."""
        allowed = registration is not None or self._settings.auto_register
        for checked in (definition, registration):  # a 400 before any write
            if checked is not None:
                clock.applied(self._new(name, None, now), checked)

        def change(current: Heartbeat | None) -> Heartbeat:
            if current is None and not allowed:
                raise HeartbeatNotFound(name)
            base = current or self._new(name, registration, now)
            return clock.pinged(clock.applied(base, definition) if definition else base, now, self._early)

        _, after = await self._registering(name, change)
        assert after is not None
        if after.recovering is not None:
            await self._recover(after, now)
        return after

    async def fail(self, name: str, now: datetime, stopped_at: datetime | None = None,
                   register: bool = True) -> Heartbeat:
        """A report that it failed: expired now (``clock.failed``), its alert raised at once (the
        sweep finishes it after a crash, as for any expiry). An unknown name is registered first
        as a ping would (``register``), or HeartbeatNotFound."""
        def change(current: Heartbeat | None) -> Heartbeat | None:
            if current is None and not (register and self._settings.auto_register):
                raise HeartbeatNotFound(name)
            return clock.failed(current or self._new(name, None, now), now, stopped_at)

        before, after = await self._registering(name, change)
        if after is None:
            return before
        log.warning("heartbeat_failed", name=name, stopped_at=stopped_at.isoformat() if stopped_at else None)
        if self._on_failed is not None:
            self._on_failed(name)
        await self._raise(after, after.expiry, now)
        return await self.store.get(name) or after

    async def _registering(self, name: str, change) -> tuple[Heartbeat | None, Heartbeat | None]:
        """``store.change`` for a ping or a report, which may register a new heartbeat: refused at
        ``heartbeats.auto_register_limit`` (HeartbeatLimitReached, logged)."""
        try:
            return await self.store.change(name, change, self._settings.auto_register_limit)
        except HeartbeatLimitReached:
            self._refusals.note(name)
            raise

    async def register(self, configured: list[ExpectedHeartbeat], now: datetime) -> None:
        """The settings' heartbeats exist, expected from now if new; their definitions updated."""
        for item in configured:
            definition = Definition(timeout=item.timeout, schedule=item.schedule, timezone=item.timezone, ci=item.ci,
                                    severity=item.severity, tags=item.tags)

            def change(current: Heartbeat | None, item=item, definition=definition) -> Heartbeat | None:
                if current is None:
                    return _expecting(self._new(item.name, definition, now), now)
                updated = clock.applied(current, definition)
                if updated == current:
                    return None
                if updated.status is HeartbeatStatus.OK:
                    updated = _expecting(updated, updated.last_seen or updated.created_at)
                return updated

            await self.store.change(item.name, change)

    async def pause(self, name: str) -> Heartbeat:
        def change(current: Heartbeat | None) -> Heartbeat:
            if current is None:
                raise HeartbeatNotFound(name)
            return _replace(current, status=HeartbeatStatus.PAUSED, expires_at=None)
        return (await self.store.change(name, change))[1]

    async def resume(self, name: str, now: datetime) -> Heartbeat:
        """Expected again from now (a resumed heartbeat gets a whole timeout)."""
        def change(current: Heartbeat | None) -> Heartbeat:
            if current is None:
                raise HeartbeatNotFound(name)
            if current.status is not HeartbeatStatus.PAUSED:
                return current
            return _expecting(_replace(current, status=HeartbeatStatus.OK), now)
        return (await self.store.change(name, change))[1]

    async def sweep(self, now: datetime) -> Swept:
        """Expire what is due, then finish every expiry and recovery not yet through the pipeline."""
        swept = Swept()
        for name in await self.store.due(now):
            _, after = await self.store.change(name, lambda current: current and clock.expired(current, now))
            if after is not None:
                swept.expired.append(name)
                log.warning("heartbeat_expired", name=name, deadline=after.expiry.isoformat())
        for heartbeat in await self.store.all():
            if heartbeat.expiry is not None and not heartbeat.raised:
                await self._raise(heartbeat, heartbeat.expiry, now)
                swept.raised += 1
            if heartbeat.recovering is not None:
                await self._recover(heartbeat, now)
                swept.recovered += 1
        return swept

    async def _raise(self, heartbeat: Heartbeat, expiry: datetime, now: datetime) -> None:
        await self._send([clock.alert_of(heartbeat, expiry, AlertStatus.FIRING, now)], now)

        def mark(current: Heartbeat | None) -> Heartbeat | None:
            if current is None or current.expiry != expiry or current.raised:
                return None
            return _replace(current, raised=True)
        await self.store.change(heartbeat.name, mark)

    async def _recover(self, heartbeat: Heartbeat, now: datetime) -> None:
        expiry = heartbeat.recovering
        firing = clock.alert_of(heartbeat, expiry, AlertStatus.FIRING, now)
        resolved = clock.alert_of(heartbeat, expiry, AlertStatus.RESOLVED, now)
        # The firing alert first: idempotent if it went already, and it must precede its recovery.
        await self._send([firing, resolved], now)
        log.info("heartbeat_recovered", name=heartbeat.name, deadline=expiry.isoformat())

        def clear(current: Heartbeat | None) -> Heartbeat | None:
            if current is None or current.recovering != expiry:
                return None
            return _replace(current, recovering=None, raised=False)
        await self.store.change(heartbeat.name, clear)


class _Refusals:
    """Registrations refused at the limit, logged at most once a minute (a flood of new names
    must not flood the log), with how many were held back."""

    def __init__(self, monotonic=time.monotonic) -> None:
        self._monotonic, self._last, self._held = monotonic, None, 0

    def note(self, name: str) -> None:
        now = self._monotonic()
        if self._last is not None and now - self._last < 60:
            self._held += 1
            return
        log.warning("heartbeat_limit_reached", name=name, held_back=self._held,
                    hint="remove unused heartbeats (DELETE /api/v1/heartbeats/{name}) or raise heartbeats.auto_register_limit")
        self._last, self._held = now, 0


def _replace(heartbeat: Heartbeat, **changes) -> Heartbeat:
    return msgspec.structs.replace(heartbeat, **changes)


def _expecting(heartbeat: Heartbeat, since: datetime) -> Heartbeat:
    return _replace(heartbeat, expires_at=clock.deadline(heartbeat, since))
