"""Dispatches per second per core, by RQ worker class and by the intents consumer (issue #27).

    .venv/bin/python bench/dispatch_rate.py [--jobs 2000] [--classes intents,worker,simple,spawn,direct]

For each class: a fresh embedded Redis, ``--jobs`` P3 masters as the gateway stores them (routed
to a group, the log channel: the worker's own cost, no SMTP), one dispatch job each, then one
burst worker of that class drains the queue in a child process. Reported: wall seconds, CPU
seconds of the worker and every process it forked (waited for), dispatches per second and per
CPU-second (per core), for the intents consumer its CPU per dispatch once started (the
interpreter's start and imports left out: ``working_us_per_dispatch``), the Redis memory the dispatch left per master (its timers, its marks; RQ's
jobs and results for the RQ classes), and the check that every master was dispatched and told
exactly once.

- ``worker``: RQ's ``Worker`` (what ``alertgate worker`` runs): a work horse forked per job;
- ``simple``: RQ's ``SimpleWorker``: every job in the worker's own process, timeouts by SIGALRM;
- ``spawn``: RQ's ``SpawnWorker``: a new interpreter per job (``os.spawn``), for platforms without fork;
- ``direct``: the RQ jobs' own code run one after another in one event loop, without RQ;
- ``intents``: what ``alertgate worker`` runs since issue #27: the masters' intents in their
  shards' streams (as the ingest script writes them), drained by the dispatcher's consumer
  (``workers/intents.py``), a batch at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

CLASSES = {"worker": "Worker", "simple": "SimpleWorker", "spawn": "SpawnWorker", "direct": "no RQ (one loop)",
           "intents": "intents consumer"}


def settings_env(redis_url: str, work: Path, sink: "Sink | HookSink | None" = None) -> dict:
    """With a ``sink``: the shipped configuration, plus its channel (e-mail or webhook) to it and
    an address for every group the shipped rules route to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTGATE_")}
    env.update(ALERTGATE_REDIS_URL=redis_url, ALERTGATE_CONFIG_DIR=str(ROOT / "config"),
               ALERTGATE_LOG_LEVEL="info", ALERTGATE_DATA_DIR=str(work / "var"))
    if sink is not None:
        import shutil

        import yaml
        config = work / "config"
        shutil.copytree(ROOT / "config", config)
        settings = yaml.safe_load((config / "alertgate.yaml").read_text())
        groups = ("application", "network", "security", "server", "storage", "service_desk")
        settings["notify"] = {"contacts": {g: {"email": [f"{g}@example.com"]} for g in groups},
                              "email": {"host": "127.0.0.1", "port": sink.port, "sender": "alertgate@example.com"},
                              "webhook": {"url": f"http://127.0.0.1:{sink.port}/hook"}}
        (config / "alertgate.yaml").write_text(yaml.safe_dump(settings))
        env["ALERTGATE_CONFIG_DIR"] = str(config)
    return env


class Sink:
    """An SMTP server in this process (aiosmtpd), counting what it is given: the worker's e-mails."""

    def __init__(self, delay: float = 0.0) -> None:
        from aiosmtpd.controller import Controller
        self.received = 0
        self.delay = delay
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received += len(envelope.rcpt_tos)
        return "250 OK"

    def stop(self) -> None:
        self._controller.stop()


