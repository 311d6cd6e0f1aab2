"""The commands a user runs: `alertgate serve --workers 2` and `alertgate run`."""

from __future__ import annotations

import base64
import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
VIEWER = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{name}{{{labels}}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_are_summed_over_two_server_processes(gateway_env, tmp_path):
    process = start_alertgate(["serve", "--workers", "2"], gateway_env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{gateway_env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=process)
        sent = 200

        def send(i: int) -> int:
            # A new connection per request, so that both processes accept some.
            return httpx.post(base + "/api/v1/alerts/alertmanager", json=am_body(am_alert(f"A{i}")),
                              headers=SOURCE | {"Connection": "close"}, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(send, range(sent))) == {200}
        text = httpx.get(base + "/metrics", headers=VIEWER, timeout=10).text
        assert metric(text, "alertgate_alerts_received_total", 'source="alertmanager"') == sent
        assert metric(text, "alertgate_alerts_processed_total", 'outcome="new",source="alertmanager"') == sent
    finally:
        assert stop_process(process) == 0
    log = (tmp_path / "serve.log").read_text()
    ingesting = {json.loads(line)["pid"] for line in log.splitlines() if '"alert_ingested"' in line}
    assert len(ingesting) == 2, "both server processes should have taken requests"
    assert SOURCE_SECRET not in log


WRONG_SECRET = "guessed-secret-4f1c"
WRONG_BASIC = base64.b64encode(f"source:{WRONG_SECRET}".encode()).decode()


def test_run_starts_everything_stops_on_ctrl_c_and_keeps_its_data(gateway_env, tmp_path):
    env = {k: v for k, v in gateway_env.items() if k != "ALERTGATE_REDIS_URL"}
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    body = am_body(am_alert("Persisted"))

    def start():
        process = start_alertgate(["run"], env, tmp_path, tmp_path / "run.log")
        wait_for_http(base + "/healthz", process=process, timeout=30)
        return process

    first = start()
    try:
        response = httpx.post(base + "/api/v1/alerts/alertmanager", json=body, headers=SOURCE, timeout=10)
        assert response.json()["results"][0]["outcome"] == "new"
        assert httpx.get(base + "/readyz", headers=VIEWER).status_code == 200
        for wrong in ({"Authorization": f"Bearer {WRONG_SECRET}"}, {"Authorization": f"Basic {WRONG_BASIC}"}):
            refused = httpx.post(base + "/api/v1/alerts/alertmanager", json=body, headers=wrong, timeout=10)
            assert refused.status_code == 401 and WRONG_SECRET not in refused.text
        metrics = httpx.get(base + "/metrics", headers=VIEWER, timeout=10).text
        assert not any(s in metrics for s in (SOURCE_SECRET, VIEWER_SECRET, WRONG_SECRET))
        time.sleep(1.2)  # appendfsync everysec
    finally:
        assert stop_process(first, signal.SIGINT) == 0
    assert (tmp_path / "var" / "redis").is_dir()
    assert not list((tmp_path / "var" / "redis").glob("*.sock"))  # Redis shut down cleanly

    second = start()
    try:
        response = httpx.post(base + "/api/v1/alerts/alertmanager", json=body, headers=SOURCE, timeout=10)
        assert response.json()["results"][0]["outcome"] == "repeat"
    finally:
        assert stop_process(second, signal.SIGINT) == 0
    log = (tmp_path / "run.log").read_text()
    assert "embedded_redis_started" in log and "alertgate_stopped" in log
    for secret in (SOURCE_SECRET, VIEWER_SECRET, WRONG_SECRET, WRONG_BASIC):  # never in the logs
        assert secret not in log
    assert "Listening on alertgate-dispatch" in log or "alertgate-dispatch" in log


def test_run_starts_a_killed_gateway_again_and_the_sender_s_retry_lands(gateway_env, tmp_path):
    """A gateway killed while serving (the OOM killer, `kill -9`) no longer ends the whole run,
    Redis and worker included: it is started again, as the worker is, and a sender's retry lands."""
    import os

    import psutil

    from alertgate.runtime.supervisor import GATEWAY_START_GRACE

    env = {k: v for k, v in gateway_env.items() if k != "ALERTGATE_REDIS_URL"}
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    run = start_alertgate(["run"], env, tmp_path, tmp_path / "run.log")
    try:
        wait_for_http(base + "/healthz", process=run, timeout=30)
        [serve] = [p for p in psutil.Process(run.pid).children() if "serve" in p.cmdline()]
        time.sleep(max(0.0, GATEWAY_START_GRACE - (time.time() - serve.create_time())) + 0.5)
        os.kill(serve.pid, signal.SIGKILL)
        time.sleep(0.5)
        wait_for_http(base + "/healthz", process=run, timeout=30)
        response = httpx.post(base + "/api/v1/alerts/alertmanager", json=am_body(am_alert("AfterRestart")),
                              headers=SOURCE, timeout=10)
        assert response.json()["results"][0]["outcome"] == "new"
        assert run.poll() is None
    finally:
        assert stop_process(run, signal.SIGINT) == 0
    log = (tmp_path / "run.log").read_text()
    assert '"child_exited_restarting"' in log and '"process":"serve"' in log


def test_bad_setting_stops_the_start_naming_it(gateway_env, tmp_path):
    env = gateway_env | {"ALERTGATE_DEDUP_WINDOW": "half an hour"}
    process = start_alertgate(["serve"], env, tmp_path, tmp_path / "bad.log")
    assert process.wait(20) == 2
    assert "bad setting dedup_window (environment variable ALERTGATE_DEDUP_WINDOW)" in (tmp_path / "bad.log").read_text()
