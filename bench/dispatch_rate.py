"""Dispatches per second per core, by RQ worker class and by the intents consumer (issue #27).

    .venv/bin/python bench/dispatch_rate.py [--jobs 2000] [--classes intents,worker,simple,spawn,direct]

For each class: a fresh embedded Redis, ``--jobs`` P3 masters as the gateway stores them (routed
to a group, the log channel: the worker's own cost, no SMTP), one dispatch job each, then one
burst worker of that class drains the queue in a child process. Reported: wall seconds, CPU
seconds of the worker and every process it forked (waited for), dispatches per second and per
CPU-second (per core), the Redis memory the dispatch left per master (its timers, its marks; RQ's
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
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

CLASSES = {"worker": "Worker", "simple": "SimpleWorker", "spawn": "SpawnWorker", "direct": "no RQ (one loop)",
           "intents": "intents consumer"}


def settings_env(redis_url: str, work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTGATE_")}
    env.update(ALERTGATE_REDIS_URL=redis_url, ALERTGATE_CONFIG_DIR=str(ROOT / "config"),
               ALERTGATE_LOG_LEVEL="info", ALERTGATE_DATA_DIR=str(work / "var"))
    return env


async def seed(redis_url: str, jobs: int, env: dict, intents: bool = False) -> list[str]:
    """``jobs`` masters, stored as a new master is, and their dispatch jobs queued (or, with
    ``intents``, their intents written in their shards' streams)."""
    import redis as sync_redis
    from redis.asyncio import Redis

    from alertgate.dedup import layout
    from alertgate.keys import intents_key, tag_of
    from alertgate.rules.tables import Tables
    from alertgate.settings import load_settings
    from alertgate.tickets.lifecycle import initial_sla
    from alertgate.tickets.model import Ticket
    from alertgate.tickets.store import TicketStore
    from alertgate.work_queue import dispatch_job, enqueue_all

    settings = load_settings(env)
    client = Redis.from_url(redis_url)
    await layout.ensure(client)
    store, now, minutes = TicketStore(client), datetime.now(timezone.utc), Tables().sla_minutes[3]
    ids = []
    for n in range(jobs):
        ticket = Ticket(id="", ci=f"host{n}", symptom="DiskFull", title="DiskFull", priority=3, route_group="network",
                        channels=["log"], sla=initial_sla(minutes, now), created_at=now, updated_at=now)
        ids.append((await store.create(ticket)).id)
        if intents:
            await client.xadd(intents_key(tag_of(ids[-1])), {"ticket": ids[-1], "work": "new"})
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
        return _profiled(lambda: asyncio.run(_intents(settings, connection)))
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


async def _intents(settings, connection) -> int:
    """What the worker's dispatcher does, until the streams are empty."""
    from alertgate.dedup import layout
    from alertgate.runtime.connections import connect_state
    from alertgate.workers.context import context
    from alertgate.workers.jobs import intent_consumer

    state = connect_state(settings, fail_fast=False)
    await layout.ensure(state)
    return await intent_consumer(context(), state, connection).drain()


def measure(kind: str, jobs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"alertgate-dispatch-{kind}-"))
    server = EmbeddedRedis(work / "redis", port=free_port())
    server.start()
    try:
        env = settings_env(server.url, work)
        ids = asyncio.run(seed(server.url, jobs, env, intents=kind == "intents"))
        memory_before = redis.Redis.from_url(server.url).info("memory")["used_memory"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, __file__, "--child", kind], env=env, check=True,
                       stdout=(work / "worker.log").open("wb"), stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        dispatched, sent = verify(server.url, ids)
        redis_cpu = redis.Redis.from_url(server.url).info("cpu")
        memory = redis.Redis.from_url(server.url).info("memory")["used_memory"] - memory_before
    finally:
        server.stop()
    return {"class": CLASSES[kind], "jobs": jobs, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "per_second": round(jobs / seconds, 1), "per_cpu_second": round(jobs / max(cpu, 1e-9), 1),
            "redis_cpu_seconds": round(redis_cpu["used_cpu_sys_main_thread"] + redis_cpu["used_cpu_user_main_thread"], 2),
            "bytes_per_dispatch": round(memory / jobs), "dispatched": dispatched, "notices": sent,
            "once": dispatched == jobs == sent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--classes", default="intents,worker")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    rows = [measure(kind, args.jobs) for kind in args.classes.split(",")]
    header = ("class", "jobs", "seconds", "per_second", "cpu_seconds", "per_cpu_second", "redis_cpu_seconds",
              "bytes_per_dispatch", "once")
    print("  ".join(f"{h:>16}" for h in header))
    for row in rows:
        print("  ".join(f"{str(row[h]):>16}" for h in header))
    return 0 if all(row["once"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
