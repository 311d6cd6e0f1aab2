"""``alertgate run``: embedded Redis (unless one is configured), the gateway and a worker.

Children run in their own sessions so that Ctrl-C reaches only this supervisor, which then stops
them in order: gateway and worker first (they drain), Redis last (it flushes its AOF).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog

from alertgate.runtime.embedded_redis import EmbeddedRedis
from alertgate.runtime.instance import AlreadyRunning, InstanceLock, RunningInstance, port_in_use
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.run")
RESTART_DELAY = 2.0   # at least this long between two starts of a process that keeps dying
# A gateway that dies this soon after its start could not start (its error is in the log above):
# the run ends. One that dies later (killed, out of memory) is started again, as the worker is.
GATEWAY_START_GRACE = 5.0


def prepare_metrics_dir(path: Path) -> str:
    """A fresh prometheus multiprocess directory (stale files would add old counts)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path.resolve())


def run(settings: Settings) -> int:
    """Refuses (exit 2) before touching anything when another run holds the data directory or
    the gateway's port is taken."""
    data_dir = Path(settings.data_dir)
    lock = InstanceLock(data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"alertgate: {exc}", file=sys.stderr)
        return 2
    try:
        if port_in_use(settings.host, settings.port):
            print(f"alertgate: {settings.host}:{settings.port} is already in use; stop what listens there "
                  "or set ALERTGATE_PORT", file=sys.stderr)
            return 2
        return _run_locked(settings, data_dir, lock)
    finally:
        lock.release()


def _run_locked(settings: Settings, data_dir: Path, lock: InstanceLock) -> int:
    env = dict(os.environ)
    redis_server = None
    if not settings.redis_url:
        redis_server = EmbeddedRedis(data_dir / "redis")
        env["ALERTGATE_REDIS_URL"] = redis_server.start(
            on_loading=lambda progress: log.info("embedded_redis_loading", **progress))
        log.info("embedded_redis_started", url=redis_server.url, binary=redis_server.binary)
    lock.publish(RunningInstance(os.getpid(), settings.host, settings.port, env["ALERTGATE_REDIS_URL"]))
    env["PROMETHEUS_MULTIPROC_DIR"] = prepare_metrics_dir(data_dir / "metrics")

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    command = [sys.executable, "-m", "alertgate"]

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(command + [name], env=env, start_new_session=True)

    children = {name: start(name) for name in ("serve", "worker")}
    log.info("alertgate_running", host=settings.host, port=settings.port,
             pids={name: child.pid for name, child in children.items()})
    exit_code = 0
    started = dict.fromkeys(children, time.monotonic())
    try:
        while not stopping:
            for name, child in list(children.items()):
                if child.poll() is None:
                    continue
                lived = time.monotonic() - started[name]
                if name == "serve" and lived < GATEWAY_START_GRACE:
                    log.error("child_exited", process=name, returncode=child.returncode)
                    exit_code, stopping = 1, True
                    break
                # The worker's jobs wait in Redis, and senders retry while no gateway answers.
                log.error("child_exited_restarting", process=name, returncode=child.returncode)
                time.sleep(max(0.0, RESTART_DELAY - lived))
                children[name], started[name] = start(name), time.monotonic()
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for name, child in children.items():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("child_killed", process=name)
                child.kill()
                child.wait()
        if redis_server is not None:
            redis_server.stop()
        log.info("alertgate_stopped")
    return exit_code
