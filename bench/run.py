"""The benchmark: `make bench`. Starts its own Redis (AOF on), the gateway and the framework
ceiling with the same uvicorn settings, drives them with wrk (one thread, pre-built bodies), checks
correctness after each workload, prints one table and writes bench/results/<date>.json.

    .venv/bin/python bench/run.py [--workers N] [--scale 0.1] [--rounds 3]

Workloads (--scale multiplies the counts, for a quick look):
- storm-1:   100,000 Alertmanager alerts, 1 per request, over 1,000 CIs × 10 alert names whose
             masters exist already (created untimed first): every timed alert is a duplicate;
- storm-50:  the same, 50 alerts per request;
- fresh:     40,000 alerts that are all new masters (rules, ticket, enqueue on every one);
- mixed-1:   the headline: 20,000 alerts over 5,000 keys, a new master every fourth alert
             (--new-share, 25%) and duplicates of the keys already open in between, 1 per request,
             with one `alertgate worker` dispatching the new masters meanwhile;
- mixed-50:  the same alerts, 50 per request;
- latency:   storm-1 requests at half the measured storm-1 rate: p50, p99, p99.9;
- ceiling:   storm-1 bodies against a bare Litestar + msgspec decode endpoint;
- durable-1, durable-50: the mixed bodies against the durable ceiling of shared/PERFORMANCE.md
             (durable_ceiling_app.py: the decode, then one Lua call per request recording each
             occurrence once in the same Redis), the mixed rows' reference; durable-1 and mixed-1
             alternate (--mixed-rounds), the median round counts;
- memory:    Redis bytes per master ticket (from fresh) and per duplicate (from storm-1).

wrk runs for a duration, so each workload runs for about the time its bodies take to send once
(the rate of a short probe run, at most --seconds): a body sent again is a redelivery, which the
gateway answers `repeat` at a fraction of a duplicate's cost. The table shows the share that was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import peers
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from alertgate.dedup import layout  # noqa: E402
from alertgate.keys import index_keys, intents_keys  # noqa: E402
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from alertgate.keys import ticket_key  # noqa: E402
from alertgate.work_queue import DISPATCH  # noqa: E402

TOKEN = "bench-source-token"
VIEWER = "bench-viewer-token"
CIS, NAMES = 1000, 10
BASE = datetime(2026, 11, 22, tzinfo=timezone.utc)
PROBE_SECONDS = 2  # the short run that fits each workload's length (wrk takes whole seconds)


def alert(ci: int, name: int, n: int) -> dict:
    """One alert as Alertmanager sends it in a webhook (every field it fills)."""
    return {"status": "firing",
            "labels": {"alertname": f"Alert{name}", "instance": f"host{ci}:9100", "job": "node", "severity": "warning"},
            "annotations": {"summary": f"Alert{name} on host{ci}"},
            "startsAt": (BASE + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": f"http://prometheus:9090/graph?g0.expr=alert{name}",
            "fingerprint": f"{ci:08x}{name:08x}"}


FRESH_PROBE_CI = 50_000   # (fresh's probe: CIs of its own, so that the measured run's are new)
MIXED_CI = 100_000   # (the mixed shape's CIs: apart from the storm's and fresh's)
GENERATION = 100_000  # (each run of the mixed shape has CIs of its own, this far apart)


def new_at(position: int, share: float) -> bool:
    """Whether the mixed shape's alert at ``position`` opens a new key: exactly ``share`` of any
    stretch of alerts, evenly spread."""
    return math.ceil((position + 1) * share) > math.ceil(position * share)


def new_among(count: int, share: float) -> int:
    """How many of the mixed shape's first ``count`` alerts open a new key."""
    return math.ceil(count * share)


def mixed_alerts(total: int, share: float, seed: int = 27, generation: int = 0) -> list[dict]:
    """A real storm's mixture: at ``share`` of the positions a key fires for the first time, at
    the others one of the keys already firing fires again (any of them, at random). Each
    ``generation`` is the same storm on CIs of its own."""
    import random
    pick, keys, out = random.Random(seed), 0, []
    for n in range(total):
        if new_at(n, share):
            keys += 1
            key = keys - 1
        else:
            key = pick.randrange(keys)
        out.append(alert(MIXED_CI + generation * GENERATION + key, 0, n))
    return out


