"""A Redis that stops answering (its process paused with SIGSTOP): ingest answers 503 within a
bounded time so the sender retries, the event loop stays responsive (/healthz answers meanwhile),
and the retry after Redis is back lands exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import SOURCE_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}


@pytest.fixture
def paused_redis_gateway(gateway_env, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    env = gateway_env | {"ALERTGATE_REDIS_URL": server.url, "ALERTGATE_REDIS_TIMEOUT": "1s"}
    process = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=process)
        yield base, server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        stop_process(process)
        server.stop()


def test_paused_redis_gives_bounded_503_and_a_responsive_gateway(paused_redis_gateway):
    base, server = paused_redis_gateway
    url = base + "/api/v1/alerts/alertmanager"
    body = am_body(am_alert("SlowRedis", starts="2026-11-22T03:00:00Z"))
    assert httpx.post(url, json=am_body(am_alert("Warm")), headers=SOURCE).status_code == 200
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        answer: dict = {}
        started = time.monotonic()
        sender = threading.Thread(target=lambda: answer.update(r=httpx.post(url, json=body, headers=SOURCE, timeout=15)))
        sender.start()
        time.sleep(0.2)
        assert httpx.get(base + "/healthz", timeout=2).status_code == 200   # the loop is not blocked
        sender.join()
        elapsed = time.monotonic() - started
        response = answer["r"]
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert elapsed < 2.5   # redis_timeout (1 s) plus a margin
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    retried = httpx.post(url, json=body, headers=SOURCE, timeout=10).json()["results"][0]
    again = httpx.post(url, json=body, headers=SOURCE, timeout=10).json()["results"][0]
    # The stalled call may have run once Redis resumed: either way one ticket, then repeats.
    assert retried["outcome"] in ("new", "repeat") and again["outcome"] == "repeat"
    assert retried["ticket_id"] == again["ticket_id"]
