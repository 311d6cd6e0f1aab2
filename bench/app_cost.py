"""What one ingest request costs the gateway's own process, HTTP server left out: the app is
called in-process as uvicorn would call it (ASGI scope, receive, send), by 16 concurrent callers,
over a real Redis (AOF on, as shipped). The ceiling app is driven the same way.

    .venv/bin/python bench/app_cost.py [--alerts 20000] [--rounds 3]

Shapes: the storm, 1 and 50 alerts per request, every alert a duplicate of a master created
first (untimed; each storm body is sent once, none repeats); ``fresh``: 1 alert per request,
every alert a new master of a CI no round has seen (rules, ticket, dispatch job enqueued).

Variants, each after a FLUSHALL:
- ceiling:  bench/ceiling_app.py (decode only, the ``@post`` route);
- gateway:  the real app;
- catalogue: the real app with a CI catalogue of every CI of the storm (config/cmdb, a CSV): each
            alert's CI is an alias of its CI, so every alert is renamed to the canonical name;
- in-window: the real app with a maintenance window in force that holds every alert (storm only):
            what a storm inside a window costs, once each key has had an occurrence held (untimed),
            as the gateway variant's keys have their master;
- no Redis: the same app with the ingest script's Redis calls answered in-process (every alert
            a duplicate; storm only), so gateway minus no-Redis is what the Redis round trip
            costs the gateway.

Reports CPU time of this process (user + system) per request and per alert, and Redis's own CPU
per alert; the median round of each. In the full benchmark the HTTP server's cost (uvicorn,
httptools, the sockets) comes on top of every variant alike.

With ``--instructions`` each variant runs under valgrind's callgrind instead (one round, fewer
alerts: about 50 times slower) and the table counts the instructions of this process per request:
the same on every run of the same code, whatever else the machine does, to weigh a change worth
a few percent. (Batches of concurrent requests are smaller under valgrind, where Redis answers
at once compared with the slowed gateway.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import callgrind
import redis
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from run import CIS, NAMES, TOKEN, alert, census, config_with_catalogue, storm_alerts  # noqa: E402

PATH = "/api/v1/alerts/alertmanager"
CALLERS = 16


def body(alerts: list[dict]) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "alertgate", "groupKey": "{}:{}",
                       "externalURL": "http://alertmanager:9093", "alerts": alerts}, separators=(",", ":")).encode()


async def post(app, content: bytes, path: str = PATH, expect: int = 200, method: str = "POST") -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {TOKEN if path == PATH else TOKEN + '-admin'}".encode()),
                         (b"content-length", str(len(content)).encode())],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080)}
    status: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": content, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [expect]:
        raise RuntimeError(f"{path} answered {status}")


VARIANTS = ("ceiling", "gateway", "catalogue", "in-window", "no-redis")
FIRST_HELD = 50_000_000   # (ms after the storm's first alert: occurrences no storm alert repeats)
WINDOW = json.dumps({"title": "bench: everything in maintenance", "all": True,
                     "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-07T00:00:00Z",
                     "recurrence": "FREQ=WEEKLY"}).encode()  # (in force a week in every week: always)


async def drive(app, bodies: list[bytes], meter: callgrind.Instructions | None) -> float:
    """CPU seconds (or, with a meter, instructions) of this process to post every body, CALLERS
    at a time."""
    queue = list(reversed(bodies))

    async def caller() -> None:
        while queue:
            await post(app, queue.pop())

    if meter is not None:
        meter.start()
    before = os.times()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    after = os.times()
    if meter is not None:
        return meter.stop()
    return (after.user - before.user) + (after.system - before.system)


def answered_in_process() -> None:
    """Every ingest script call answered `duplicate` without Redis (the ``no Redis`` variant)."""
    from alertgate.dedup import calls

    async def write(self, requests: list) -> list:
        await asyncio.sleep(0)  # (a real write yields to the loop too)
        return [([(b"duplicate", b"INC-AAAAAAAAAAAAA-1-1", b"INC-AAAAAAAAAAAAA-1")] * len(r), None) for r in requests]

    calls.StandaloneCalls._write = write


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_sys"] + cpu["used_cpu_user"]


async def measure(variant: str, shapes: dict, masters: list[bytes], held_first: list[bytes], rounds: int,
                  client: redis.Redis, meter: callgrind.Instructions | None) -> dict:
    """``shapes``: name → (alerts per request, round → its bodies). ``held_first``: in-window, an
    occurrence of every key held first (untimed), as the other variants' keys have their master."""
    if variant == "ceiling":
        import ceiling_app
        app = ceiling_app.create_app()
    else:
        from alertgate.gateway.app import app_from_environment
        app = app_from_environment()
    started = asyncio.Event()

    async def lifespan_send(message: dict) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.create_task(app({"type": "lifespan"}, _lifespan_receive(), lifespan_send))
    await started.wait()  # (its shutdown never comes: the process ends)
    found: dict = {}
    for shape, (per_request, bodies_of) in shapes.items():
        if shape == "fresh" and variant in ("no-redis", "in-window"):
            continue
        runs = []
        for number in range(rounds):
            bodies = bodies_of(number)
            client.flushall()
            if variant != "ceiling" and shape != "fresh":  # (no-redis: its keys become known, as in the gateway)
                for content in masters:
                    await post(app, content)
            if variant == "in-window":  # a window that holds every alert of the storm, each key held once
                await post(app, WINDOW, "/api/v1/maintenance", 201)
                for content in held_first:
                    await post(app, content)
            redis_before = redis_cpu(client)
            spent = await drive(app, bodies, meter)
            if meter is None:
                spent *= 1e6  # µs
            alerts = len(bodies) * per_request
            if variant == "in-window":
                held = sum(client.zcard(key) for key in client.scan_iter("ag:*:held")) - len(held_first) * 50
                if held != alerts:
                    raise RuntimeError(f"{shape}: expected {alerts} held alerts, Redis holds {held}")
                await post(app, b"", "/api/v1/maintenance/MW-000001", 200, "DELETE")  # (ended before the next round)
            if variant in ("gateway", "catalogue"):
                held = census(client)
                if held["masters" if shape == "fresh" else "duplicates"] != alerts:
                    raise RuntimeError(f"{shape}: expected {alerts} new tickets, Redis holds {held}")
            runs.append({"per_request": spent / len(bodies), "per_alert": spent / alerts,
                         "redis_us_per_alert": 1e6 * (redis_cpu(client) - redis_before) / alerts})
        found[shape] = min(runs, key=lambda r: abs(r["per_request"] - statistics.median(
            x["per_request"] for x in runs)))
    lifespan.cancel()
    return found


