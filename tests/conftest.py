"""Shared fixtures. Tests that need Redis get a real redis-server that this session started on a
free loopback port (never a Redis it did not start); fakeredis serves only the unit layer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import redis

from alertgate.keys import use_layout
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port

# Every Redis a test starts is new, so it gets the current key layout; this process uses it from
# the start (test_key_layout.py reads it from Redis, and covers the first layout too).
use_layout(2)

ROOT = Path(__file__).resolve().parents[1]
SOURCE_SECRET = "source-secret"
VIEWER_SECRET = "viewer-secret"
DESK_SECRET = "desk-secret"
ADMIN_SECRET = "admin-secret"
ENGINEER_SECRET = "engineer-secret"
MANAGER_SECRET = "manager-secret"
LEAD_SECRET = "lead-secret"
BOOTSTRAP = (f"source:{SOURCE_SECRET},viewer:{VIEWER_SECRET},service_desk:{DESK_SECRET},admin:{ADMIN_SECRET},"
             f"engineer:{ENGINEER_SECRET},incident_manager:{MANAGER_SECRET},duty_lead:{LEAD_SECRET}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def gateway_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTGATE_", "PROMETHEUS_"))}
    env.update(
        ALERTGATE_REDIS_URL=redis_url,
        ALERTGATE_BOOTSTRAP_TOKENS=BOOTSTRAP,
        ALERTGATE_CONFIG_DIR=str(ROOT / "config"),
        ALERTGATE_DATA_DIR=str(tmp_path / "var"),
        ALERTGATE_PORT=str(free_port()),
    )
    return env


def wait_for_http(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def start_alertgate(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alertgate", *args],
        env=env, cwd=cwd, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_process(process: subprocess.Popen, sig: int = 15, timeout: float = 20.0) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A real `alertgate serve` process with ``env``; yields its base URL."""
    process = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=process)
        yield base
    finally:
        stop_process(process)


@pytest.fixture
def gateway(gateway_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serving(gateway_env, tmp_path) as base:
        yield base


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


SYMPTOM_RULE = """
classify:
  - name: zabbix-disk-full
    when: {all: [{field: source, equals: zabbix}, {field: title, regex: '(?i)disk full'}]}
    set: {symptom: DiskFull}
"""


@pytest.fixture
def catalogue_config(tmp_path):
    """The shipped settings, the fixture catalogue, and a rule naming Zabbix's disk trigger's symptom."""
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    shutil.copytree(ROOT / "tests/fixtures/cmdb", target / "cmdb", ignore=shutil.ignore_patterns("*.py"), dirs_exist_ok=True)
    (target / "rules" / "00-symptoms.yaml").write_text(SYMPTOM_RULE)
    return target