class HookSink:
    """An HTTP server in this process (HTTP/1.1, keep-alive), counting the worker's webhook POSTs."""

    def __init__(self, delay: float = 0.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        sink = self
        self.received = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                if delay:
                    time.sleep(delay)
                sink.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


async def seed(redis_url: str, jobs: int, env: dict, intents: bool = False, channel: str = "log") -> list[str]:
    """``jobs`` masters created as the gateway creates them (an Alertmanager body parsed,
    classified by the shipped rules, ``DedupStore.ingest``: the stored layout and the intent the
    ingest script writes), on the log channel (the shipped rules' e-mail has no contacts here: a
    notice really goes out); without ``intents``, their RQ dispatch jobs queued too."""
    import json

    import redis as sync_redis
    from redis.asyncio import Redis

    from alertgate.dedup import layout
    from alertgate.dedup.store import DedupStore
    from alertgate.intake.pipeline import classify
    from alertgate.intake.sources.alertmanager import parse
    from alertgate.intake.sources.common import SourceContext
    from alertgate.keys import ticket_key
    from alertgate.rules.service import RulesService
    from alertgate.settings import load_settings
    from alertgate.work_queue import dispatch_job, enqueue_all
    from run import alert

    settings = load_settings(env)
    client = Redis.from_url(redis_url)
    await layout.ensure(client)
    rules = RulesService(ROOT / "config", 1800.0)
    store = DedupStore(client, 86_400, 30 * 86_400, {"alertmanager": True})
    ids: list[str] = []
    for offset in range(0, jobs, 200):
        now = datetime.now(timezone.utc)
        body = json.dumps({"version": "4", "alerts": [alert(n, 0, n) for n in range(offset, min(jobs, offset + 200))]})
        parsed, policies, _ = classify(parse(body.encode(), SourceContext(now, ("instance",))), rules, now)
        ids += [result.ticket_id for result in await store.ingest(parsed, policies, now)]
    pipe = client.pipeline(transaction=False)
    for ticket_id in ids:
        pipe.hset(ticket_key(ticket_id), "channels", json.dumps([channel]))
    await pipe.execute()
    await client.aclose()
    if intents:
        return ids
    queue_redis = sync_redis.Redis.from_url(redis_url)
    for offset in range(0, jobs, 500):
        enqueue_all(queue_redis, [dispatch_job(t, "new", settings.notify.max_attempts) for t in ids[offset:offset + 500]])
    return ids


def verify(redis_url: str, ids: list[str]) -> tuple[int, int]:
    """(masters dispatched, incident notices marked sent)."""
    import redis as sync_redis

    from alertgate.keys import ticket_key
    client = sync_redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for ticket_id in ids:
        pipe.hget(ticket_key(ticket_id), "dispatched_for")
    dispatched = sum(value is not None for value in pipe.execute())
    sent = sum(1 for _ in client.scan_iter("ag:sent:*:incident:*", count=1000))
    return dispatched, sent


def child(kind: str) -> int:
    """The burst worker, in its own process (so that its CPU and its forks' are counted alone)."""
    import redis as sync_redis
    from rq import worker as rq_worker
    from rq.serializers import JSONSerializer

    from alertgate.observability.logging import configure_logging
    from alertgate.settings import load_settings
    from alertgate.work_queue import QUEUES, queue
    from alertgate.workers.context import set_context

    settings = load_settings(dict(os.environ))
    configure_logging(settings.log_level)   # (as ``alertgate worker`` does: JSON lines, to the worker's log)
    set_context(settings)
    import alertgate.workers.jobs  # noqa: F401  (before any fork, as create_worker does)
    connection = sync_redis.Redis.from_url(os.environ["ALERTGATE_REDIS_URL"])
    if kind == "direct":   # the jobs' own code, without RQ: the floor a batch consumer starts from
        return _profiled(lambda: asyncio.run(_direct(connection)))
    if kind == "intents":
        live = os.environ.get("DISPATCH_LIVE") == "1"
        return _profiled(lambda: asyncio.run(_intents(settings, connection, live)))
    worker_class = getattr(rq_worker, CLASSES[kind])
    worker = worker_class([queue(name, connection) for name in QUEUES], connection=connection,
                          serializer=JSONSerializer)
    return _profiled(lambda: worker.work(burst=True, logging_level="WARNING"))


def _profiled(run) -> int:
    """``run()``; with DISPATCH_PROFILE=<file>, under cProfile, its statistics written there."""
    profile = os.environ.get("DISPATCH_PROFILE")
    if profile:
        import cProfile
        cProfile.runctx("run()", globals(), {"run": run}, profile)
    else:
        run()
    return 0


async def _direct(connection) -> int:
    """Every queued dispatch, in one event loop, without RQ (its jobs are read, and left)."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from alertgate.work_queue import DISPATCH
    from alertgate.workers import jobs
    from alertgate.workers.context import context
    for raw in connection.lrange(f"rq:queue:{DISPATCH}", 0, -1):
        job = Job.fetch(raw.decode(), connection=connection, serializer=JSONSerializer)
        await jobs._dispatch(context(), *job.args)
    return 0


async def _intents(settings, connection, live: bool = False) -> int:
    """What the worker's dispatcher does, until the streams are empty; ``live``: its ``run`` loop
    (as ``alertgate worker`` runs it) until SIGTERM."""
    import signal

    from alertgate.dedup import layout
    from alertgate.runtime.connections import connect_state
    from alertgate.workers.context import context
    from alertgate.workers.jobs import intent_consumer

    state = connect_state(settings, fail_fast=False)
    await layout.ensure(state)
    consumer = intent_consumer(context(), state, connection)
    started = time.process_time()   # (the CPU of the work alone: the interpreter's start left out)
    try:
        if not live:
            return await consumer.drain()
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        await consumer.run(lambda: not stopping)
        return 0
    finally:
        Path(os.environ["DISPATCH_CPU_FILE"]).write_text(repr(time.process_time() - started))


def held_back(redis_url: str) -> list[tuple[str, dict]]:
    """The seeded intents, taken out of their streams (before the consumer starts)."""
    from alertgate.keys import intents_keys
    client = redis.Redis.from_url(redis_url)
    held = []
    for stream in intents_keys():
        held += [(stream, fields) for _, fields in client.xrange(stream)]
        client.delete(stream)
    return held


def trickle(redis_url: str, held: list[tuple[str, dict]], rate: float) -> None:
    """The intents written back ``rate`` a second (every 2 ms), as a storm's masters arrive."""
    client = redis.Redis.from_url(redis_url)
    started, sent = time.monotonic(), 0
    while sent < len(held):
        due = min(len(held), int((time.monotonic() - started) * rate) + 1)
        pipe = client.pipeline(transaction=False)
        for stream, fields in held[sent:due]:
            pipe.xadd(stream, fields)
        pipe.execute()
        sent = due
        time.sleep(0.002)


def measure(kind: str, jobs: int, rate: float = 0.0, channel: str = "log", delay: float = 0.0) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"alertgate-dispatch-{kind}-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    sink = {"email": Sink, "webhook": HookSink}[channel](delay) if channel != "log" else None
    try:
        env = settings_env(server.url, work, sink) | {"DISPATCH_CPU_FILE": str(work / "cpu")}
        ids = asyncio.run(seed(server.url, jobs, env, intents=kind == "intents", channel=channel))
        client = redis.Redis.from_url(server.url)
        memory_before = client.info("memory")["used_memory"]
        redis_before = _redis_cpu(client.info("cpu"))
        client.config_resetstat()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        if rate:   # (the consumer's run loop, the intents arriving at ``rate``; stopped once all are done)
            held = held_back(server.url)
            profiler = os.environ.get("DISPATCH_PROFILER", "").split()
            child = subprocess.Popen([*profiler, sys.executable, __file__, "--child", kind], env=env | {"DISPATCH_LIVE": "1"},
                                     stdout=(work / "worker.log").open("wb"), stderr=subprocess.STDOUT)
            time.sleep(1.0)   # (started, its groups created, reading)
            trickle(server.url, held, rate)
            from alertgate.keys import intents_keys
            while child.poll() is None and sum(client.xlen(stream) for stream in intents_keys()):
                time.sleep(0.1)   # (an intent is deleted once done: empty streams, all done)
            child.send_signal(signal.SIGINT if profiler else signal.SIGTERM)   # (py-spy writes on SIGINT)
            child.wait(30)
        else:
            subprocess.run([*os.environ.get("DISPATCH_PROFILER", "").split(), sys.executable, __file__, "--child", kind],
                           env=env, check=True,
                           stdout=(work / "worker.log").open("wb"), stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        dispatched, sent = verify(server.url, ids)
        redis_cpu = _redis_cpu(client.info("cpu")) - redis_before
        commands = client.info("commandstats")
        memory = client.info("memory")["used_memory"] - memory_before
        working = float((work / "cpu").read_text()) if (work / "cpu").exists() else None
    finally:
        server.stop()
        if sink is not None:
            sink.stop()
    return {"class": CLASSES[kind], "jobs": jobs, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "per_second": round(jobs / seconds, 1), "per_cpu_second": round(jobs / max(cpu, 1e-9), 1),
            "working_us_per_dispatch": round(working * 1e6 / jobs) if working is not None else "-",
            "redis_cpu_seconds": round(redis_cpu, 2), "redis_us_per_dispatch": round(redis_cpu * 1e6 / jobs),
            "commands": {name.removeprefix("cmdstat_"): {"calls_per_dispatch": round(stat["calls"] / jobs, 2),
                                                         "us_per_dispatch": round(stat["usec"] / jobs, 1)}
                         for name, stat in commands.items()},
            "bytes_per_dispatch": round(memory / jobs), "dispatched": dispatched, "notices": sent,
            "once": dispatched == jobs == sent and (sink is None or sink.received == jobs)}


def _redis_cpu(cpu: dict) -> float:
    """Redis's main thread's CPU seconds (the dispatch's commands run there)."""
    return cpu["used_cpu_sys_main_thread"] + cpu["used_cpu_user_main_thread"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--classes", default="intents,worker")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="intents only: the masters' intents arrive this many a second while the consumer runs "
                             "its live loop (the seconds and per-second columns are then the trickle's)")
    parser.add_argument("--commands", action="store_true", help="also each Redis command's calls and µs per dispatch")
    parser.add_argument("--channel", choices=("log", "email", "webhook"), default="log",
                        help="the notices' channel: log (the worker's own cost), e-mail to an SMTP server in this "
                             "process (aiosmtpd), or webhook to an HTTP server in this process")
    parser.add_argument("--receiver-delay", type=float, default=0.0,
                        help="seconds the SMTP or HTTP receiver takes per notice (a remote relay, a chat robot)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    rows = [measure(kind, args.jobs, args.rate if kind == "intents" else 0.0, args.channel, args.receiver_delay)
            for kind in args.classes.split(",")]
    header = ("class", "jobs", "seconds", "per_second", "cpu_seconds", "per_cpu_second", "working_us_per_dispatch",
              "redis_cpu_seconds",
              "redis_us_per_dispatch", "bytes_per_dispatch", "once")
    print("  ".join(f"{h:>16}" for h in header))
    for row in rows:
        print("  ".join(f"{str(row[h]):>16}" for h in header))
    if args.commands:
        for row in rows:
            print(f"\n{row['class']}: Redis commands per dispatch (calls, µs)")
            for name, stat in sorted(row["commands"].items(), key=lambda item: -item[1]["us_per_dispatch"]):
                print(f"  {name:>24}  {stat['calls_per_dispatch']:>8}  {stat['us_per_dispatch']:>8}")
    return 0 if all(row["once"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
