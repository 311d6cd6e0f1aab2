"""The delivery ledger: has this delivery of this occurrence been seen? (SPEC §2 row 1)

One Lua script per alert, all alerts of a request pipelined into one round trip. Each script is
atomic and keyed by the occurrence, so a retried request (Alertmanager and Zabbix retry on 5xx)
records nothing twice: what was applied before the failure now answers ``repeat``.
"""

from __future__ import annotations

import enum
from typing import Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from alertgate.dedup.keys import dedup_tag, occurrence_key
from alertgate.tickets.alert import Alert


class Outcome(str, enum.Enum):
    NEW = "new"
    REPEAT = "repeat"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"
    RECURRENCE = "recurrence"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"
    UPDATED = "updated"
    IGNORED = "ignored"


# KEYS[1] occurrence hash. ARGV: delivery kind (firing|resolved|update), delivery field,
# alert JSON, ttl seconds. A firing delivery creates the occurrence; a recovery or update of an
# occurrence never seen is ignored; any delivery seen before is a repeat.
_RECORD_DELIVERY = """
local key, kind, field = KEYS[1], ARGV[1], ARGV[2]
if kind ~= 'firing' and redis.call('EXISTS', key) == 0 then
  return 'ignored'
end
if redis.call('HSETNX', key, field, ARGV[3]) == 0 then
  return 'repeat'
end
redis.call('EXPIRE', key, ARGV[4])
if kind == 'firing' then return 'new' end
if kind == 'resolved' then return 'resolved' end
return 'updated'
"""

_encoder = msgspec.json.Encoder()


class DeliveryLedger:
    """Records each delivery once per occurrence, atomically, in Redis."""

    def __init__(self, redis: Redis, retention_seconds: int) -> None:
        self._redis = redis
        self._retention = retention_seconds
        self._script = redis.register_script(_RECORD_DELIVERY)

    async def record(self, alerts: Sequence[Alert]) -> list[Outcome]:
        """Record every alert of one request; one pipelined round trip."""
        if not alerts:
            return []
        try:
            replies = await self._run(alerts)
        except NoScriptError:
            # Redis restarted (or was flushed) since we loaded the script.
            await self._redis.script_load(_RECORD_DELIVERY)
            replies = await self._run(alerts)
        return [Outcome(r.decode() if isinstance(r, bytes) else r) for r in replies]

    def _args(self, alert: Alert) -> tuple:
        return (
            self._script.sha,
            1,
            occurrence_key(dedup_tag(alert.ci, alert.symptom), alert.occurrence_id),
            "update" if alert.update else alert.status.value,
            alert.delivery_id,
            _encoder.encode(alert),
            self._retention,
        )

    async def _run(self, alerts: Sequence[Alert]) -> list:
        if len(alerts) == 1:  # a pipeline costs more than it saves for one command
            return [await self._redis.evalsha(*self._args(alerts[0]))]
        pipe = self._redis.pipeline(transaction=False)
        for alert in alerts:
            pipe.evalsha(*self._args(alert))
        return await pipe.execute()

