"""`alertgate serve --workers N`: each process listens on its own socket (SO_REUSEPORT), so
connections opened at once are spread over the processes; a process that dies is replaced; a
port in use or a process that cannot start stops the start."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest

from alertgate.runtime.serving import listening_socket
from tests.conftest import SOURCE_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}


def listeners(port: int) -> set[int]:
    """The pids that listen on ``port``."""
    return {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def two_listeners(port: int, without: int | None = None, timeout: float = 20.0) -> set[int]:
    """Waits until two processes (none of them ``without``) listen on ``port``; their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = listeners(port)
        if len(found) == 2 and without not in found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"two processes did not listen on {port} in time")


@contextmanager
def two_processes(gateway_env, tmp_path) -> Iterator[tuple[int, set[int]]]:
    """`alertgate serve --workers 2`, up: its port and the pids listening on it; stopped after."""
    port = int(gateway_env["ALERTGATE_PORT"])
    process = start_alertgate(["serve", "--workers", "2"], gateway_env, tmp_path, tmp_path / "serve.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        pids = two_listeners(port)
        assert pids <= {child.pid for child in psutil.Process(process.pid).children()}
        yield port, pids
    finally:
        assert stop_process(process) == 0


def test_connections_opened_at_once_are_spread_over_the_processes(gateway_env, tmp_path):
    with two_processes(gateway_env, tmp_path) as (port, pids):
        # 16 keep-alive connections, opened together, one request each (as a load test, or an
        # Alertmanager keeping its connections, does): both processes get some
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=SOURCE) for _ in range(16)]
        try:
            for i, client in enumerate(clients):
                assert client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert(f"Spread{i}"))).status_code == 200
        finally:
            for client in clients:
                client.close()
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]  # all JSON, uvicorn's too
    assert {line["pid"] for line in lines if line["event"] == "alert_ingested"} == pids
    assert any(line.get("logger") == "uvicorn.error" for line in lines)


def test_a_server_process_that_dies_is_replaced(gateway_env, tmp_path):
    with two_processes(gateway_env, tmp_path) as (port, first):
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = two_listeners(port, without=victim)
        assert len(replaced & first) == 1
        for i in range(8):  # served throughout (new connections go to either process)
            response = httpx.post(f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager", headers=SOURCE,
                                  json=am_body(am_alert(f"After{i}")), timeout=10)
            assert response.status_code == 200


def test_a_port_in_use_stops_the_start(gateway_env, tmp_path):
    port = int(gateway_env["ALERTGATE_PORT"])
    taken = socket.socket()
    taken.bind(("127.0.0.1", port))
    taken.listen()
    try:
        process = start_alertgate(["serve", "--workers", "2"], gateway_env, tmp_path, tmp_path / "serve.log")
        assert process.wait(20) == 1
        assert "cannot_listen" in (tmp_path / "serve.log").read_text()
    finally:
        taken.close()


def test_a_second_gateway_cannot_join_the_first_ones_port(gateway_env, tmp_path):
    port = int(gateway_env["ALERTGATE_PORT"])
    first = start_alertgate(["serve", "--workers", "2"], gateway_env, tmp_path, tmp_path / "first.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=first)
        second = start_alertgate(["serve", "--workers", "2"], gateway_env, tmp_path, tmp_path / "second.log")
        assert second.wait(20) == 1
        with pytest.raises(OSError):  # (and a plain bind fails against the first one's sockets)
            listening_socket("127.0.0.1", port, reuse_port=False)
    finally:
        assert stop_process(first) == 0


def test_a_process_that_cannot_start_stops_the_start(gateway_env, tmp_path):
    rules = tmp_path / "config"
    rules.mkdir()
    env = gateway_env | {"ALERTGATE_CONFIG_DIR": str(rules)}
    (rules / "rules").mkdir()
    (rules / "rules" / "bad.yaml").write_text("prioritise:\n  - name: x\n    when: {nope: 1}\n")
    process = start_alertgate(["serve", "--workers", "2"], env, tmp_path, tmp_path / "serve.log")
    assert process.wait(30) == 3  # (uvicorn's exit code for a failed start)
    assert "server_process_did_not_start" in (tmp_path / "serve.log").read_text()