def storm_alerts(total: int) -> list[dict]:
    # Key after key, so every key's first occurrence comes early and the rest are duplicates.
    return [alert(i % CIS, (i // CIS) % NAMES, i) for i in range(total)]


def config_with_catalogue(work: Path) -> Path:
    """The shipped settings and a catalogue of every CI the storm and fresh shapes name (as
    ``host<n>``, an alias of ``host<n>.prod.example``), under racks and a core switch."""
    config = work / "config"
    shutil.copytree(ROOT / "config", config)
    rows = ["name,aliases,service,owner_group,criticality,parents", "core1,,network,network,1,"]
    rows += [f"rack{r},,network,network,2,core1" for r in range(50)]
    rows += [f"host{n}.prod.example,host{n};10.{n // 250}.{n % 250}.1,svc{n % 20},ops,{1 + n % 4},rack{n % 50}"
             for n in range(CIS * 40)]
    (config / "cmdb" / "bench.csv").write_text("\n".join(rows) + "\n")
    return config


def write_bodies(path: Path, alerts: list[dict], per_request: int) -> int:
    lines = [json.dumps({"version": "4", "status": "firing", "receiver": "alertgate", "groupKey": "{}:{}",
                         "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                         "externalURL": "http://alertmanager:9093", "alerts": alerts[i:i + per_request]},
                        separators=(",", ":"))
             for i in range(0, len(alerts), per_request)]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def wrk(url: str, bodies: Path, seconds: int, connections: int = 32, rate: float = 0, token: str = TOKEN,
        once: bool = False) -> dict:
    """``once``: every body sent once, timed from the first request to the last body's answer
    (replay_once.lua; ``seconds`` need only be long enough), instead of for ``seconds``."""
    script = "bench/replay_once.lua" if once else "bench/replay.lua"
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
            str(ROOT / script), url, "--", str(bodies), token]
    if rate:
        args += [str(rate), str(connections)]
    done = subprocess.run(args, capture_output=True, text=True)
    found = re.search(r"^RESULT (.*)$", done.stdout, re.M)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk against {url} failed: {done.stderr.strip()[-500:]}")
    return json.loads(found.group(1))


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def redis_cpu(client: redis.Redis) -> float:
    """Seconds of CPU that Redis's main thread has used."""
    cpu = client.info("cpu")
    return cpu["used_cpu_sys_main_thread"] + cpu["used_cpu_user_main_thread"]


def census(client: redis.Redis) -> dict:
    """Masters (and how many are dispatched), duplicates and the sum of duplicate_count, read
    straight from Redis."""
    layout.ensure_sync(client)  # (the gateway under test marked it)
    ids = [raw.decode() for key in index_keys() for raw in client.zrange(key, 0, -1)]
    masters = duplicates = counted = dispatched = 0
    for offset in range(0, len(ids), 2000):
        pipe = client.pipeline(transaction=False)
        for ticket_id in ids[offset:offset + 2000]:
            pipe.hmget(ticket_key(ticket_id), "kind", "duplicate_count", "dispatched_for")
        for kind, count, dispatched_for in pipe.execute():
            if kind == b"master":
                masters += 1
                counted += int(count or 0)
                dispatched += dispatched_for is not None
            else:
                duplicates += 1
    return {"masters": masters, "duplicates": duplicates, "duplicate_count_sum": counted, "dispatched": dispatched}


def group_cpu(leader: int) -> float:
    """CPU seconds (user and system) of the process group ``leader`` leads (``start`` makes each
    process a session leader): its processes, and the children they have waited for."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == leader:
            total += sum(int(f) for f in fields[11:15]) / tick
    return total


def wrk_cpu() -> float:
    """CPU seconds of the children this process has waited for (wrk's runs among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Worker:
    """One `alertgate worker` (RQ, forking a work horse per job) beside the gateway during a
    workload, as in production: how far it kept up, and its CPU per dispatch."""

    DRAIN_SECONDS = 120

    def __init__(self, python: str, env: dict, work: Path) -> None:
        self.process = start([python, "-m", "alertgate", "worker"], env, work / "worker.log")
        time.sleep(2.0)   # (registered, its scheduler started)
        # Its start (the processes' interpreters and imports, about 1.6 CPU-seconds) is not the
        # workload's: measured from when it is idle. (Until 2026-12-06 it was counted in the CPU
        # per dispatch, which it raised by about 0.3 ms in the mixed rows.)
        self.startup_cpu = self.cpu()
        for _ in range(20):
            time.sleep(0.25)
            now = self.cpu()
            if now - self.startup_cpu < 0.02:   # (its listener wakes each second: not quite zero)
                break
            self.startup_cpu = now

    def cpu(self) -> float:
        """CPU seconds of its process group: the worker, its horses (live, and reaped ones)."""
        return group_cpu(self.process.pid)

    def finish(self, client: redis.Redis) -> dict:
        at_end = census(client)
        started, cpu_start = time.monotonic(), self.cpu()
        queued, running = f"rq:queue:{DISPATCH}", f"rq:wip:{DISPATCH}"   # (RQ's queue and started registry)
        while time.monotonic() - started < self.DRAIN_SECONDS:   # (cheap reads, not a census, per poll)
            intents = sum(client.xlen(stream) for stream in intents_keys())   # (ingest's, workers/intents.py)
            if intents == 0 and client.llen(queued) == 0 and client.zcard(running) == 0:
                break
            time.sleep(0.5)
        drained = census(client)
        at_last = self.cpu()
        cpu = at_last - self.startup_cpu
        stop(self.process)
        return {"dispatched_at_end": at_end["dispatched"], "masters_at_end": at_end["masters"],
                "drain_seconds": round(time.monotonic() - started, 2), "dispatched": drained["dispatched"],
                "startup_cpu_seconds": round(self.startup_cpu, 2),
                "cpu_seconds": round(cpu, 2), "cpu_seconds_draining": round(at_last - cpu_start, 2),
                "cpu_ms_per_dispatch": round(1000 * cpu / max(drained["dispatched"], 1), 3)}


def watch_console(base: str) -> dict:
    """A console signed in (the viewer) and reading its live queue's events in a thread until the
    process ends, as a person with the console open; returns what it has counted so far."""
    import threading
    seen = {"events": 0}
    client = httpx.Client(base_url=base, timeout=None, follow_redirects=True)
    answer = client.post("/console/login", data={"token": VIEWER})
    if answer.status_code != 200 or "/console/queue" not in str(answer.url):
        raise RuntimeError(f"console sign-in failed: {answer.status_code}")

    def stream() -> None:
        with client.stream("GET", "/console/events") as events:
            for line in events.iter_lines():
                if line.startswith("event: queue"):
                    seen["events"] += 1
    threading.Thread(target=stream, daemon=True).start()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seconds", type=int, default=20,
                        help="at most, per workload (each runs about as long as sending its bodies once takes)")
    parser.add_argument("--peers", action="store_true", help="also Alertmanager and Alerta (bench/peers.py)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="ceiling and storm-1 alternate this many times, each as long as storm-1's fit; "
                             "the median round counts")
    parser.add_argument("--mixed-rounds", type=int, default=5,
                        help="the durable ceiling and mixed-1 alternate this many times (each a few seconds); "
                             "the median round counts")
    parser.add_argument("--catalogue", action="store_true",
                        help="with a CI catalogue of every CI the workloads name (each alert's CI an alias)")
    parser.add_argument("--new-share", type=float, default=0.25,
                        help="the mixed workloads' share of alerts that open a new master (the rest are duplicates)")
    parser.add_argument("--console", action="store_true",
                        help="keep a console signed in and streaming its live queue (/console/events) all along")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    storm_total, fresh_total = int(100_000 * args.scale), int(40_000 * args.scale)
    mixed_total = int(20_000 * args.scale)
    # wrk runs for a duration, cycling its bodies: each workload runs about as long as sending them
    # once takes (fitted from a probe, at most --seconds); the table says what share was sent again.
    work = Path(tempfile.mkdtemp(prefix="alertgate-bench-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    client = redis.Redis.from_url(server.url)
    port, ceiling_port, durable_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTGATE_", "PROMETHEUS_"))}
    env.update(ALERTGATE_REDIS_URL=server.url, ALERTGATE_PORT=str(port), ALERTGATE_LOG_LEVEL="warning",
               ALERTGATE_CONFIG_DIR=str(ROOT / "config"), ALERTGATE_DATA_DIR=str(work / "var"),
               ALERTGATE_BOOTSTRAP_TOKENS=f"source:{TOKEN},viewer:{VIEWER}")
    if args.catalogue:
        env["ALERTGATE_CONFIG_DIR"] = str(config_with_catalogue(work))
    python = sys.executable
    gateway = start([python, "-m", "alertgate", "serve", "--workers", str(args.workers)], env, work / "gateway.log")
    ceiling = start([python, str(ROOT / "bench/ceiling_app.py"), "--port", str(ceiling_port), "--workers", str(args.workers)],
                    {**env, "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT / 'src'}"}, work / "ceiling.log")
    durable = start([python, str(ROOT / "bench/durable_ceiling_app.py"), "--port", str(durable_port),
                     "--workers", str(args.workers)],
                    {**env, "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT / 'src'}"}, work / "durable.log")
    results: dict = {"date": datetime.now(timezone.utc).isoformat(), "workers": args.workers, "scale": args.scale,
                     "new_share": args.new_share, "machine": {"cores": os.cpu_count()}}
    try:
        url = f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager"
        wait_http(f"http://127.0.0.1:{port}/healthz")
        wait_http(f"http://127.0.0.1:{ceiling_port}/api/v1/alerts/alertmanager")
        durable_url = f"http://127.0.0.1:{durable_port}/api/v1/alerts/alertmanager"
        wait_http(durable_url)
        servers = {url: gateway, durable_url: durable,
                   f"http://127.0.0.1:{ceiling_port}/api/v1/alerts/alertmanager": ceiling}
        if args.console:
            results["console"] = watch_console(f"http://127.0.0.1:{port}")
        alerts = storm_alerts(storm_total + CIS * NAMES)
        # The storm hits keys that already have their master: every timed alert is a duplicate.
        masters, storm_only = alerts[:CIS * NAMES], alerts[CIS * NAMES:]
        one, fifty, fresh, warm = (work / f"{n}.jsonl" for n in ("storm1", "storm50", "fresh", "masters"))
        n_one = write_bodies(one, storm_only, 1)
        n_fifty = write_bodies(fifty, storm_only, 50)
        write_bodies(warm, masters, 50)
        n_fresh = write_bodies(fresh, [alert(CIS + i, 0, i) for i in range(fresh_total)], 1)
        fresh_probe = work / "fresh-probe.jsonl"
        write_bodies(fresh_probe, [alert(FRESH_PROBE_CI + i, 0, i) for i in range(fresh_total)], 1)
        mixed = mixed_alerts(mixed_total, args.new_share)
        mixed1, mixed50 = work / "mixed1.jsonl", work / "mixed50.jsonl"
        n_mixed1, n_mixed50 = write_bodies(mixed1, mixed, 1), write_bodies(mixed50, mixed, 50)
        generations = iter(range(1, 1000))

        def new_mixed(per_request: int) -> Path:
            """The mixed bodies on CIs no run has sent yet. A gateway process remembers the keys it
            has seen holding a ticket (a hint, dedup/store.py) and sends their alerts without a new
            master's fields; sent again after a FLUSHALL, a known key's new master would take two
            script calls, which in life only a key whose master has left its window does."""
            generation = next(generations)
            path = work / f"mixed{per_request}-{generation}.jsonl"
            write_bodies(path, mixed_alerts(mixed_total, args.new_share, generation=generation), per_request)
            return path

        def run(name: str, bodies: Path, count: int, alerts_per_request: int, target: str = url,
                warm_up: bool = False, with_worker: bool = False, **kw) -> dict:
            client.flushall()
            if warm_up:  # one master per key, untimed
                with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
                    for line in warm.read_text().splitlines():
                        http.post(url, content=line, headers={"Content-Type": "application/json"}).raise_for_status()
            time.sleep(0.2)
            worker = Worker(python, env, work) if with_worker else None
            baseline = client.info("memory")["used_memory"]
            cpu_before = redis_cpu(client)
            rewrites = client.info("persistence")["aof_rewrites"]
            server = servers[target]
            parts_before = {"server": group_cpu(server.pid), "wrk": wrk_cpu()}
            outcome = wrk(target, bodies, kw.pop("seconds", args.seconds), **kw)
            parts = {"server": group_cpu(server.pid) - parts_before["server"], "wrk": wrk_cpu() - parts_before["wrk"],
                     "redis": redis_cpu(client) - cpu_before}
            if worker is not None:
                outcome["worker"] = worker.finish(client)
                parts["worker"] = outcome["worker"]["cpu_seconds"]
            # Where the machine's time went, per request: the server's processes, Redis's main
            # thread, wrk, and the worker (with its drain after the load).
            outcome["cpu_us_per_request"] = {part: round(1e6 * seconds / max(outcome["requests"], 1), 1)
                                             for part, seconds in parts.items()}
            outcome["bodies"] = count
            outcome["warmed"] = warm_up
            time.sleep(1.0)  # let requests still in flight when wrk stopped finish before counting
            outcome["rps"] = outcome["requests"] / outcome["seconds"]
            outcome["alerts_per_second"] = outcome["rps"] * alerts_per_request
            outcome["alerts_per_request"] = alerts_per_request
            # wrk cycles its bodies: a request past the last one is a redelivery (a `repeat`)
            outcome["redelivered_share"] = max(outcome["requests"] - count, 0) / max(outcome["requests"], 1)
            outcome["redis_bytes"] = client.info("memory")["used_memory"] - baseline
            # An AOF rewrite (Redis forks and writes the whole dataset: auto-aof-rewrite at 100%
            # growth, as shipped) takes a core's share from the workload it falls in.
            outcome["aof_rewrites"] = client.info("persistence")["aof_rewrites"] - rewrites
            # Redis's main thread (commands, scripts, AOF writes), per alert sent
            outcome["redis_cpu_us_per_alert"] = (1e6 * (redis_cpu(client) - cpu_before)
                                                 / max(outcome["requests"] * alerts_per_request, 1))
            if target == url:
                outcome["census"] = census(client)
            elif target == durable_url:
                outcome["census"] = durable_census(client)
            results[name] = outcome
            return outcome

        def fit(count: int, rps: float) -> int:
            """Seconds in which ``count`` bodies are sent about once at ``rps``: the storm is its
            alerts (99% duplicates) and fresh is all new masters, not wrk cycling back to bodies
            already sent (redeliveries, which only renew a record)."""
            return max(1, min(args.seconds, int(count / max(rps, 1))))

        def fitted(name: str, bodies: Path, count: int, warm_up: bool, target: str = url) -> int:
            """``fit`` at the rate of a short probe run of the workload (on ``bodies``: the fresh
            and mixed shapes' probes have CIs of their own)."""
            probe = run(f"{name}_probe", bodies, count, 1, warm_up=warm_up, target=target, seconds=PROBE_SECONDS)
            del results[f"{name}_probe"]
            return fit(count, probe["rps"])

        one_s = fitted("storm_1", one, n_one, warm_up=True)
        fifty_s = fitted("storm_50", fifty, n_fifty, warm_up=True)
        fresh_s = fitted("fresh", fresh_probe, n_fresh, warm_up=False)
        # This machine's speed drifts within minutes (same code, ceiling 8k–12k req/s in one hour):
        # the ceiling and storm-1 alternate, and the round with the median ratio is the one reported.
        ceiling_url = f"http://127.0.0.1:{ceiling_port}/api/v1/alerts/alertmanager"
        rounds = []
        for _ in range(max(args.rounds, 1)):  # (each round fitted to the rate of the one before)
            rounds.append((run("ceiling", one, n_one, 1, target=ceiling_url, seconds=one_s),
                           run("storm_1", one, n_one, 1, warm_up=True, seconds=one_s)))
            one_s = fit(n_one, rounds[-1][1]["rps"])
        results["rounds"] = [{"ceiling_rps": c["rps"], "storm_1_rps": s["rps"], "ratio": s["rps"] / c["rps"]}
                             for c, s in rounds]
        median = sorted(range(len(rounds)), key=lambda i: results["rounds"][i]["ratio"])[len(rounds) // 2]
        results["ceiling"], results["storm_1"] = rounds[median]
        storm = results["storm_1"]
        run("storm_50", fifty, n_fifty, 50, warm_up=True, seconds=fifty_s)
        fresh_run = run("fresh", fresh, n_fresh, 1, seconds=2 * fresh_s + 2, once=True)
        per_master = fresh_run["redis_bytes"] / max(fresh_run["census"]["masters"], 1)
        # The headline: a real storm's mixture, with a worker dispatching the new masters meanwhile.
        # Its reference is the durable ceiling fed the same bodies (shared/PERFORMANCE.md), in
        # alternating rounds as the ceiling and storm-1 above.
        mixed1_s = fitted("mixed_1", new_mixed(1), n_mixed1, warm_up=False)
        mixed50_s = fitted("mixed_50", new_mixed(50), n_mixed50, warm_up=False)
        durable1_s = fitted("durable_1", mixed1, n_mixed1, warm_up=False, target=durable_url)
        durable50_s = fitted("durable_50", mixed50, n_mixed50, warm_up=False, target=durable_url)
        # Their bodies take a second or two to send, so these rows send each body exactly once and
        # are timed to the last answer (wrk's whole seconds cut them short or sent many again).
        mixed_rounds = []
        for _ in range(max(args.mixed_rounds, 1)):
            bodies = new_mixed(1)
            mixed_rounds.append((run("durable_1", bodies, n_mixed1, 1, target=durable_url, seconds=2 * durable1_s + 2,
                                     once=True),
                                 run("mixed_1", bodies, n_mixed1, 1, with_worker=True, seconds=2 * mixed1_s + 2,
                                     once=True)))
        results["mixed_rounds"] = [{"durable_1_rps": d["rps"], "mixed_1_rps": m["rps"], "ratio": m["rps"] / d["rps"]}
                                   for d, m in mixed_rounds]
        median = sorted(range(len(mixed_rounds)), key=lambda i: results["mixed_rounds"][i]["ratio"])[len(mixed_rounds) // 2]
        results["durable_1"], results["mixed_1"] = mixed_rounds[median]
        bodies = new_mixed(50)
        run("durable_50", bodies, n_mixed50, 50, target=durable_url, seconds=2 * durable50_s + 2, once=True)
        run("mixed_50", bodies, n_mixed50, 50, with_worker=True, seconds=2 * mixed50_s + 2, once=True)
        results["memory"] = {  # a master's figure includes its queued dispatch job
            "bytes_per_master": round(per_master),
            "bytes_per_duplicate": round(storm["redis_bytes"] / max(storm["census"]["duplicates"], 1)),
        }
        rate = storm["rps"] / 2
        results["latency"] = run("latency_run", one, n_one, 1, warm_up=True, connections=16, rate=rate,
                                 seconds=fit(n_one, rate))
        results["latency"]["target_rps"] = rate
        del results["latency_run"]
        if args.peers:
            results["peers"] = measure_peers(work, args, storm_only, one, fifty, mixed, mixed1, mixed50)
    finally:
        stop(gateway)
        stop(ceiling)
        stop(durable)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # (bodies and AOF: hundreds of MB a run)
    report(results, fresh_total, args.new_share)
    out = ROOT / "bench" / "results" / f"{datetime.now(timezone.utc):%Y-%m-%d}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0 if all(correct(results, name, fresh_total, args.new_share) for name in CHECKED) else 1


def measure_peers(work: Path, args: argparse.Namespace, storm_only: list[dict], one: Path, fifty: Path,
                  mixed: list[dict], mixed1: Path, mixed50: Path) -> dict:
    """The storm and the mixed shape, 1 and 50 alerts per request, against each peer that can be
    started here."""
    found: dict = {}
    am = {name: work / f"am-{name}.jsonl" for name in ("storm_1", "storm_50", "mixed_1", "mixed_50")}
    for name, alerts in (("storm", storm_only), ("mixed", mixed)):
        peers.alertmanager_bodies(am[f"{name}_1"], alerts, 1)
        peers.alertmanager_bodies(am[f"{name}_50"], alerts, 50)
    ours = {"storm_1": one, "storm_50": fifty, "mixed_1": mixed1, "mixed_50": mixed50}
    starts = {
        "alertmanager": (lambda: peers.start_alertmanager(work, free_port(), start, wait_http), am),
        "alerta": (lambda: peers.start_alerta(work, free_port(), args.workers, start, wait_http), ours),
    }
    for name, (start_peer, bodies) in starts.items():
        process, where = start_peer()
        if process is None:
            found[name] = {"skipped": where}
            print(f"bench: {name} left out: {where}", file=sys.stderr)
            continue
        try:
            found[name] = {}
            for shape, path in bodies.items():
                per_request = 50 if shape.endswith("_50") else 1
                outcome = wrk(where, path, args.seconds, token="-")
                outcome["rps"] = outcome["requests"] / outcome["seconds"]
                outcome["alerts_per_second"] = outcome["rps"] * per_request
                found[name][shape] = outcome
        finally:
            stop(process)
    return found


CHECKED = ("storm_1", "storm_50", "fresh", "mixed_1", "mixed_50", "durable_1", "durable_50")


def durable_census(client: redis.Redis) -> dict:
    """The durable ceiling's tickets (durable_ceiling_app.py): one per occurrence it recorded."""
    return {"tickets": sum(1 for _ in client.scan_iter(match="dc:*:t:*", count=5000))}


def correct(r: dict, name: str, fresh_total: int, share: float) -> bool:
    keys = {"storm_1": CIS * NAMES, "storm_50": CIS * NAMES, "fresh": fresh_total}
    if name.startswith("durable_"):
        return _correct_durable(r[name])
    return _correct(r[name], keys[name]) if name in keys else _correct_mixed(r[name], share)


def _correct_durable(outcome: dict) -> bool:
    """Every mixed alert is an occurrence of its own: one ticket each, none twice."""
    per_request = outcome["alerts_per_request"]
    sent = min(outcome["requests"], outcome["bodies"]) * per_request
    return (sent <= outcome["census"]["tickets"] <= sent + 32 * per_request
            and outcome["errors"] == 0 and outcome["non_2xx"] == 0)


def _correct(outcome: dict, keys: int) -> bool:
    """Every alert that reached Redis is in exactly one ticket: one master per key it reached,
    duplicates counted on their masters; no error answers. wrk stops on time, so the alerts of
    requests still in flight at the end may be stored without being counted as sent."""
    census_ = outcome["census"]
    stored = census_["masters"] + census_["duplicates"]
    per_request = outcome["alerts_per_request"]  # (an integer: rates divided back are not exact)
    sent = min(outcome["requests"], outcome["bodies"]) * per_request
    in_flight = 32 * per_request
    warmed = keys if outcome.get("warmed") else 0
    return (census_["masters"] == min(stored, keys) and census_["duplicate_count_sum"] == census_["duplicates"]
            and sent <= stored - warmed <= sent + in_flight and outcome["errors"] == 0 and outcome["non_2xx"] == 0)


def _correct_mixed(outcome: dict, share: float) -> bool:
    """As ``_correct``: the mixed shape's first n alerts open ``new_among(n)`` keys (requests of
    32 connections complete out of order by at most the alerts in flight), and every master the
    worker was given is dispatched once it drained."""
    census_ = outcome["census"]
    stored = census_["masters"] + census_["duplicates"]
    per_request = outcome["alerts_per_request"]
    sent = min(outcome["requests"], outcome["bodies"]) * per_request
    in_flight = 32 * per_request
    worker = outcome.get("worker", {})
    return (abs(census_["masters"] - new_among(stored, share)) <= in_flight
            and census_["duplicate_count_sum"] == census_["duplicates"]
            and sent <= stored <= sent + in_flight and outcome["errors"] == 0 and outcome["non_2xx"] == 0
            and worker.get("dispatched", census_["masters"]) == census_["masters"])


def report(r: dict, fresh_total: int, share: float) -> None:
    ceiling = r["ceiling"]
    rows = [("workload", "seconds", "req/s", "alerts/s", "p50 ms", "p99 ms", "p99.9 ms", "redelivered", "rewrites", "correct")]
    for name in ("ceiling", "storm_1", "storm_50", "fresh", "durable_1", "mixed_1", "durable_50", "mixed_50", "latency"):
        o = r[name]
        checked = name in CHECKED
        ok = ("yes" if correct(r, name, fresh_total, share) else "NO") if checked else "-"
        rows.append((name, f"{o['seconds']:.1f}", f"{o['rps']:,.0f}", f"{o['alerts_per_second']:,.0f}",
                     f"{o['p50_ms']:.2f}", f"{o['p99_ms']:.2f}", f"{o['p999_ms']:.2f}",
                     f"{100 * o['redelivered_share']:.0f}%" if checked else "-", str(o.get("aof_rewrites", "-")), ok))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    print("\nCPU µs per alert (the server's processes, Redis's main thread, wrk, the worker with its drain):")
    parts = ("server", "redis", "wrk", "worker")
    print("  " + "  ".join(f"{h:>10}" for h in ("workload", *parts, "total")))
    for name in ("ceiling", "storm_1", "storm_50", "fresh", "durable_1", "mixed_1", "durable_50", "mixed_50"):
        used = r[name].get("cpu_us_per_request")
        if used:
            per = {part: used.get(part, 0.0) / r[name]["alerts_per_request"] for part in parts}
            print("  " + "  ".join(f"{cell:>10}" for cell in (name, *(f"{per[p]:.1f}" for p in parts),
                                                               f"{sum(per.values()):.1f}")))
    print(f"\nmixed-1 / durable ceiling (req/s): {r['mixed_1']['rps'] / r['durable_1']['rps']:.2f}   (target ≥ 0.6; "
          f"{100 * share:.0f}% new masters)   rounds: {', '.join(format(x['ratio'], '.2f') for x in r.get('mixed_rounds', []))}")
    print(f"mixed-1 / ceiling (req/s):      {r['mixed_1']['rps'] / ceiling['rps']:.2f}   "
          f"(the durable ceiling / ceiling: {r['durable_1']['rps'] / ceiling['rps']:.2f})")
    # (shared/PERFORMANCE.md: a target for the 1-per-request shape reads against the durable ceiling)
    print(f"storm-1 / durable ceiling (req/s): {r['storm_1']['rps'] / r['durable_1']['rps']:.2f}   (target ≥ 0.6)")
    print(f"storm-1 / ceiling (req/s):      {r['storm_1']['rps'] / ceiling['rps']:.2f}"
          f"   rounds: {', '.join(format(x['ratio'], '.2f') for x in r.get('rounds', []))}")
    print(f"storm-50 / ceiling (alerts/s):  {r['storm_50']['alerts_per_second'] / ceiling['alerts_per_second']:.2f}"
          "   (target ≥ 0.5)")
    print(f"fresh / storm-1 (alerts/s):     {r['fresh']['alerts_per_second'] / r['storm_1']['alerts_per_second']:.2f}"
          "   (target ≥ 0.7)")
    print(f"latency at {r['latency']['target_rps']:,.0f} req/s:  p99 {r['latency']['p99_ms']:.2f} ms   (target ≤ 10)")
    for name in ("mixed_1", "mixed_50"):
        w = r[name].get("worker")
        if w:
            print(f"{name} worker: {w['dispatched_at_end']:,} of {w['masters_at_end']:,} masters dispatched when the "
                  f"load ended, all {w['dispatched']:,} after {w['drain_seconds']:.1f} s more; "
                  f"{w['cpu_ms_per_dispatch']:.2f} ms of CPU per dispatch (its start, "
                  f"{w.get('startup_cpu_seconds', 0):.1f} CPU-s, left out)")
    per_alert = r["storm_50"]["redis_cpu_us_per_alert"]
    print(f"Redis CPU per storm-50 alert:   {per_alert:.1f} µs   (one full core of Redis: at most "
          f"{1e6 / per_alert:,.0f} alerts/s)")
    print(f"Redis per master: {r['memory']['bytes_per_master']:,} B (target ≤ 8 KiB); "
          f"per duplicate: {r['memory']['bytes_per_duplicate']:,} B (target ≤ 1 KiB)")
    if "peers" in r:
        report_peers(r)


PEER_SHAPES = ("storm_1", "storm_50", "mixed_1", "mixed_50")


def report_peers(r: dict) -> None:
    print("\npeers (alerts/s, the same alerts, same machine, this run):")
    rows = [("target", *PEER_SHAPES, "errors + non-2xx")]
    rows.append(("alertgate", *(f"{r[s]['alerts_per_second']:,.0f}" for s in PEER_SHAPES),
                 str(sum(r[s]["errors"] + r[s]["non_2xx"] for s in PEER_SHAPES))))
    if "durable_1" in r:
        rows.append(("durable ceil.", "-", "-", f"{r['durable_1']['alerts_per_second']:,.0f}",
                     f"{r['durable_50']['alerts_per_second']:,.0f}",
                     str(sum(r[s]["errors"] + r[s]["non_2xx"] for s in ("durable_1", "durable_50")))))
    for name, found in r["peers"].items():
        if "skipped" in found:
            rows.append((name, "left out: " + found["skipped"], "", "", "", ""))
            continue
        rows.append((name, *(f"{found[s]['alerts_per_second']:,.0f}" for s in PEER_SHAPES),
                     str(sum(found[s]["errors"] + found[s]["non_2xx"] for s in PEER_SHAPES))))
    for row in rows:
        print("  " + "  ".join(cell.rjust(14) for cell in row))
    am, alerta = r["peers"].get("alertmanager", {}), r["peers"].get("alerta", {})
    if "mixed_50" in am:
        print(f"mixed-50 / Alertmanager's (alerts/s): {r['mixed_50']['alerts_per_second'] / am['mixed_50']['alerts_per_second']:.2f}"
              "   (target ≥ 0.5)")
    if "storm_50" in am:
        print(f"storm-50 / Alertmanager's (alerts/s): {r['storm_50']['alerts_per_second'] / am['storm_50']['alerts_per_second']:.2f}"
              "   (target ≥ 1)")
    if "storm_50" in alerta:
        best = max(alerta["storm_1"]["alerts_per_second"], alerta["storm_50"]["alerts_per_second"])
        print(f"storm / Alerta's best (alerts/s):     {r['storm_50']['alerts_per_second'] / best:.1f}"
              "   (target ≥ 20)")


if __name__ == "__main__":
    raise SystemExit(main())
