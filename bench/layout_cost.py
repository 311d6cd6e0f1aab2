"""Issue #27, item 3, first step: what a packed layout of a new master's hash would save in Redis,
before the ingest script, the codec and every reader are changed for it.

    .venv/bin/python bench/layout_cost.py          (apt-get install valgrind)

One master is created through the gateway's own path (Alertmanager parse, rules,
``DedupStore.ingest``) and its hash read back. Then, in redis-server under callgrind (AOF on, as
shipped), ``MASTERS`` hashes of that shape are written by a script call each, in two layouts:

- ``fields``: every field an argument of its own, as the ingest script writes a master today;
- ``packed``: the fields the ingest script and the ticket list read (``KEPT``) as their own
  arguments, the rest as one msgpack map;
- ``array``: the same, the rest as a msgpack array of values only (their names fixed by the codec).

Reported: Redis instructions per master written (every thread: the call, the script, the AOF),
arguments per master, and ``MEMORY USAGE`` of one hash (exact: ``SAMPLES 0``; a master's hash is
a hashtable either way, some of its values being longer than a listpack's 64 bytes). The difference between the two rows is
the part of a new master's cost (``make bench-script``, "new master") the packed layout can save.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_cost import CI_LABELS, ROOT, Callgrind, report  # noqa: E402
from alertgate.dedup.store import DedupStore  # noqa: E402
from alertgate.intake.pipeline import classify  # noqa: E402
from alertgate.intake.sources.alertmanager import parse  # noqa: E402
from alertgate.intake.sources.common import SourceContext  # noqa: E402
from alertgate.keys import ticket_key  # noqa: E402
from alertgate.tickets.codec import PACKED, unpacked  # noqa: E402
from alertgate.rules.service import RulesService  # noqa: E402
from run import alert  # noqa: E402

MASTERS = 5_000
PER_PIPELINE = 250
# What the ingest script reads of a ticket (dedup/ingest.lua's HGET/HMGET) and what the ticket
# list filters and sorts by (tickets/store.py FILTER_FIELDS): kept as fields of their own.
KEPT = ("id", "kind", "status", "master_id", "caused_by", "duplicate_count", "created_at", "updated_at",
        "last_occurrence_at", "resolved_at", "ci", "priority", "source", "alert_source")
WRITE = "redis.call('HSET', KEYS[1], unpack(ARGV)) return 1"


async def a_master(client: aredis.Redis) -> dict[bytes, bytes]:
    """The hash of one new master, as the gateway writes it."""
    rules = RulesService(ROOT / "config", 1800.0)
    store = DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})
    now = datetime.now(timezone.utc)
    body = msgspec.json.encode({"version": "4", "alerts": [alert(0, 0, 0)]})
    parsed, policies, _ = classify(parse(body, SourceContext(now, CI_LABELS)), rules, now)
    [result] = await store.ingest(parsed, policies, now)
    return dict(unpacked(await client.hgetall(ticket_key(result.ticket_id))))   # (every field its own)


def layouts(master: dict[bytes, bytes]) -> dict[str, list[bytes]]:
    master = {k: v for k, v in master.items() if k != PACKED.encode()}
    fields = [part for pair in master.items() for part in pair]
    kept = {k: v for k, v in master.items() if k.decode() in KEPT}
    rest = {k.decode(): v.decode() for k, v in master.items() if k.decode() not in KEPT}
    apart = [part for pair in kept.items() for part in pair]
    return {"fields": fields, "packed": apart + [b"packed", msgspec.msgpack.encode(rest)],
            "array": apart + [b"packed", msgspec.msgpack.encode(list(rest.values()))]}


async def measure(redis_url: str, meter: Callgrind) -> list[tuple[str, int, int, int]]:
    client = aredis.Redis.from_url(redis_url)
    write = client.register_script(WRITE)
    rows = []
    try:
        master = await a_master(client)
        for name, args in layouts(master).items():
            meter.start()
            for start in range(0, MASTERS, PER_PIPELINE):
                async with client.pipeline(transaction=False) as pipe:
                    for n in range(start, start + PER_PIPELINE):
                        await write(keys=[f"bench:{name}:{n}"], args=args, client=pipe)
                    await pipe.execute()
            instructions = meter.stop()
            memory = await client.memory_usage(f"bench:{name}:0", samples=0)
            rows.append((name, len(args), instructions // MASTERS, memory))
    finally:
        await client.aclose()
    return rows


def main() -> int:
    return report("layout-cost", measure, [("layout", 8, ""), ("arguments", 9, ""),
                                           ("Redis instructions per master", 29, ","), ("bytes per hash", 14, ",")])


if __name__ == "__main__":
    sys.exit(main())
