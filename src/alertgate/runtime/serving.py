"""Serving an ASGI app with uvicorn in N processes that share the load evenly.

uvicorn's own multi-process mode binds one socket in the parent and every process accepts from
it: one accept queue, and the process that wakes first accepts every connection pending. The 32
connections a load test opens at once, or the few that Alertmanager keeps alive, could all land
on one process while the other idled, at half the throughput (measured in bench/README.md). On Linux each process here listens on a socket of its own, bound to
the same port with ``SO_REUSEPORT``, and the kernel spreads new connections over them by their
address hash (nginx's ``reuseport``; uvicorn's PR #2472 proposes the same for uvicorn).

Before the processes start, the parent binds the port once without ``SO_REUSEPORT`` and lets it
go: a port in use fails the start at once, and a second alertgate on the same port cannot join
the first one's sockets (a plain bind fails against them).

The parent (``Supervisor``) starts the processes, restarts one that dies, and on SIGINT or
SIGTERM stops them all (each finishes its requests in flight, uvicorn's graceful shutdown) and
exits 0. A process that dies before it ever served stops the start: exit 3, as uvicorn's.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.synchronize import Event

import structlog
import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = structlog.get_logger("alertgate.serve")

HTTP_PROTOCOL = "alertgate.runtime.http_protocol:BoundedHeadHttpToolsProtocol"  # 431 past 64 KiB of head
_spawn = multiprocessing.get_context("spawn")  # (a fresh interpreter per process, as uvicorn's)
multiprocessing.allow_connection_pickling()  # (a shared socket handed to the processes)


def config_for(app: str, host: str, port: int, workers: int, **settings) -> uvicorn.Config:
    """The server settings of the gateway (the benchmark serves its ceiling with them too)."""
    return uvicorn.Config(
        app, factory=True, host=host, port=port, workers=workers,
        access_log=False, log_config=None, timeout_graceful_shutdown=10,
        http=HTTP_PROTOCOL, h11_max_incomplete_event_size=64 * 1024, **settings,
    )


def serve(config: uvicorn.Config) -> int:
    """Serve until SIGINT or SIGTERM; the exit code."""
    if config.workers <= 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    if own_sockets_possible(config.port):
        try:
            listening_socket(config.host, config.port, reuse_port=False).close()
        except OSError as exc:
            log.error("cannot_listen", host=config.host, port=config.port, error=str(exc))
            return 1
        return Supervisor(config, shared=None).run()
    return Supervisor(config, shared=config.bind_socket()).run()


def own_sockets_possible(port: int) -> bool:
    # (elsewhere the kernel does not spread connections over the sockets: macOS gives them to one)
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") and port != 0


def listening_socket(host: str, port: int, reuse_port: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Supervisor:
    def __init__(self, config: uvicorn.Config, shared: socket.socket | None) -> None:
        self._config = config
        self._shared = shared
        self._stop = threading.Event()

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())
        processes = [self._start() for _ in range(self._config.workers)]
        code = 0
        while not self._stop.wait(0.5):
            for i, (process, ready) in enumerate(processes):
                if process.is_alive():
                    continue
                if not ready.is_set():
                    log.error("server_process_did_not_start", server_pid=process.pid, exitcode=process.exitcode)
                    code = STARTUP_FAILURE
                    self._stop.set()
                    break
                log.warning("server_process_died", server_pid=process.pid, exitcode=process.exitcode)
                processes[i] = self._start()
        for process, _ in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process, _ in processes:
            process.join((self._config.timeout_graceful_shutdown or 10) + 5)
            if process.is_alive():
                log.warning("server_process_killed", server_pid=process.pid)
                process.kill()
                process.join()
        return code

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, Event]:
        ready = _spawn.Event()
        process = _spawn.Process(target=_serve_one, args=(self._config, self._shared, ready), daemon=False)
        process.start()
        log.info("server_process_started", server_pid=process.pid)
        return process, ready


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that tells its supervisor once it serves."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._ready.set()


def _serve_one(config: uvicorn.Config, shared: socket.socket | None, ready: Event) -> None:
    """One server process (in a fresh interpreter): its own socket unless one is shared."""
    config.configure_logging()
    sock = shared if shared is not None else listening_socket(config.host, config.port)
    _ReadyServer(config, ready).run(sockets=[sock])
