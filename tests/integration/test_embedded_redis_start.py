"""``alertgate run``'s embedded Redis at start (runtime/embedded_redis.py).

A Redis with a big AOF answers ``LOADING`` until it has read it: 2.6 GB (650,000 masters) took
21 s, and ``make run`` gave up after 15 s ("redis-server did not answer within 15.0s"), leaving
the loading redis-server behind, so that the installation could not be started again."""

from __future__ import annotations

import socket
import stat
import threading
import time

import pytest

from alertgate.runtime.embedded_redis import EmbeddedRedis, RedisStartError, free_port


class LoadingRedis:
    """Answers every PING with ``-LOADING`` for ``seconds``, then ``+PONG``; INFO with a progress."""

    def __init__(self, seconds: float) -> None:
        self.port = free_port()
        self.ready_at = time.monotonic() + seconds
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                lines = data.split(b"\r\n")
                for n, line in enumerate(lines):   # (*<count> $<len> <name> ...: each command sent)
                    if line.startswith(b"*"):
                        self._answer(conn, lines[n + 2].upper())

    def _answer(self, conn: socket.socket, command: bytes) -> None:
        if command == b"INFO":
            body = b"# Persistence\r\nloading:1\r\nloading_loaded_perc:42.50\r\nloading_eta_seconds:3\r\n"
            conn.sendall(b"$%d\r\n%s\r\n" % (len(body), body))
        elif command == b"HELLO":
            conn.sendall(b"-ERR unknown command 'HELLO'\r\n")   # (redis-py then speaks RESP2)
        elif command != b"PING":
            conn.sendall(b"+OK\r\n")   # (what redis-py says on connecting)
        elif time.monotonic() < self.ready_at:
            conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")
        else:
            conn.sendall(b"+PONG\r\n")

    def close(self) -> None:
        self._listener.close()


def test_a_redis_loading_its_data_is_waited_for_past_the_timeout_and_its_progress_told(tmp_path):
    server = LoadingRedis(seconds=2.5)
    try:
        embedded = EmbeddedRedis(tmp_path, port=server.port)
        told: list[dict] = []
        started = time.monotonic()
        embedded.wait_ready(timeout=1.0, on_loading=told.append)   # (the timeout is for a first answer)
        assert time.monotonic() - started >= 2.4
        assert told and told[0] == {"loaded_percent": 42.5, "eta_seconds": 3}
    finally:
        server.close()


def test_a_redis_that_never_answers_is_stopped_not_left_behind(tmp_path):
    silent = tmp_path / "silent-redis"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(silent.stat().st_mode | stat.S_IEXEC)
    embedded = EmbeddedRedis(tmp_path / "data", port=free_port(), binary=str(silent))
    with pytest.raises(RedisStartError, match="did not answer within 0.5s"):
        embedded.start(timeout=0.5)
    assert embedded.process is not None and embedded.process.poll() is not None
