"""The sweep's clocks, in a process of each worker's own rather than in the queue (issue #28).

It used to be a job that queued its own next run: one failed sweep, or a queue Redis that
restarted empty, ended the chain for good. Now every ``alertgate worker`` starts this process.

Each part of the sweep (the work owed, heartbeats, maintenance release and push, correlation,
reconciliation) keeps its own clock, in a thread of this process, and its own lock in the state
Redis: every ``sweep_interval`` one worker (the holder of the part's lock) runs that part. A part
that takes long delays only itself. They used to run one after another, so a release of 100,000
held alerts (28 s) or a reconciliation waiting on a slow Alertmanager (up to its ``timeout`` per
URL) held back the heartbeats' clock, which promises an expiry within one ``sweep_interval``.
A part that fails is logged and the next interval runs it again, whatever the queue Redis does.

A process, not a thread of the worker, started by the worker (``workers/worker.Companions``,
which says why). Its own threads are safe: this process forks nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import structlog
from redis.exceptions import RedisError

from alertgate.keys import sweep_lock
from alertgate.runtime.connections import find_again_sync
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.sweeper")
PARENT_CHECK = 1.0   # s: how often the process looks whether its worker is gone
LOCK_SHARE = 0.9     # of the interval: a part's lock lapses before its next tick ...
RENEW_SHARE = 0.3    # ... unless the part still runs: its worker renews it this often
# The renewal compares and extends in one step: a lock that lapsed between a GET and a PEXPIRE,
# and that another worker took meanwhile, would otherwise be extended for that other worker.
RENEW_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def sweep_forever(settings: Settings, parent: int) -> None:
    """Until the worker that started it is gone."""
    from alertgate.observability.logging import configure_logging
    from alertgate.runtime.connections import connect_state_sync
    from alertgate.workers import jobs
    from alertgate.workers.context import set_context
    from alertgate.workers.correlation_sweep import CorrelationSweep
    from alertgate.workers.heartbeat_sweep import HeartbeatSweep
    from alertgate.workers.maintenance_push import MaintenancePush
    from alertgate.workers.maintenance_release import MaintenanceRelease
    from alertgate.workers.reconcile_sweep import ReconcileSweep

    configure_logging(settings.log_level)
    metrics = set_context(settings).metrics
    interval = float(settings.sweep_interval)
    reconcile = ReconcileSweep()
    parts: dict[str, Callable[[], str]] = {
        "work": lambda: jobs.sweep(interval), "heartbeats": HeartbeatSweep().run,
        "maintenance": MaintenanceRelease().run, "maintenance push": MaintenancePush().run,
        "correlation": CorrelationSweep().run, "reconcile": lambda: reconcile.run(clients["reconcile"])}
    # (each clock with a client of its own: no part waits on another's; the reconciliation's run
    # uses its clock's)
    clients = {part: connect_state_sync(settings) for part in parts}
    stop, me = threading.Event(), f"{socket.gethostname()}:{parent}"
    metrics.sweep_interval.set(interval)

    def succeeded(part: str) -> None:
        metrics.sweep_succeeded.labels(part).set(time.time())
    for part, run in parts.items():
        clock = PartClock(clients[part], me, interval, stop, succeeded=succeeded)
        threading.Thread(target=clock.keep, args=(part, run), name=f"sweep-{part}", daemon=True).start()
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK)
    stop.set()


class PartClock:
    """Runs one part every ``interval`` from its first run (a run that took longer starts the next
    at once), in the worker that holds the part's lock for this interval, until ``stop`` is set.
    The lock is renewed while its part runs, so a run longer than the interval (a release of very
    many held alerts) is not started again by another worker meanwhile."""

    def __init__(self, state, me: str, interval: float, stop: threading.Event,
                 now: Callable[[], float] = time.monotonic,
                 succeeded: Callable[[str], None] = lambda part: None) -> None:
        self._state, self._me, self._interval, self._stop, self._now = state, me, interval, stop, now
        self._succeeded = succeeded   # (each run that ended without an error: the metric)
        self._renew_if_mine = state.register_script(RENEW_IF_MINE)

    def keep(self, part: str, run: Callable[[], str]) -> None:
        due = self._now() + self._interval
        while not self._stop.wait(max(0.0, due - self._now())):
            due = max(due + self._interval, self._now())
            self.once(part, run)

    def once(self, part: str, run: Callable[[], str]) -> None:
        from alertgate.dedup import layout

        try:
            layout.ensure_sync(self._state)
            # one run per interval among all workers; the lock lapses before the next
            if not self._state.set(sweep_lock(part), self._me, nx=True, px=self._lock_ms()):
                return
        except (RedisError, OSError) as exc:
            log.error("sweep_failed", part=part, error=type(exc).__name__, message=str(exc)[:300])
            find_again_sync(self._state, exc)
            return
        started, done = time.monotonic(), threading.Event()
        threading.Thread(target=self._renew, args=(part, done), name=f"sweep-{part}-lock", daemon=True).start()
        try:
            result = run()
            log.info("swept", part=part, result=result, seconds=round(time.monotonic() - started, 3))
            self._succeeded(part)
        except (RedisError, OSError) as exc:
            log.error("sweep_failed", part=part, error=type(exc).__name__, message=str(exc)[:300])
            find_again_sync(self._state, exc)
        except Exception as exc:  # a bug in one part must not end its clock
            log.exception("sweep_failed", part=part, error=type(exc).__name__)
        finally:
            done.set()

    def _lock_ms(self) -> int:
        return max(1, int(self._interval * LOCK_SHARE * 1000))

    def _renew(self, part: str, done: threading.Event) -> None:
        """While the part runs, its lock stays this worker's (a lock another worker took after a
        Redis fault is left to it: both runs are safe, each part's work being idempotent)."""
        while not done.wait(self._interval * RENEW_SHARE):
            self.renew(part)

    def renew(self, part: str) -> bool:
        """Extends the part's lock if this worker still holds it; whether it did."""
        try:
            return bool(self._renew_if_mine(keys=[sweep_lock(part)], args=[self._me, self._lock_ms()]))
        except (RedisError, OSError):
            return False   # (the run itself meets the fault, and logs it)
