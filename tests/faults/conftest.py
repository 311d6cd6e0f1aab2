"""A gateway (`alertgate serve`) on a Redis of its own, which a fault test may kill, restart or
pause: redis_timeout 1 s, so a fault becomes a 503 quickly."""

from __future__ import annotations

import os
import signal

import pytest

from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import start_alertgate, stop_process, wait_for_http


@pytest.fixture
def own_redis_gateway(gateway_env, tmp_path):
    """Yields (base URL, the Redis server)."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    env = gateway_env | {"ALERTGATE_REDIS_URL": server.url, "ALERTGATE_REDIS_TIMEOUT": "1s"}
    process = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=process)
        yield base, server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)  # in case the test left it paused
        stop_process(process)
        server.stop()
