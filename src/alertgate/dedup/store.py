"""Applies the dedup decision and its ticket writes in Redis, atomically per (ci, symptom) key.

The Lua script (``ingest.lua``) decides each alert atomically; many alerts go in one script call
and one round trip (``calls``). A retried request records nothing twice: what was applied before
answers ``repeat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files

import msgspec
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError

from alertgate.dedup.calls import Call, calls_for
from alertgate.dedup.decide import Outcome
from alertgate.keys import dedup_tag, occurrence_key, script_keys
from alertgate.maintenance.held import pack as pack_held
from alertgate.rules.policy import Policy
from alertgate.tickets import cascade
from alertgate.tickets.alert import Alert, AlertStatus
from alertgate.tickets.codec import pack, to_field
from alertgate.tickets.lifecycle import initial_sla
from alertgate.tickets.model import TimelineEntry

# (the functions of tickets/cascade.lua first: a recovery resolves its master's duplicates a slice at a time)
INGEST_SCRIPT = cascade.LUA + files("alertgate.dedup").joinpath("ingest.lua").read_text()
_encode = msgspec.json.Encoder().encode
KNOWN_KEYS = 100_000  # keys a process remembers as holding a ticket (a full set starts again empty)


class ReplicasBehind(Exception):
    """Fewer replicas than asked for confirmed an ingest's writes in time: the sender must retry
    (its retry repeats nothing, and its WAIT covers this attempt's writes too)."""


class IngestResult(msgspec.Struct):
    occurrence_id: str
    outcome: Outcome
    ticket_id: str | None = None
    master_id: str | None = None
    maintenance_id: str | msgspec.UnsetType = msgspec.UNSET   # the window that holds it (shown only then)


def master_fields(alert: Alert, policy: Policy, now: datetime, ticket_source: str = "monitoring",
                  caused_by: str | None = None) -> list[str | bytes]:
    """The new master's hash fields, as field, value pairs for the script, its content packed in
    one value (``codec.pack``); with ``caused_by`` (a parent CI's master) it is a correlated
    ticket instead."""
    fields = {
        "kind": "correlated" if caused_by else "master", "caused_by": caused_by, "status": "open", "source": ticket_source,
        "ci": alert.ci, "ci_raw": alert.ci_raw, "symptom": alert.symptom, "title": alert.title, "description": alert.description,
        "severity": alert.severity, "category": policy.category, "area": policy.area,
        "subarea": policy.subarea, "nature": policy.nature, "affected_service": policy.affected_service,
        "impact": policy.impact, "urgency": policy.urgency, "priority": policy.priority,
        "route_group": policy.assignment_group, "escalation_policy": policy.escalation,
        "duplicate_count": 0, "reopen_count": 0,
        "location": alert.labels.get("location"), "stale_after": policy.stale_after,
        "storm_masters": policy.storm_masters, "storm_window": policy.storm_window,
    }
    present: dict[str, str | bytes] = {name: str(value) for name, value in fields.items() if value is not None}
    present |= {"sla": _encode(initial_sla(policy.sla_minutes, now, policy.sla_calendar)), "labels": _encode(alert.labels),
                "links": _encode(alert.links), "channels": _encode(policy.channels)}
    return pack(present)


class DedupStore:
    def __init__(self, redis: Redis | RedisCluster, retention_seconds: int, lookback_seconds: float,
                 auto_resolve: dict[str, bool], wait_replicas: int = 0, wait_timeout_s: float = 1.0,
                 ticket_sources: dict[str, str] | None = None) -> None:
        """``auto_resolve`` and ``ticket_sources`` by the alert's source (intake/sources)."""
        self._redis = redis
        self._wait_replicas = wait_replicas
        self._retention = retention_seconds
        self._lookback = lookback_seconds
        self._auto_resolve = auto_resolve
        self._ticket_sources = ticket_sources or {}
        self._script = redis.register_script(INGEST_SCRIPT)
        self._calls = calls_for(redis, self._script.sha, wait_replicas, max(1, int(wait_timeout_s * 1000)))
        self._known: set[str] = set()  # state keys this process saw answered with a ticket (a hint)
        # (state key, window) pairs this process saw held: the script keeps the key's alert once
        # per window, so their next occurrences go without it (a hint; ``forget_held``)
        self._held: set[tuple[str, str]] = set()

    def forget_held(self) -> None:
        """The windows in force changed: the next held alert of each key carries the alert again
        (so each occurrence of a recurring window keeps an alert of its own time)."""
        self._held.clear()

    def _call(self, alert: Alert, policy: Policy, now: datetime, stamp: tuple[str, str], with_master: bool,
              held_by: str | None = None, caused_by: str | None = None) -> Call:
        """The alert's keys and script arguments, with the new master's fields if ``with_master``
        or its key is not known to hold a ticket. ``stamp``: ``now`` as the script takes it
        (epoch, ISO), computed once per request."""
        now_epoch, now_iso = stamp
        tag = dedup_tag(alert.ci, alert.symptom)
        state, index, masters, prefix, held = script_keys(tag)
        kind = "update" if alert.update else alert.status.value
        update_entry = b""
        if alert.update:
            update_entry = _encode(TimelineEntry(at=now, actor=alert.update_actor or alert.source,
                                                 action="source_update", note=alert.update_note))
        if held_by is not None:  # a maintenance window holds it (ingest.lua, kind maintenance)
            kind, update_entry, prefix = "maintenance", held_by, held
            extra = (pack_held(alert),) if with_master or (state, held_by) not in self._held else ()
        elif (with_master or state not in self._known) and kind == "firing":
            extra = master_fields(alert, policy, now, self._ticket_sources.get(alert.source, "monitoring"), caused_by)
        else:
            extra = ()
        return (state, occurrence_key(tag, alert.occurrence_id), index, masters), (
            kind, alert.delivery_id, now_epoch, now_iso,
            policy.dedup_window, self._lookback, "1" if self._auto_resolve.get(alert.source) else "0",
            tag, to_field("outage_start", alert.observed_at), self._retention, update_entry,
            alert.occurrence_id, alert.source, prefix, *extra,
        )

    async def ingest(self, alerts: Sequence[Alert], policies: Sequence[Policy], now: datetime,
                     held: Sequence[str | None] | None = None,
                     caused: Sequence[str | None] | None = None,
                     cascading: list[str] | None = None) -> list[IngestResult]:
        """Decide and apply every alert of one request, in order; suppressed ones touch nothing.
        ``held``: per alert, the maintenance window that holds it (None: none holds any);
        ``caused``: per alert, the parent CI's master a new ticket would be correlated to.
        A master a recovery resolved whose duplicates are not all resolved yet (more than a
        slice, ``tickets/cascade.py``) is added to ``cascading`` for the caller to finish, or
        finished here without it."""
        # Rules suppress firing alerts only: a recovery must still reach a ticket opened before.
        # A heartbeat rule's alerts are pings (intake/pipeline.py), firing or not.
        wanted = [i for i, (a, p) in enumerate(zip(alerts, policies))
                  if not (p.suppress and (a.status is AlertStatus.FIRING and not a.update or p.heartbeat))]
        results = [IngestResult(a.occurrence_id, Outcome.SUPPRESSED) for a in alerts]
        # A storm is mostly duplicates: an alert of a key this process has seen holding a ticket goes
        # without the new master's fields, any other with them (a new incident then takes one
        # script call, not two). The script decides either way; an alert that turns out to open a
        # master without its fields at hand (its key's master closed or left the window) goes again
        # with them.
        short: list[int] = []  # replicas that confirmed, per phase that fell short
        unfinished: list[str] = [] if cascading is None else cascading
        pending = await self._decide(wanted, alerts, policies, now, False, results, short, held, caused, unfinished)
        if pending:
            await self._decide(pending, alerts, policies, now, True, results, short, held, caused, unfinished)
        if short:  # both phases ran, so the sender's retry repeats everything
            raise ReplicasBehind(f"{min(short)} of {self._wait_replicas} replicas confirmed in time")
        if cascading is None and unfinished:
            await self.finish_cascades(unfinished)
        return results

    async def finish_cascades(self, masters: list[str]) -> None:
        """The rest of the recovered masters' duplicates follow them, a slice per call (their
        alerts are recorded already: a Redis fault is logged, and the sweep finishes them)."""
        await cascade.carry_on(self._redis, masters)

    async def _decide(self, indexes: list[int], alerts: Sequence[Alert], policies: Sequence[Policy], now: datetime,
                      with_master: bool, into: list[IngestResult], short: list[int],
                      held: Sequence[str | None] | None, caused: Sequence[str | None] | None,
                      cascading: list[str]) -> list[int]:
        stamp = (to_field("created_at", now), now.isoformat())
        if held is None and caused is None:
            calls = [self._call(alerts[i], policies[i], now, stamp, with_master) for i in indexes]
        else:
            calls = [self._call(alerts[i], policies[i], now, stamp, with_master, held and held[i], caused and caused[i])
                     for i in indexes]
        try:
            replies = await self._run(calls, short)
        except NoScriptError:  # Redis restarted (or was flushed) since the script was loaded
            # (on a Cluster, calls on nodes that had the script did run: sent again they answer
            # `repeat`, nothing is applied twice)
            await self._redis.script_load(INGEST_SCRIPT)
            replies = await self._run(calls, short)
        pending = []
        known = self._known
        for index, ((state, *_), _), (outcome, ticket, master) in zip(indexes, calls, replies):
            if outcome == b"need_master":
                pending.append(index)
                continue
            if outcome == b"cascading":   # (resolved; its duplicates not all yet: ingest.lua)
                outcome = b"resolved"
                cascading.append(ticket.decode())
            if ticket and state not in known:
                if len(known) >= KNOWN_KEYS:
                    known.clear()
                known.add(state)
            into[index] = IngestResult(alerts[index].occurrence_id, Outcome(outcome.decode()),
                                       ticket.decode() or None, master.decode() or None)
            if held is not None and held[index] is not None and outcome == b"suppressed":
                into[index].maintenance_id = held[index]
                if len(self._held) >= KNOWN_KEYS:
                    self._held.clear()
                self._held.add((state, held[index]))
        return pending

    async def _run(self, calls: list[Call], short: list[int]) -> list:
        if not calls:
            return []
        replies, confirmed = await self._calls.run(calls)
        if confirmed is not None and confirmed < self._wait_replicas:
            short.append(confirmed)
        return replies
