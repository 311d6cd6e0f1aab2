"""The ingest script's cost in Redis as instructions, counted by valgrind (callgrind): the same
count on every run of the same code, whatever else the machine is doing. Wall-clock CPU time per
alert on this shared machine moves by a third between runs of the same code; a script change
worth a few percent can only be seen this way.

    .venv/bin/python bench/script_cost.py          (apt-get install valgrind)

Starts redis-server under callgrind (AOF on, as shipped), creates masters through the gateway's
own path (Alertmanager parse, rules, DedupStore.ingest), then sends new occurrences of those keys
(all duplicates) in script calls of 5 alerts (about what a storm of single-alert requests
batches) and of 200 (a full call, as under 50-alert requests). Each phase is counted alone:
instructions of every Redis thread (commands, the script, AOF formatting and writes) per alert.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import callgrind
import redis.asyncio as aredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from alertgate.keys import use_layout  # noqa: E402
from alertgate.dedup.store import DedupStore  # noqa: E402
from alertgate.intake.pipeline import classify  # noqa: E402
from alertgate.intake.sources.alertmanager import parse  # noqa: E402
from alertgate.intake.sources.common import SourceContext  # noqa: E402
from alertgate.rules.service import RulesService  # noqa: E402
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from run import alert  # noqa: E402  (the bench's Alertmanager alert)

CIS, NAMES = 1000, 10  # the bench's storm keys (fewer keys measured more per duplicate, unexplained)
DUPLICATES = 2_000  # per phase
CI_LABELS = ("instance",)


class Callgrind:
    """redis-server under callgrind, counting only between ``start`` and ``stop``."""

    def __init__(self, work: Path) -> None:
        self.server = EmbeddedRedis(work / "redis", port=free_port())
        self.server.data_dir.mkdir(parents=True)
        self.process = subprocess.Popen([*callgrind.command(work), *self.server.command()], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self.server.process = self.process
        self.server.wait_ready(timeout=120)
        self._meter = callgrind.Instructions(self.process.pid, work)

    def start(self) -> None:
        self._meter.start()

    def stop(self) -> int:
        """Instructions since ``start``."""
        time.sleep(1.2)  # one everysec fsync of the AOF, counted with the writes it syncs
        return self._meter.stop()

    def close(self) -> None:
        self.server.stop(timeout=30)


class Occurrences:
    """The storm's alerts, key after key, each call's a start time no earlier call gave (so,
    once each key has its master, all duplicates)."""

    def __init__(self) -> None:
        self.given = 0

    def __call__(self, count: int) -> list[dict]:
        found = [alert(i % CIS, (i // CIS) % NAMES, i) for i in range(self.given, self.given + count)]
        self.given += count
        return found


async def measure(redis_url: str, meter: Callgrind) -> list[tuple[str, int, int]]:
    client = aredis.Redis.from_url(redis_url)
    rules = RulesService(ROOT / "config", 1800.0)
    store = DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})

    async def send(alerts: list[dict], per_call: int, expected: str) -> int:
        """Ingest ``alerts``, ``per_call`` at a time, each with the ``expected`` outcome; the
        instructions Redis spent."""
        now = datetime.now(timezone.utc)
        body = json.dumps({"version": "4", "alerts": alerts}).encode()
        parsed, policies, _ = classify(parse(body, SourceContext(now, CI_LABELS)), rules, now)
        outcomes = []
        meter.start()
        for i in range(0, len(parsed), per_call):
            outcomes += [r.outcome.value for r in await store.ingest(parsed[i:i + per_call], policies[i:i + per_call], now)]
        instructions = meter.stop()
        if set(outcomes) != {expected}:
            raise RuntimeError(f"expected every alert to be {expected!r}, got {sorted(set(outcomes))}")
        return instructions

    keys = CIS * NAMES
    occurrences = Occurrences()
    rows = []
    try:
        for phase, count, per_call, expected in (("new master", keys, 200, "new"),
                                                 ("duplicate", DUPLICATES, 5, "duplicate"),
                                                 ("duplicate", DUPLICATES, 200, "duplicate")):
            rows.append((phase, per_call, await send(occurrences(count), per_call, expected) // count))
    finally:
        await client.aclose()
    return rows


def under_callgrind(name: str, measure) -> list | None:
    """``measure(redis_url, meter)`` against its own redis-server under callgrind (the current key
    layout); None when valgrind is missing (said on stderr)."""
    use_layout(2)
    if shutil.which("valgrind") is None:
        print(f"{name}: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return None
    work = Path(tempfile.mkdtemp(prefix=f"alertgate-{name}-"))
    meter = Callgrind(work)
    try:
        return asyncio.run(measure(meter.server.url, meter))
    finally:
        meter.close()
        shutil.rmtree(work, ignore_errors=True)


def report(name: str, measure, columns: list[tuple[str, int, str]]) -> int:
    """``measure`` run by ``under_callgrind``, its rows printed under ``columns`` (title, width,
    format of the values); 2 when valgrind is missing."""
    rows = under_callgrind(name, measure)
    if rows is None:
        return 2
    print("  ".join(f"{title:>{width}}" for title, width, _ in columns))
    for row in rows:
        print("  ".join(f"{value:>{width}{form}}" for value, (_, width, form) in zip(row, columns)))
    return 0


def main() -> int:
    return report("script-cost", measure, [("alerts", 10, ""), ("per script call", 15, ""),
                                           ("Redis instructions per alert", 28, ",")])


if __name__ == "__main__":
    sys.exit(main())
