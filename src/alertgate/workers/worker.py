"""The RQ worker factory: ``create_worker(settings, redis)`` listening on alertgate's queues."""

from __future__ import annotations


import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable

import structlog
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from alertgate.dedup import layout
from alertgate.runtime.connections import RedisTooOld, connect_queue_redis, connect_state_sync, require_recent_sync
from alertgate.settings import Settings
from alertgate.workers.context import context, set_context
from alertgate.work_queue import QUEUES, queue

# After a worker dies, another worker's maintenance pass takes the scheduler over once the dead
# one's lock expires (RQ: interval + 60 s). The pass runs only when the worker wakes from waiting
# for a job (after worker_ttl - 15 s when idle) and at most every maintenance_interval: RQ's
# defaults (420 s, 10 min) make that failover take up to ~17 minutes; ours take about 60–80 s.
MAINTENANCE_INTERVAL = 15
WORKER_TTL = 35
COMMAND_WAKE = 1.0   # s: the longest a worker's shutdown waits for its command listener
log = structlog.get_logger("alertgate.worker")


class Companions:
    """The processes ``alertgate worker`` runs beside RQ's work loop: the sweeper and the intents
    dispatcher. One that died (killed, out of memory) is started again.

    Processes, not threads: RQ forks a work horse per job, and a fork while a thread of the worker
    held a module's import lock left that horse waiting for it forever (seen in the fault test).
    Each is spawned (a fresh interpreter) with the settings and the worker's pid, and returns once
    the worker is gone."""

    def __init__(self, settings: Settings) -> None:
        from alertgate.workers.dispatcher import dispatch_forever
        from alertgate.workers.sweeper import sweep_forever

        self._targets: dict[str, Callable[[Settings, int], None]] = {"sweeper": sweep_forever,
                                                                     "dispatcher": dispatch_forever}
        self._settings = settings
        self._processes = {name: self._start(name) for name in self._targets}

    def _start(self, name: str) -> multiprocessing.Process:
        process = multiprocessing.get_context("spawn").Process(
            target=_companion, args=(self._targets[name], self._settings, os.getpid()), name=f"alertgate-{name}",
            daemon=True)
        process.start()
        return process

    def keep_alive(self) -> None:
        for name, process in self._processes.items():
            if not process.is_alive():
                log.error("companion_restarted", process=name, exitcode=process.exitcode)
                self._processes[name] = self._start(name)

    def stop(self) -> None:
        for process in self._processes.values():
            process.terminate()


def _companion(target: Callable[[Settings, int], None], settings: Settings, parent: int) -> None:
    """A companion's process: ended with the worker too (it also returns once it sees the worker
    gone, but the sweeper looks only once per ``sweep_interval``)."""
    _end_with_parent(parent)()
    target(settings, parent)


