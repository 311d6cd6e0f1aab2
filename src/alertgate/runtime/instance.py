"""One ``alertgate run`` per data directory, and where the running one can be found.

The first ``run`` takes an exclusive lock on ``<data_dir>/run.lock`` (held until it exits, even by
a crash: the kernel drops it) and writes ``<data_dir>/run.json`` with its pid, gateway address and
Redis URL. A second ``run`` on the same directory is refused before it touches anything, naming
the first; the CLI's other commands read ``run.json`` to reach the embedded Redis.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

LOCK_FILE = "run.lock"
INFO_FILE = "run.json"


class AlreadyRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class RunningInstance:
    pid: int
    host: str
    port: int
    redis_url: str

    def describe(self) -> str:
        return f"pid {self.pid}, gateway on {self.host}:{self.port}, Redis {self.redis_url}"


class InstanceLock:
    """The data directory's lock, held for the life of this process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            running = read_running(self.data_dir)
            who = running.describe() if running else "its details are not written yet"
            raise AlreadyRunning(f"another `alertgate run` uses the data directory {self.data_dir.resolve()} "
                                 f"({who}); stop it first, or give this one its own ALERTGATE_DATA_DIR") from None
        self._file = handle

    def publish(self, instance: RunningInstance) -> None:
        path = self.data_dir / INFO_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(instance)))
        os.replace(temporary, path)

    def release(self) -> None:
        (self.data_dir / INFO_FILE).unlink(missing_ok=True)
        if self._file is not None:
            self._file.close()
            self._file = None


def read_running(data_dir: Path) -> RunningInstance | None:
    """The ``alertgate run`` holding this data directory, or None when none is running."""
    lock = data_dir / LOCK_FILE
    if not lock.exists():
        return None
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: someone is running
        else:
            return None  # nobody holds it: run.json, if any, is left from a crash
    try:
        return RunningInstance(**json.loads((data_dir / INFO_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def port_in_use(host: str, port: int) -> bool:
    """Whether the gateway's address is already taken (checked before anything starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
