"""What reading and acting on tickets costs (issue #27, item 3: a new master's layout may change
only if "reads and actions" are not slowed). Client CPU (the gateway's or worker's Python, redis-py
included) and Redis CPU (``INFO`` used_cpu), per operation, best of ``ROUNDS`` rounds.

    .venv/bin/python bench/read_cost.py

Starts its own redis-server (AOF on, as shipped), creates ``MASTERS`` masters and one duplicate
of each through the gateway's own path, then times:

- ``get master`` / ``get duplicate``: ``TicketStore.get`` (a duplicate shows its master's content);
- ``queue``: ``unresolved_masters(QUEUE_FIELDS)``, the console's and API's work queue, per master;
- ``list``: ``TicketStore.list`` (newest first, 50 a page, filtered by priority), per ticket shown;
- ``assign``: ``TicketStore.act`` (assign), the dispatch's write, per master.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_cost import CI_LABELS, ROOT  # noqa: E402
from alertgate.dedup import layout  # noqa: E402
from alertgate.dedup.store import DedupStore  # noqa: E402
from alertgate.intake.pipeline import classify  # noqa: E402
from alertgate.intake.sources.alertmanager import parse  # noqa: E402
from alertgate.intake.sources.common import SourceContext  # noqa: E402
from alertgate.rules.service import RulesService  # noqa: E402
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from alertgate.settings import Role  # noqa: E402
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor  # noqa: E402
from alertgate.tickets.queue import QUEUE_FIELDS  # noqa: E402
from alertgate.tickets.store import TicketFilter, TicketStore  # noqa: E402
from run import alert  # noqa: E402

MASTERS = 2_000
ROUNDS = 3
DESK = Actor("bench", Role.SERVICE_DESK)


async def redis_cpu(client: aredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"]) + float(info.get("used_cpu_sys_children", 0)) \
        + float(info.get("used_cpu_user_children", 0))


async def timed(client: aredis.Redis, body, count: int) -> tuple[float, float]:
    """(client µs, Redis µs) per operation, best of ROUNDS."""
    best = (float("inf"), float("inf"))
    for _ in range(ROUNDS):
        redis_before, before = await redis_cpu(client), time.process_time()
        await body()
        spent = (time.process_time() - before) * 1e6 / count, (await redis_cpu(client) - redis_before) * 1e6 / count
        best = min(best, spent)
    return best


async def measure(url: str) -> list[tuple[str, float, float]]:
    client = aredis.Redis.from_url(url)
    await layout.ensure(client)
    rules = RulesService(ROOT / "config", 1800.0)
    dedup = DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})
    store = TicketStore(client)
    now = datetime.now(timezone.utc)
    ids: dict[str, list[str]] = {"new": [], "duplicate": []}
    for n in (0, MASTERS):   # first occurrences (masters), then one more of each key (duplicates)
        body = json.dumps({"version": "4", "alerts": [alert(i, 0, n + i) for i in range(MASTERS)]}).encode()
        parsed, policies, _ = classify(parse(body, SourceContext(now, CI_LABELS)), rules, now)
        for start in range(0, MASTERS, 200):
            for result in await dedup.ingest(parsed[start:start + 200], policies[start:start + 200], now):
                ids[result.outcome.value].append(result.ticket_id)
    masters, duplicates = ids["new"], ids["duplicate"]
    if len(masters) != MASTERS or len(duplicates) != MASTERS:
        raise RuntimeError(f"expected {MASTERS} masters and duplicates, got {len(masters)}, {len(duplicates)}")

    async def get_all(which: list[str]) -> None:
        for ticket_id in which:
            await store.get(ticket_id)

    async def queue() -> None:
        async for _ in store.unresolved_masters(QUEUE_FIELDS):
            pass

    async def pages() -> None:
        cursor = None
        for _ in range(10):
            _, cursor = await store.list(TicketFilter(priority="3"), cursor, 50)

    assigned = iter(masters)

    async def assign() -> None:
        for ticket_id in [next(assigned) for _ in range(MASTERS // ROUNDS)]:
            await store.act(ticket_id, Action.ASSIGN, ActionRequest(group="network"), DESK, datetime.now(timezone.utc))

    rows = [("get master", *await timed(client, lambda: get_all(masters[:500]), 500)),
            ("get duplicate", *await timed(client, lambda: get_all(duplicates[:500]), 500)),
            ("queue (per master)", *await timed(client, queue, MASTERS)),
            ("list (per ticket shown)", *await timed(client, pages, 500)),
            ("assign", *await timed(client, assign, MASTERS // ROUNDS))]
    await client.aclose()
    return rows


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="alertgate-read-cost-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    try:
        rows = asyncio.run(measure(server.url))
    finally:
        server.stop(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'operation':>24}  {'client µs CPU':>13}  {'Redis µs CPU':>12}")
    for name, mine, theirs in rows:
        print(f"{name:>24}  {mine:>13.1f}  {theirs:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