class AlertgateWorker(Worker):
    """RQ's worker, which also looks after its companions, in RQ's own maintenance pass (every
    ``MAINTENANCE_INTERVAL`` in the main loop: no thread to be forked with a work horse)."""

    companions: Companions | None = None

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.companions is not None:
            self.companions.keep_alive()

    def subscribe(self) -> None:
        """RQ's command channel (shutdown, stop or kill a job), its listener waking each second
        rather than each minute. RQ unsubscribes, then stops the listener, counting on the reply
        to wake it; a listener that reads the reply before it is told to stop waits for a new
        subscription for its whole ``sleep_time``, and redis-py 8.2's ``stop()`` waits for it:
        RQ's 60 s made a worker's shutdown, and every burst (tests), take a minute now and
        then (seen in CI; 2 of 150 bursts on a loaded machine)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_WAKE, daemon=True, exception_handler=self._pubsub_exception_handler)


def create_worker(settings: Settings, redis: Redis) -> AlertgateWorker:
    set_context(settings)
    state = connect_state_sync(settings)
    require_recent_sync(state)
    layout.ensure_sync(state)  # read before any work horse is forked
    # Imported before any fork: a horse would otherwise import the jobs and everything they use
    # once per job (measured: 170 ms of CPU per dispatch; bench/dispatch_rate.py).
    import alertgate.workers.jobs  # noqa: F401
    return AlertgateWorker([queue(name, redis) for name in QUEUES], connection=redis, serializer=JSONSerializer,
                           maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL,
                           exception_handlers=[log_job_failure])


def run_worker(settings: Settings) -> int:
    """``alertgate worker``: RQ's work loop, started again whenever it ends on a fault (a queue
    Redis that died while a job ran made RQ log "found an unhandled exception, quitting" and
    return: issue #28), until a signal asks it to stop. The sweep (sweeper.py) and the intents
    dispatcher (intents.py) run beside it."""
    set_context(settings)
    os.register_at_fork(after_in_child=_end_with_parent(os.getpid()))
    companions = Companions(settings)
    delay = 1.0
    try:
        while True:
            worker = None
            try:
                connection = connect_queue_redis(settings)
                _forget_legacy_sweep(connection)
                worker = create_worker(settings, connection)
                worker.companions = companions
                worker.work(with_scheduler=True, logging_level=settings.log_level.upper())
                delay = 1.0
            except RedisError as exc:
                log.error("redis_unavailable", error=type(exc).__name__, message=str(exc)[:300], retry_in=delay)
            except RedisTooOld as exc:   # (logged where it was found)
                print(f"alertgate: {exc}", file=sys.stderr)
                return 2
            if worker is not None and _asked_to_stop(worker):
                return 0
            log.warning("worker_loop_restarting", retry_in=delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
    finally:
        companions.stop()


def work_burst(settings: Settings, redis: Redis) -> int:
    """Everything there is to do now, then return (tests, benchmarks): due timers and the intents
    streams, then RQ's queues and scheduled jobs, until both are empty (a dispatch can queue a job). Returns the
    intents worked."""
    import asyncio

    from alertgate.runtime.connections import connect_state
    from alertgate.workers.jobs import intent_consumer

    ctx = set_context(settings)

    async def drain() -> int:
        state = connect_state(settings, fail_fast=False)
        try:
            await layout.ensure(state)
            return await intent_consumer(ctx, state, redis).drain()
        finally:
            await state.aclose()

    total = 0
    while True:
        worked = asyncio.run(drain())
        total += worked
        create_worker(settings, redis).work(burst=True, with_scheduler=True)
        if not worked:
            return total


def _end_with_parent(parent: int) -> Callable[[], None]:
    """For what RQ forks from the worker (its scheduler, each work horse): a SIGTERM when the worker
    dies (Linux ``PR_SET_PDEATHSIG``). A worker SIGKILLed (the OOM killer) otherwise left its
    scheduler running for good, beside the next worker's (seen in the end-to-end tests)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl   # (looked up once; a fork inherits it)
    except (OSError, AttributeError):   # (not Linux: as before)
        return lambda: None

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:   # (gone before the request took hold)
            os.kill(os.getpid(), signal.SIGTERM)
    return in_child


PR_SET_PDEATHSIG = 1


def _asked_to_stop(worker: Worker) -> bool:
    """A signal asked for a (warm) shutdown: RQ notes its date; an idle worker has no other mark."""
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


def _forget_legacy_sweep(connection: Redis) -> None:
    """Earlier versions kept the sweep as a job that queued itself again; the thread does it now."""
    try:
        Job.fetch("alertgate-sweep", connection=connection, serializer=JSONSerializer).delete()
    except NoSuchJobError:
        pass


def log_job_failure(job: Job, exc_type: type, exc_value: BaseException, _traceback: object) -> bool:
    """Every failed attempt in the worker's log with its cause (RQ keeps it only in the job); the
    last attempt is counted in ``alertgate_jobs_failed_total`` and stays in RQ's failed registry."""
    final = not job.retries_left
    log.error("job_gave_up" if final else "job_failed", job_id=job.id, function=job.func_name,
              error=exc_type.__name__, message=str(exc_value)[:500], retries_left=job.retries_left)
    if final:
        function = (job.func_name or "unknown").rpartition(".")[2]
        context().metrics.jobs_failed.labels(function).inc()
    return True  # RQ's own handling (retry or the failed registry) goes on


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """The worker's own /metrics on ``host:port``: every job's counts (SLA breaches, escalations,
    notices), for a Prometheus that cannot read the gateway's metric files (compose, other hosts)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    server, _ = start_http_server(port, addr=host, registry=registry)
    # RQ forks its scheduler and a work horse per job, and a fork inherits this listening socket:
    # a worker killed with SIGKILL left its scheduler holding the port, and the worker restarted
    # in its place could not bind it ("Address already in use": seen in the heartbeat e2e test).
    os.register_at_fork(after_in_child=server.socket.close)
