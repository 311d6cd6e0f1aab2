"""Two gateway processes, many concurrent requests for one new (ci, symptom): one master."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration


def test_concurrent_same_key_across_two_gateways_yields_one_master(gateway_env, tmp_path):
    processes, bases = [], []
    for n in range(2):
        env = gateway_env | {"ALERTGATE_PORT": str(free_port())}
        processes.append(start_alertgate(["serve"], env, tmp_path, tmp_path / f"serve{n}.log"))
        bases.append(f"http://127.0.0.1:{env['ALERTGATE_PORT']}")
    try:
        for process, base in zip(processes, bases):
            wait_for_http(base + "/healthz", process=process)
        sent = 80

        def send(i: int) -> dict:
            # distinct occurrences (startsAt) of one key, alternating between the two gateways
            body = am_body(am_alert("NodeDown", host="core-sw-1", starts=f"2026-11-22T03:{i // 60:02d}:{i % 60:02d}Z"))
            response = httpx.post(bases[i % 2] + "/api/v1/alerts/alertmanager", json=body,
                                  headers={"Authorization": f"Bearer {SOURCE_SECRET}"}, timeout=30)
            assert response.status_code == 200, response.text
            return response.json()["results"][0]

        with ThreadPoolExecutor(max_workers=40) as pool:
            results = list(pool.map(send, range(sent)))
        outcomes = [r["outcome"] for r in results]
        assert outcomes.count("new") == 1 and outcomes.count("duplicate") == sent - 1
        master_id = next(r["ticket_id"] for r in results if r["outcome"] == "new")
        assert {r["master_id"] for r in results} == {master_id}
        detail = httpx.get(f"{bases[0]}/api/v1/tickets/{master_id}",
                           headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).json()
        assert detail["ticket"]["duplicate_count"] == len(detail["duplicates"]) == sent - 1
        assert set(detail["duplicates"]) == {r["ticket_id"] for r in results if r["outcome"] == "duplicate"}
    finally:
        for process in processes:
            stop_process(process)
