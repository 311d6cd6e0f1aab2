"""The end of a maintenance window (SPEC §10): every sweep, the occurrences held by a window no
longer in force that did not recover go through the pipeline then, with their true outage start,
and open or join tickets as usual (a maintenance that broke something is not hidden). A held
occurrence that recovered meanwhile opens nothing. Released alerts carry a delivery id of their
own, so a release repeated after a crash is a ``repeat``; one that another window in force
matches is held again, by that one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import structlog

from alertgate.dedup import layout
from alertgate.dedup.decide import Outcome
from alertgate.intake.assembly import build_intake
from alertgate.keys import held_keys, state_key
from alertgate.maintenance import held as held_alert
from alertgate.rules.service import RulesService
from alertgate.runtime.connections import connect_queue_redis, connect_state
from alertgate.tickets.alert import Alert
from alertgate.workers.context import context

log = structlog.get_logger("alertgate.maintenance")
BATCH = 200


class MaintenanceRelease:
    def __init__(self) -> None:
        settings = context().settings
        self._rules = RulesService(Path(settings.config_dir), settings.dedup_window)
        self._rules.reload()

    def run(self) -> str:
        self._rules.reload_if_changed()
        return asyncio.run(self._release())

    async def _release(self) -> str:
        settings = context().settings
        redis = connect_state(settings, fail_fast=False)
        try:
            await layout.ensure(redis)
            intake = build_intake(settings, redis, self._rules, connect_queue_redis(settings),
                                  on_created=context().metrics.ticket_created)
            await intake.maintenance.refresh(intake.windows)
            await intake.catalogue.refresh()
            await intake.correlation.refresh(datetime.now(UTC))
            now = datetime.now(UTC)
            in_force = {window_id for window_id, _ in intake.maintenance.in_force(now)}
            released = dropped = 0
            for held in held_keys():
                members = await redis.zrange(held, 0, -1)
                for offset in range(0, len(members), BATCH):
                    chunk = members[offset:offset + BATCH]
                    pipe = redis.pipeline(transaction=False)
                    for occurrence in chunk:
                        pipe.hmget(occurrence, "held", "held_by", "recovered", "held_ref")
                    records = await pipe.execute()
                    copies = await _copies(redis, records)
                    due: list[tuple[bytes, Alert]] = []
                    done: list[bytes] = []
                    for occurrence, (raw, by, recovered, ref) in zip(chunk, records):
                        if by is not None and by.decode() in in_force:
                            continue
                        if (raw is None and ref is None) or recovered is not None:
                            done.append(occurrence)  # expired, or recovered during the window
                            continue
                        try:
                            alert = _held_alert(raw, ref, by, copies, now)
                        except ValueError as error:
                            log.error("held_alert_unreadable", occurrence=occurrence.decode(errors="replace"),
                                      error=str(error))
                            done.append(occurrence)
                            continue
                        window = by.decode() if by else "?"
                        due.append((occurrence, msgspec.structs.replace(
                            alert, delivery_id=f"{alert.delivery_id}:released:{window}")))
                    dropped += len(done)
                    if due:
                        results = await intake.send([alert for _, alert in due], now)
                        for (occurrence, alert), result in zip(due, results):
                            if result.outcome is not Outcome.SUPPRESSED:  # (held again: by another window)
                                done.append(occurrence)
                                released += 1
                                log.info("maintenance_released", occurrence_id=alert.occurrence_id,
                                         outcome=result.outcome.value, ticket_id=result.ticket_id)
                    if done:
                        await redis.zrem(held, *done)
            return f"maintenance: {released} released, {dropped} recovered or gone"
        finally:
            await redis.aclose()


async def _copies(redis, records: list) -> dict[tuple[str, bytes], bytes | None]:
    """The keys' copies the held occurrences of a chunk name, read at once: (tag, window) → alert."""
    wanted = []
    for raw, by, _, ref in records:
        if raw is None and ref is not None and by is not None:
            try:
                wanted.append((held_alert.tag_of(ref), by))
            except ValueError:
                continue  # (reported when the occurrence itself is read)
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return {}
    pipe = redis.pipeline(transaction=False)
    for tag, by in wanted:
        pipe.hget(state_key(tag), held_alert.copy_field(by.decode()))
    return dict(zip(wanted, await pipe.execute()))


def _held_alert(raw: bytes | None, ref: bytes | None, by: bytes | None,
                copies: dict[tuple[str, bytes], bytes | None], now: datetime) -> Alert:
    """A held occurrence's alert: kept whole (records from before the per-key copy), or its key's
    copy with its own fields. Raises ValueError when it cannot be read back."""
    if raw is not None:
        return held_alert.unpack(raw, now)
    copy = copies.get((held_alert.tag_of(ref), by)) if by is not None else None
    if copy is None:
        raise ValueError("the key's copy of the held alert is gone")
    return held_alert.unpack_ref(copy, ref, now)
