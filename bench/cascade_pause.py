"""How long Redis stops for everyone else while a master with many duplicates is resolved.

    .venv/bin/python bench/cascade_pause.py [--duplicates 100000]

Starts its own redis-server (AOF on, as shipped) and makes two masters of ``--duplicates``
duplicates each through the gateway's own path (one Alertmanager alert sent again with that
many start times). Then it resolves the first as the service desk does (``TicketStore.act``:
``resolve``, then ``close``) and the second as the monitoring does (its recovery through
``DedupStore.ingest``), while a thread sends ``PING`` on a connection of its own every
millisecond. Per step it prints the step's time and the longest a ``PING`` waited: what every
sender's alert waited meanwhile. Then it checks that every duplicate followed its master.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import redis
import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_cost import CI_LABELS, ROOT  # noqa: E402
from alertgate.dedup import layout  # noqa: E402
from alertgate.dedup.store import DedupStore  # noqa: E402
from alertgate.intake.pipeline import classify  # noqa: E402
from alertgate.keys import ticket_key  # noqa: E402
from alertgate.intake.sources.alertmanager import parse  # noqa: E402
from alertgate.intake.sources.common import SourceContext  # noqa: E402
from alertgate.rules.service import RulesService  # noqa: E402
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from alertgate.settings import Role  # noqa: E402
from alertgate.tickets.lifecycle import Action, ActionRequest, Actor  # noqa: E402
from alertgate.tickets.store import TicketStore  # noqa: E402
from run import alert  # noqa: E402

DESK = Actor("bench", Role.SERVICE_DESK)
PER_CALL = 200


class Prober(threading.Thread):
    """PING every millisecond on a connection of its own; the longest wait since ``reset``."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._client = redis.Redis.from_url(url)
        self._stop = threading.Event()
        self.longest = 0.0

    def run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            self._client.ping()
            self.longest = max(self.longest, time.perf_counter() - start)
            time.sleep(0.001)

    def reset(self) -> None:
        self.longest = 0.0

    def stop(self) -> None:
        self._stop.set()


async def master_with_duplicates(dedup: DedupStore, rules: RulesService, ci: int, count: int) -> tuple[str, list]:
    """A master and ``count`` duplicates of one key; returns its id and its first alert, parsed."""
    now = datetime.now(timezone.utc)
    master, first = None, None
    for start in range(0, count + 1, PER_CALL):
        body = {"version": "4", "alerts": [alert(ci, 0, n) for n in range(start, min(start + PER_CALL, count + 1))]}
        parsed, policies, _ = classify(parse(json.dumps(body).encode(), SourceContext(now, CI_LABELS)), rules, now)
        results = await dedup.ingest(parsed, policies, now)
        master = master or results[0].ticket_id
        first = first or body["alerts"][0]
    return master, first


async def measure(url: str, count: int) -> list[tuple[str, float, float]]:
    client = aredis.Redis.from_url(url)
    await layout.ensure(client)
    rules = RulesService(ROOT / "config", 1800.0)
    dedup = DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})
    store = TicketStore(client)
    made = time.perf_counter()
    by_desk, _ = await master_with_duplicates(dedup, rules, 1, count)
    by_monitoring, first = await master_with_duplicates(dedup, rules, 2, count)
    print(f"two masters of {count} duplicates each made in {time.perf_counter() - made:.1f} s", file=sys.stderr)
    prober = Prober(url)
    prober.start()
    await asyncio.sleep(0.05)
    rows = []

    async def step(name: str, body) -> None:
        prober.reset()
        start = time.perf_counter()
        await body()
        spent = time.perf_counter() - start
        await asyncio.sleep(0.05)   # (a PING still waiting is this step's)
        rows.append((name, spent, prober.longest))

    now = datetime.now(timezone.utc)
    await step("desk: resolve", lambda: store.act(by_desk, Action.RESOLVE, ActionRequest(
        resolution_code="resolved_by_workaround", solution="bench"), DESK, now))
    await step("desk: close", lambda: store.act(by_desk, Action.CLOSE, ActionRequest(closure_code="completed"), DESK, now))
    recovery = dict(first, status="resolved", endsAt=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
    parsed, policies, _ = classify(parse(json.dumps({"version": "4", "alerts": [recovery]}).encode(),
                                         SourceContext(now, CI_LABELS)), rules, now)

    async def recover() -> None:
        [result] = await dedup.ingest(parsed, policies, now)
        assert result.outcome.value == "resolved", result
    await step("monitoring: recovery", recover)
    prober.stop()
    for master, status in ((by_desk, b"closed"), (by_monitoring, b"resolved")):
        pipe = client.pipeline(transaction=False)
        for k in range(1, count + 1):
            pipe.hget(_key(master, k), "status")
        behind = sum(1 for value in await pipe.execute() if value != status)
        if behind:
            raise RuntimeError(f"{behind} of {master}'s duplicates are not {status.decode()}")
    await client.aclose()
    return rows


def _key(master: str, k: int) -> str:
    return ticket_key(f"{master}-{k}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duplicates", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alertgate-cascade-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    try:
        rows = asyncio.run(measure(server.url, args.duplicates))
    finally:
        server.stop(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    print(f"| step ({args.duplicates:,} duplicates) | time | longest PING wait |")
    print("|---|---|---|")
    for name, spent, longest in rows:
        print(f"| {name} | {spent * 1000:,.0f} ms | {longest * 1000:,.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