def _lifespan_receive():
    started = False

    async def receive() -> dict:
        nonlocal started
        if not started:
            started = True
            return {"type": "lifespan.startup"}
        await asyncio.Event().wait()
        return {}

    return receive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20_000, help="timed alerts per storm shape (fresh: a quarter)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--variant", choices=VARIANTS, help="(one process per variant)")
    parser.add_argument("--only", help="these variants (comma-separated), not all")
    parser.add_argument("--dumps", type=Path, help="(callgrind's dumps, with --variant and --instructions)")
    parser.add_argument("--shapes", help="these shapes (comma-separated: storm-1, storm-50, fresh), not all: "
                                         "to watch one under a profiler")
    args = parser.parse_args()
    if args.instructions:   # (under valgrind a call of 50 new masters can take longer than the 2 s default: a 503)
        os.environ.setdefault("ALERTGATE_REDIS_TIMEOUT", "60s")
    if args.variant is None:
        return compare(args)
    work = Path(tempfile.mkdtemp(prefix="alertgate-app-cost-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    os.environ.update(ALERTGATE_REDIS_URL=server.url, ALERTGATE_LOG_LEVEL="warning",
                      ALERTGATE_CONFIG_DIR=str(ROOT / "config"), ALERTGATE_DATA_DIR=str(work / "var"),
                      ALERTGATE_BOOTSTRAP_TOKENS=f"source:{TOKEN},admin:{TOKEN}-admin",
                      PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(dir=work))  # (as served)
    if args.variant == "no-redis":
        answered_in_process()
    if args.variant == "catalogue":
        os.environ["ALERTGATE_CONFIG_DIR"] = str(config_with_catalogue(work))
    alerts = storm_alerts(args.alerts + CIS * NAMES)
    masters = [body(alerts[i:i + 50]) for i in range(0, CIS * NAMES, 50)]
    firsts = [alert(i % CIS, (i // CIS) % NAMES, FIRST_HELD + i) for i in range(CIS * NAMES)]
    held_first = [body(firsts[i:i + 50]) for i in range(0, CIS * NAMES, 50)]
    storm = alerts[CIS * NAMES:]
    shapes = {f"storm-{n}": (n, lambda _, n=n: [body(storm[i:i + n]) for i in range(0, len(storm), n)])
              for n in (1, 50)}
    fresh = args.alerts // 4
    shapes["fresh"] = (1, lambda number: [body([alert(CIS + number * fresh + i, 0, i)]) for i in range(fresh)])
    if args.shapes:
        shapes = {name: shapes[name] for name in args.shapes.split(",")}
    meter = callgrind.Instructions(os.getpid(), args.dumps) if args.instructions else None
    try:
        found = uvloop.run(measure(args.variant, shapes, masters, held_first, args.rounds, redis.Redis.from_url(server.url), meter))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(found))
    return 0


def compare(args: argparse.Namespace) -> int:
    """Each variant in its own interpreter (one app per process, as served); one table."""
    if args.instructions and shutil.which("valgrind") is None:
        print("app_cost: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    alerts, rounds = (min(args.alerts, 2_000), 1) if args.instructions else (args.alerts, args.rounds)
    rows = {}
    for variant in args.only.split(",") if args.only else VARIANTS:
        command = [sys.executable, __file__, "--variant", variant, "--alerts", str(alerts), "--rounds", str(rounds)]
        if args.shapes:
            command += ["--shapes", args.shapes]
        with tempfile.TemporaryDirectory(prefix="alertgate-app-cost-") as dumps:
            if args.instructions:
                command = [*callgrind.command(Path(dumps)), *command, "--instructions", "--dumps", dumps]
            done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        rows[variant] = json.loads(done.stdout.splitlines()[-1])
    unit = "instructions" if args.instructions else "CPU µs"
    print(f"{'variant':>10}  {'shape':>8}  {unit + '/request':>19}  {unit + '/alert':>17}"
          + ("" if args.instructions else f"  {'Redis µs/alert':>14}"))
    for variant, found in rows.items():
        for shape, row in found.items():
            if args.instructions:
                print(f"{variant:>10}  {shape:>8}  {row['per_request']:>19,.0f}  {row['per_alert']:>17,.0f}")
            else:
                print(f"{variant:>10}  {shape:>8}  {row['per_request']:>19.1f}  {row['per_alert']:>17.1f}"
                      f"  {row['redis_us_per_alert']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
