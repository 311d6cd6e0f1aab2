"""The sweep's clock, in a process of each worker's own rather than in the queue (issue #28).

It used to be a job that queued its own next run: one failed sweep, or a queue Redis that
restarted empty, ended the chain for good. Now every ``alertgate worker`` starts this process.
Every ``sweep_interval`` one of them (the holder of a short lock in the state Redis) sweeps; a
sweep that fails is logged and the next interval sweeps again, whatever the queue Redis does.

A process, not a thread, started by the worker (``workers/worker.Companions``, which says why).
"""

from __future__ import annotations

import os
import socket
import time

import structlog
from redis.exceptions import RedisError

from alertgate.keys import SWEEP_LOCK
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.sweeper")


def sweep_forever(settings: Settings, parent: int) -> None:
    """Until the worker that started it is gone."""
    from alertgate.dedup import layout
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
    set_context(settings)
    heartbeats, reconcile, maintenance, push = HeartbeatSweep(), ReconcileSweep(), MaintenanceRelease(), MaintenancePush()
    correlation = CorrelationSweep()
    interval = float(settings.sweep_interval)
    me = f"{socket.gethostname()}:{parent}"
    state = connect_state_sync(settings)
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            return
        try:
            # one sweep per interval among all workers; the lock lapses before the next
            layout.ensure_sync(state)
            if not state.set(SWEEP_LOCK, me, nx=True, px=max(1, int(interval * 900))):
                continue
        except (RedisError, OSError) as exc:
            log.error("sweep_failed", error=type(exc).__name__, message=str(exc)[:300])
            continue
        # Each part on its own: a queue Redis that is down must not stop the heartbeats' clock.
        for part, sweep in (("work", lambda: jobs.sweep(interval)), ("heartbeats", heartbeats.run),
                            ("maintenance", maintenance.run), ("maintenance push", push.run),
                            ("correlation", correlation.run),
                            ("reconcile", lambda: reconcile.run(state))):
            try:
                log.info("swept", part=part, result=sweep())
            except (RedisError, OSError) as exc:
                log.error("sweep_failed", part=part, error=type(exc).__name__, message=str(exc)[:300])
            except Exception as exc:  # a bug in one sweep must not end the clock
                log.exception("sweep_failed", part=part, error=type(exc).__name__)
