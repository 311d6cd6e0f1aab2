"""Storm grouping as a step of intake (SPEC §11): each new master with a service is counted in
its (symptom, service) group by one atomic script; the master that crosses the group's threshold
opens the major incident (kind ``major``, one priority step up, dispatched: its dispatch also
tells the incident manager), and every member is linked to it, those of the rest of the window
too. Runs after the ingest, for new masters only: a storm of duplicates pays one check per alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from alertgate.correlation.storms import STORM_SCRIPT, major_title, raised
from alertgate.dedup.decide import Outcome
from alertgate.intake.handoff import JobHandoff
from alertgate.keys import major_members_key, storm_keys, ticket_key
from alertgate.rules.policy import Policy
from alertgate.rules.service import RulesService
from alertgate.tickets.alert import Alert
from alertgate.tickets.lifecycle import initial_sla
from alertgate.tickets.model import Ticket, TicketKind, TimelineEntry
from alertgate.tickets.store import TicketStore

log = structlog.get_logger("alertgate.storms")
NEW, RECURRENCE = Outcome.NEW, Outcome.RECURRENCE


class StormGrouping:
    def __init__(self, redis, rules: RulesService, handoff: JobHandoff, masters: int, window: float) -> None:
        self._redis = redis
        self._script = redis.register_script(STORM_SCRIPT)
        self._tickets = TicketStore(redis)
        self._rules, self._handoff = rules, handoff
        self.masters, self.window = masters, float(window)

    def new_masters(self, alerts: Sequence[Alert], policies: Sequence[Policy], results: Sequence) -> list | None:
        """The masters this request opened on a service (None when none: a plain function)."""
        found = None
        for alert, policy, result in zip(alerts, policies, results):
            outcome = result.outcome
            if (outcome is NEW or outcome is RECURRENCE) and policy.affected_service and result.ticket_id:
                found = found or []
                found.append((alert, policy, result.ticket_id))
        return found

    async def count(self, found: list, now: datetime) -> None:
        for alert, policy, ticket_id in found:
            members, marker = storm_keys(alert.symptom, policy.affected_service)
            window = policy.storm_window or self.window
            answer = await self._script(keys=[members, marker], args=[
                repr(now.timestamp()), window, policy.storm_masters or self.masters, ticket_id, TicketStore.new_id()])
            kind = answer[0].decode()
            if kind == "opened":
                major = answer[1].decode()
                grouped = [m.decode() for m in answer[2:]]
                await self._open(major, alert, policy, grouped, now)
                await self._link(major, grouped)
                await self._handoff.dispatch(major)
                log.info("major_incident_opened", ticket_id=major, symptom=alert.symptom,
                         service=policy.affected_service, members=len(grouped))
            elif kind == "joined":
                await self._link(answer[1].decode(), [ticket_id])

    async def _open(self, major: str, alert: Alert, policy: Policy, grouped: list[str], now: datetime) -> None:
        priority = raised(policy.priority)
        minutes = self._rules.engine.tables.sla_minutes[priority]
        note = f"grouped {len(grouped)} masters of {alert.symptom} on {policy.affected_service}"
        await self._tickets.create(Ticket(
            id=major, kind=TicketKind.MAJOR, ci=policy.affected_service, symptom=alert.symptom,
            affected_service=policy.affected_service, title=major_title(alert.symptom, policy.affected_service, len(grouped)),
            category=policy.category, area=policy.area, nature=policy.nature, impact=policy.impact,
            urgency=policy.urgency, priority=priority, route_group=policy.assignment_group,
            escalation_policy=policy.escalation, channels=list(policy.channels or ()),
            sla=initial_sla(minutes, now), created_at=now, updated_at=now,
            timeline=[TimelineEntry(at=now, actor="alertgate", action="major", note=note)]), major)

    async def _link(self, major: str, members: list[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hset(ticket_key(member), "major_id", major)
            pipe.rpush(major_members_key(major), *members)
            await pipe.execute()
