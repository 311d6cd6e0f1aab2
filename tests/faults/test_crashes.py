"""Crashes in the middle of a storm, with senders that retry as Alertmanager does (on 5xx and on
connection errors): Redis SIGKILLed and restarted from its AOF, a gateway SIGKILLed and restarted.
At the end every sent occurrence is in exactly one ticket: nothing lost, nothing doubled."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.census import census
from tests.conftest import SOURCE_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_body

pytestmark = pytest.mark.integration
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
KEYS, PER_KEY = 40, 10


def occurrence(n: int) -> dict:
    key = n % KEYS
    return {"labels": {"alertname": f"Storm{key % 4}", "instance": f"node{key // 4}:9100"},
            "startsAt": f"2026-11-22T03:{n // 60 % 60:02d}:{n % 60:02d}Z", "status": "firing"}


def send_until_accepted(url: str, alerts: list[dict], deadline: float) -> int:
    """POST until 200, like Alertmanager: retry on 5xx, timeouts and refused connections."""
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            response = httpx.post(url, json=am_body(*alerts), headers=SOURCE, timeout=5)
            if response.status_code == 200:
                return attempts
            assert response.status_code >= 500, response.text
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("a delivery was never accepted")


def storm(base: str, batch: int, crash, deadline_s: float = 60) -> None:
    url = base + "/api/v1/alerts/alertmanager"
    alerts = [occurrence(n) for n in range(KEYS * PER_KEY)]
    batches = [alerts[i:i + batch] for i in range(0, len(alerts), batch)]
    deadline = time.monotonic() + deadline_s
    crasher = threading.Thread(target=crash)
    crasher.start()
    with ThreadPoolExecutor(6) as pool:
        attempts = list(pool.map(lambda b: send_until_accepted(url, b, deadline), batches))
    crasher.join()
    assert sum(attempts) > len(batches), "the crash should have hit deliveries in flight"


def assert_exactly_once(base: str, redis_url: str) -> None:
    found = census(redis.Redis.from_url(redis_url))
    assert found == {"masters": KEYS, "duplicates": KEYS * (PER_KEY - 1), "counted": KEYS * (PER_KEY - 1)}
    # and a full redelivery now changes nothing
    url = base + "/api/v1/alerts/alertmanager"
    alerts = [occurrence(n) for n in range(KEYS * PER_KEY)]
    outcomes = httpx.post(url, json=am_body(*alerts), headers=SOURCE, timeout=30).json()["results"]
    assert {r["outcome"] for r in outcomes} == {"repeat"}


def test_redis_killed_mid_storm_and_restarted_from_its_aof(gateway_env, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    env = gateway_env | {"ALERTGATE_REDIS_URL": server.url, "ALERTGATE_REDIS_TIMEOUT": "1s"}
    gateway = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=gateway)

        def crash() -> None:
            time.sleep(0.4)
            server.kill()          # SIGKILL, as a crash would
            time.sleep(1.5)
            server.start()         # same port, same data directory: the AOF is replayed

        storm(base, batch=1, crash=crash)
        assert_exactly_once(base, server.url)
    finally:
        stop_process(gateway)
        server.stop()


def test_gateway_killed_mid_storm_and_restarted(gateway_env, redis_url, tmp_path):
    base = f"http://127.0.0.1:{gateway_env['ALERTGATE_PORT']}"
    processes = [start_alertgate(["serve"], gateway_env, tmp_path, tmp_path / "serve1.log")]
    try:
        wait_for_http(base + "/healthz", process=processes[0])

        def crash() -> None:
            time.sleep(0.4)
            stop_process(processes[0], signal.SIGKILL)
            time.sleep(0.5)
            processes.append(start_alertgate(["serve"], gateway_env, tmp_path, tmp_path / "serve2.log"))

        storm(base, batch=5, crash=crash)
        assert_exactly_once(base, redis_url)
    finally:
        for process in processes:
            stop_process(process)
