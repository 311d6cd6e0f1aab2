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
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.run")


def prepare_metrics_dir(path: Path) -> str:
    """A fresh prometheus multiprocess directory (stale files would add old counts)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path.resolve())


def run(settings: Settings) -> int:
    data_dir = Path(settings.data_dir)
    env = dict(os.environ)
    redis_server = None
    if not settings.redis_url:
        redis_server = EmbeddedRedis(data_dir / "redis")
        env["ALERTGATE_REDIS_URL"] = redis_server.start()
        log.info("embedded_redis_started", url=redis_server.url, binary=redis_server.binary)
    env["PROMETHEUS_MULTIPROC_DIR"] = prepare_metrics_dir(data_dir / "metrics")

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    command = [sys.executable, "-m", "alertgate"]
    children = {
        name: subprocess.Popen(command + [name], env=env, start_new_session=True)
        for name in ("serve", "worker")
    }
    log.info("alertgate_running", host=settings.host, port=settings.port,
             pids={name: child.pid for name, child in children.items()})
    exit_code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    log.error("child_exited", process=name, returncode=child.returncode)
                    exit_code, stopping = 1, True
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
