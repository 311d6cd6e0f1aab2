"""Storm grouping at dispatch (SPEC §11): each new master with a service, as it is dispatched, is
counted in its (symptom, service) group by one atomic script; the master that crosses the
group's threshold opens the major incident (kind ``major``, one priority step up, dispatched: its
dispatch also tells the incident manager), and every member is linked to it, those of the rest
of the window too. Done by the worker, not the gateway: an alert storm's requests pay nothing
for it. A dispatch retried after a crash counts its master again harmlessly (the group is a set)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from alertgate.correlation.storms import STORM_SCRIPT, major_title, raised
from alertgate.keys import major_members_key, storm_keys, ticket_key
from alertgate.rules.tables import Tables
from alertgate.tickets.lifecycle import initial_sla
from alertgate.tickets.model import Ticket, TicketKind, TimelineEntry
from alertgate.tickets.store import TicketStore

log = structlog.get_logger("alertgate.storms")


class StormGrouping:
    def __init__(self, redis, tables: Tables, masters: int, window: float,
                 on_created: Callable[[Ticket], None] | None = None) -> None:
        self._redis = redis
        self._script = redis.register_script(STORM_SCRIPT)
        self._tickets = TicketStore(redis, on_created)
        self._tables = tables
        self.masters, self.window = masters, float(window)

    async def count(self, master: Ticket, now: datetime) -> str | None:
        """Count a master just dispatched; the id of a major incident it opened (to dispatch), if any."""
        if master.kind is not TicketKind.MASTER or not master.affected_service or not master.symptom:
            return None
        members, marker = storm_keys(master.symptom, master.affected_service)
        window = master.storm_window or self.window
        answer = await self._script(keys=[members, marker], args=[
            repr(now.timestamp()), window, master.storm_masters or self.masters, master.id, TicketStore.new_id()])
        kind = answer[0].decode()
        if kind == "joined":
            await self._link(answer[1].decode(), [master.id])
        if kind != "opened":
            return None
        major = answer[1].decode()
        grouped = [m.decode() for m in answer[2:]]
        await self._open(major, master, grouped, now)
        await self._link(major, grouped)
        log.info("major_incident_opened", ticket_id=major, symptom=master.symptom, service=master.affected_service,
                 members=len(grouped))
        return major

    async def _open(self, major: str, master: Ticket, grouped: list[str], now: datetime) -> None:
        priority = raised(master.priority)
        note = f"grouped {len(grouped)} masters of {master.symptom} on {master.affected_service}"
        await self._tickets.create(Ticket(
            id=major, kind=TicketKind.MAJOR, ci=master.affected_service, symptom=master.symptom,
            affected_service=master.affected_service,
            title=major_title(master.symptom, master.affected_service, len(grouped)),
            category=master.category, area=master.area, nature=master.nature, impact=master.impact,
            urgency=master.urgency, priority=priority, route_group=master.route_group,
            escalation_policy=master.escalation_policy, channels=list(master.channels),
            sla=initial_sla(self._tables.sla_minutes[priority], now, self._tables.calendar_for(priority, master.route_group)),
            created_at=now, updated_at=now,
            timeline=[TimelineEntry(at=now, actor="alertgate", action="major", note=note)]), major)

    async def _link(self, major: str, members: list[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hset(ticket_key(member), "major_id", major)
            pipe.rpush(major_members_key(major), *members)
            await pipe.execute()
