"""Issue #27, the mixed-50 target's design change, first step: what a duplicate would cost Redis
if it were kept as a counted occurrence of its master instead of a ticket of its own, before the
ingest script, the readers and SPEC §2 are changed for it.

    .venv/bin/python bench/duplicate_cost.py          (apt-get install valgrind)

Starts redis-server under callgrind (AOF on, as shipped), creates the storm's masters through the
gateway's own path (Alertmanager parse, rules, ``DedupStore.ingest``), then sends new occurrences
of those keys (all duplicates) through the same path, once per variant of the ingest script's
duplicate branch (``VARIANTS``: the shipped script with that branch's writes replaced; its reads,
the decision and the rest of the script are the shipped ones). Reported: Redis instructions per
duplicate, every thread (the call, the script, the AOF), in script calls of 200 alerts (what a
storm of 50-alert requests batches) and of 5 (single-alert requests). A row with the call alone
(every alert answered before the script reads anything) shows what the arguments and the
script's loop cost. The last row is the durable
ceiling's record (``durable_ceiling_app.RECORD``: an occurrence, a counter, a three-field ticket),
fed the same alerts, for scale.

Nothing here is shipped: the variants answer ``duplicate`` as the script does, but only the
shipped one keeps what SPEC §2 and the readers ask of a duplicate.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from durable_ceiling_app import RECORD  # noqa: E402
from script_cost import CI_LABELS, CIS, NAMES, ROOT, Callgrind, Occurrences, report  # noqa: E402
from alertgate.dedup import store as dedup_store  # noqa: E402
from alertgate.intake.pipeline import classify  # noqa: E402
from alertgate.intake.sources.alertmanager import parse  # noqa: E402
from alertgate.intake.sources.common import SourceContext  # noqa: E402
from alertgate.rules.service import RulesService  # noqa: E402

DUPLICATES = 2_000  # per variant and call size

# The shipped duplicate branch's writes (dedup/ingest.lua), replaced in each variant.
SHIPPED = """    redis.call('HSET', tkey(id), 'status', mstatus, 'created_at', A[3], 'outage_start', A[9],
      'occurrence_id', A[12], 'alert_source', A[13])
    redis.call('HSET', mkey, 'duplicate_count', count, 'last_occurrence_at', A[3], 'updated_at', A[3])
    redis.call('ZADD', index_key, A[3], id)
    record(id)
"""

VARIANTS = {
    # today: a ticket hash of its own, an entry in the shard's ticket index, the occurrence record
    "a ticket of its own (shipped)": SHIPPED,
    # its own fields kept in its occurrence record (one hash fewer), still listed in the index
    "its fields in its occurrence record, listed": """
    redis.call('HSET', occ_key, 'ticket', id, delivery, A[3], 'created_at', A[3], 'outage_start', A[9],
      'alert_source', A[13])
    redis.call('EXPIRE', occ_key, A[10])
    redis.call('HSET', mkey, 'duplicate_count', count, 'last_occurrence_at', A[3], 'updated_at', A[3])
    redis.call('ZADD', index_key, A[3], id)
""",
    # a counted occurrence of its master: the occurrence record names the master and keeps the
    # duplicate's start; the master's count and last occurrence move; no index entry
    "a counted occurrence of its master": """
    redis.call('HSET', occ_key, 'ticket', master, delivery, A[3], 'outage_start', A[9])
    redis.call('EXPIRE', occ_key, A[10])
    redis.call('HSET', mkey, 'duplicate_count', count, 'last_occurrence_at', A[3])
""",
    # the decision alone (its reads), nothing written: what every variant pays before its writes
    "the decision only, nothing written": "",
}
# the call and its arguments alone: every firing alert answered before the decision reads anything
ARGUMENTS_ONLY = "the arguments only, nothing read"
DECIDE = "local function decide()\n"


SHIPPED_SCRIPT = dedup_store.INGEST_SCRIPT


def variant_script(name: str) -> str:
    if SHIPPED not in SHIPPED_SCRIPT or DECIDE not in SHIPPED_SCRIPT:
        raise RuntimeError("dedup/ingest.lua changed: update SHIPPED and DECIDE here")
    if name == ARGUMENTS_ONLY:
        return SHIPPED_SCRIPT.replace(DECIDE, DECIDE + "  if kind == 'firing' then return {'duplicate', '', ''} end\n")
    return SHIPPED_SCRIPT.replace(SHIPPED, VARIANTS[name])


async def measure(redis_url: str, meter: Callgrind) -> list[tuple[str, int, int]]:
    client = aredis.Redis.from_url(redis_url)
    rules = RulesService(ROOT / "config", 1800.0)
    occurrences = Occurrences()

    def classified(alerts: list[dict]):
        now = datetime.now(timezone.utc)
        body = msgspec.json.encode({"version": "4", "alerts": alerts})
        return classify(parse(body, SourceContext(now, CI_LABELS)), rules, now)[:2]

    known: set = set()

    async def send(script: str, alerts: list[dict], per_call: int, expected: str, counted: bool) -> int:
        dedup_store.INGEST_SCRIPT = script  # (read when a store is made)
        store = dedup_store.DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})
        store._known = known  # (the keys seen holding a ticket: their alerts go without a master's fields)
        await client.script_load(script)  # (not counted)
        parsed, policies = classified(alerts)
        now = datetime.now(timezone.utc)
        outcomes = []
        if counted:
            meter.start()
        for i in range(0, len(parsed), per_call):
            outcomes += [r.outcome.value for r in await store.ingest(parsed[i:i + per_call], policies[i:i + per_call], now)]
        instructions = meter.stop() if counted else 0
        if set(outcomes) != {expected}:
            raise RuntimeError(f"expected every alert to be {expected!r}, got {sorted(set(outcomes))}")
        return instructions

    shipped = SHIPPED_SCRIPT
    rows = []
    try:
        await send(shipped, occurrences(CIS * NAMES), 200, "new", counted=False)
        for name in (*VARIANTS, ARGUMENTS_ONLY):
            script = variant_script(name)
            for per_call in (200, 5):
                rows.append((name, per_call, await send(script, occurrences(DUPLICATES), per_call, "duplicate", True)
                             // DUPLICATES))
        record = client.register_script(RECORD)
        for per_call in (200, 5):
            found = occurrences(DUPLICATES)
            meter.start()
            for i in range(0, len(found), per_call):
                keys: list[str] = []
                args: list = [int(datetime.now(timezone.utc).timestamp())]
                for one in found[i:i + per_call]:
                    key = "dc:{%s|%s}" % (one["labels"]["instance"], one["labels"]["alertname"])
                    keys += (key + ":occ", key + ":seq")
                    args += (one["startsAt"], key + ":t:")
                await record(keys=keys, args=args)
            rows.append(("the durable ceiling's record", per_call, meter.stop() // DUPLICATES))
    finally:
        dedup_store.INGEST_SCRIPT = shipped
        await client.aclose()
    return rows


def main() -> int:
    return report("duplicate-cost", measure, [("a duplicate kept as", 44, ""), ("alerts per call", 15, ""),
                                              ("Redis instructions per duplicate", 32, ",")])


if __name__ == "__main__":
    sys.exit(main())
