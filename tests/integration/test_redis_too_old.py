"""A Redis older than alertgate needs (6.2: Debian 11 ships 6.0, Ubuntu 20.04 5.0) is named at
start, by the gateway and by the worker, rather than refusing some commands later, one 500 at a
time. The old Redis is a stand-in that answers PING and INFO as Redis 6.0.16 does: no older
redis-server can be installed here."""

from __future__ import annotations

import socketserver
import subprocess
import sys
import threading

import pytest

from alertgate.runtime.connections import too_old
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
INFO = "# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n"


class OldRedis(socketserver.ThreadingTCPServer):
    daemon_threads, allow_reuse_address = True, True

    def __init__(self) -> None:
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while line := self.rfile.readline():
                    if not line.startswith(b"*"):
                        continue
                    words = [self.rfile.readline() and self.rfile.readline().strip()
                             for _ in range(int(line[1:]))]
                    command = words[0].upper() if words else b""
                    if command == b"INFO":
                        self.wfile.write(b"$%d\r\n%s\r\n" % (len(INFO), INFO.encode()))
                    elif command == b"PING":
                        self.wfile.write(b"+PONG\r\n")
                    elif command in (b"CLIENT", b"SELECT"):
                        self.wfile.write(b"+OK\r\n")
                    elif command == b"HELLO":   # (as Redis 5 answers it; redis-py then speaks RESP2)
                        self.wfile.write(b"-ERR unknown command 'HELLO'\r\n")
                    elif command == b"HGETALL":   # (RQ looks for an old job: none)
                        self.wfile.write(b"*0\r\n")
                    else:
                        self.wfile.write(b":0\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"redis://127.0.0.1:{self.server_address[1]}/0"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def old_redis():
    server = OldRedis()
    yield server
    server.shutdown()
    server.server_close()


def test_versions():
    assert too_old({"redis_version": "6.0.16"}).startswith("Redis 6.0.16 is older than 6.2")
    assert too_old({"redis_version": "5.0.7"}) is not None
    assert too_old({"redis_version": "6.2.14"}) is None and too_old({"redis_version": "7.0.15"}) is None
    assert too_old({"redis_version": "255.255.255"}) is None   # (a proxy's own numbering)
    assert too_old({"redis_version": "unknown"}) is None and too_old({}) is None
    assert too_old({"10.0.0.1:7000": {"redis_version": "7.0.15"}, "10.0.0.2:7000": {"redis_version": "6.0.9"}})


def test_the_gateway_and_the_worker_name_a_redis_too_old(old_redis, gateway_env, tmp_path):
    env = {**gateway_env, "ALERTGATE_REDIS_URL": old_redis.url}
    cli = [sys.executable, "-m", "alertgate"]
    served = subprocess.run([*cli, "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert served.returncode != 0
    assert "Redis 6.0.16 is older than 6.2, which alertgate needs" in served.stderr
    worked = subprocess.run([*cli, "worker"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert worked.returncode == 2
    assert "alertgate: Redis 6.0.16 is older than 6.2" in worked.stderr
