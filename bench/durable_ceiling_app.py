"""The durable ceiling (shared/PERFORMANCE.md): the least a durable, exactly-once gateway must do per
alert on alertgate's own stack, served as the gateway is. A Litestar ``@post`` route decodes the
Alertmanager webhook with msgspec (the gateway's Struct), then makes one Lua call per request to
Redis (the bench's, AOF on, ``appendfsync everysec``) that, per alert, atomically writes an
occurrence record (HSETNX: a retry is recognised and writes nothing more), increments its key's
counter and writes a three-field ticket hash for each new occurrence. No rules, no ticket fields,
no queue, no metrics, no cross-request batching.

    bench/run.py starts it like the ceiling: --port, --workers, ALERTGATE_REDIS_URL.
"""

from __future__ import annotations

import os
import time

import msgspec
from litestar import Litestar, Request, Response, post
from redis.asyncio import Redis

from alertgate.intake.sources.alertmanager import AlertmanagerPayload
from alertgate.runtime.heap import settle_after_start

_decode = msgspec.json.Decoder(AlertmanagerPayload).decode

# KEYS: per alert, its (CI, symptom) key's occurrence hash and counter. ARGV: now, then per alert
# its occurrence (startsAt as sent) and the ticket prefix of its key. Answers the new occurrences.
RECORD = """
local now, new = ARGV[1], 0
for i = 1, #KEYS / 2 do
  local occurrence, prefix = ARGV[2 * i], ARGV[2 * i + 1]
  if redis.call('HSETNX', KEYS[2 * i - 1], occurrence, now) == 1 then
    local n = redis.call('INCR', KEYS[2 * i])
    redis.call('HSET', prefix .. n, 'status', 'open', 'created_at', now, 'occurrence', occurrence)
    new = new + 1
  end
end
return new
"""

_state: dict = {}


async def connect() -> None:
    client = Redis.from_url(os.environ["ALERTGATE_REDIS_URL"])
    _state["record"] = client.register_script(RECORD)
    _state["client"] = client


@post("/api/v1/alerts/alertmanager", status_code=200)
async def ingest(request: Request) -> Response[bytes]:
    payload = _decode(await request.body())
    keys: list[str] = []
    args: list = [int(time.time())]
    for alert in payload.alerts:
        labels = alert.labels
        key = "dc:{%s|%s}" % (labels.get("instance", ""), labels.get("alertname", ""))  # (one slot per key)
        keys += (key + ":occ", key + ":seq")
        args += (alert.startsAt.isoformat(), key + ":t:")
    new = await _state["record"](keys=keys, args=args)
    return Response(b'{"alerts": %d, "new": %d}' % (len(payload.alerts), new), media_type="application/json")


def create_app() -> Litestar:
    app = Litestar([ingest], on_startup=[connect], openapi_config=None)
    settle_after_start()  # (the gateway's collector settings, as the plain ceiling)
    return app


if __name__ == "__main__":  # (served as the plain ceiling is)
    from ceiling_app import main

    raise SystemExit(main("durable_ceiling_app:create_app"))
