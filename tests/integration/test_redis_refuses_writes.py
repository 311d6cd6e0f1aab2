"""A Redis that answers but refuses writes until its operator acts: full (``maxmemory`` with
``noeviction``: OOM) or stopped by a failed snapshot or AOF write (MISCONF: a full or failing
disk). Ingest answers 503 with Retry-After, as for a Redis that is down, so that the sender keeps
its alerts and retries; /readyz names the cause; once Redis takes writes again, the retries land
once each. Both used to be a 500 "internal error" (and /readyz a 500 on MISCONF, which refuses
even PING); a gateway started on a new Redis in MISCONF did not start."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest
import redis

from alertgate.runtime.embedded_redis import find_redis_server, free_port
from tests.conftest import VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
URL = "/api/v1/alerts/alertmanager"
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def bodies(count: int, per_body: int = 50) -> list[dict]:
    return [am_body(*(am_alert(f"Full{n}", host=f"host-{n}", summary="x" * 300)
                      for n in range(first, first + per_body)))
            for first in range(0, count, per_body)]


def outcomes(client, body) -> tuple[int, Counter]:
    answer = client.post(URL, json=body, headers=SOURCE)
    if answer.status_code != 200:
        return answer.status_code, Counter()
    return 200, Counter(result["outcome"] for result in answer.json()["results"])


def test_a_full_redis_gets_503_and_the_retries_land_once_when_memory_is_freed(redis_url):
    sent = bodies(3000)
    with redis.Redis.from_url(redis_url) as state, client_for(redis_url) as client:
        client.post(URL, json=sent[0], headers=SOURCE)   # (the layout and first keys written)
        used = int(state.info("memory")["used_memory"])
        state.config_set("maxmemory", used + 400_000)
        try:
            refused = None
            for n, body in enumerate(sent[1:], start=1):
                answer = client.post(URL, json=body, headers=SOURCE)
                if answer.status_code != 200:
                    refused = n
                    break
            assert refused is not None, "memory never filled"
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) > 0
            assert "refuses writes" in answer.json()["error"]
            assert client.get("/readyz", headers=VIEW).json()["status"] == "degraded"
        finally:
            state.config_set("maxmemory", 0)
        # the sender retries the refused body, then sends the rest; then everything once more
        totals = Counter()
        for body in sent[refused:]:
            status, counted = outcomes(client, body)
            assert status == 200
            totals += counted
        assert set(totals) <= {"new"} and totals["new"] == 50 * (len(sent) - refused)
        again = Counter()
        for body in sent:
            again += outcomes(client, body)[1]
        assert again == Counter({"repeat": 50 * len(sent)})
        assert client.get("/api/v1/tickets", headers=VIEW).status_code == 200


class StoppedByADiskFault:
    """A redis-server whose snapshots fail (its folder is gone): once a save point's snapshot
    failed, Redis refuses writes, and PING, until a snapshot succeeds or
    ``stop-writes-on-bgsave-error`` is turned off. (Redis 6.2 stops writes only after a save
    point's snapshot, not after a BGSAVE command's.)"""

    def __init__(self, folder) -> None:
        self.port = free_port()
        folder.mkdir()
        self.process = subprocess.Popen(
            [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder),
             "--appendonly", "no", "--logfile", str(folder.parent / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        try:
            self._fail_a_snapshot(folder)
        except BaseException:
            self.stop()   # (never leave a redis-server behind)
            raise

    def _fail_a_snapshot(self, folder) -> None:
        for _ in range(100):
            try:
                self.client.info("server")
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.client.config_set("save", "1 1")   # (a snapshot after 1 s and 1 change; set here, as 6.2 and 7 read it alike)
        folder.rmdir()
        self.client.set("a change", 1)
        for _ in range(200):
            try:
                self.client.set("a change", 2)
            except redis.ResponseError as refused:
                assert "MISCONF" in str(refused)
                return
            time.sleep(0.05)
        raise AssertionError("the snapshot did not fail")

    def lift(self, lifted: bool = True) -> None:
        self.client.config_set("stop-writes-on-bgsave-error", "no" if lifted else "yes")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def faulty_disk(tmp_path):
    server = StoppedByADiskFault(tmp_path / "data")
    yield server
    server.stop()


def wait_for_status(client, body, status: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        answer = client.post(URL, json=body, headers=SOURCE)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_redis_stopped_by_a_disk_fault_gets_503_and_the_gateway_starts_and_recovers(faulty_disk):
    body = am_body(am_alert("DiskFault", host="web-9"))
    with client_for(faulty_disk.url) as client:   # (a new Redis: the key layout cannot be written yet)
        answer = client.post(URL, json=body, headers=SOURCE)
        assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
        ready = client.get("/readyz", headers=VIEW)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("refuses writes: MISCONF")

        faulty_disk.lift()   # (what an operator does once the disk is fixed, or a snapshot that succeeds)
        answer = wait_for_status(client, body, 200)
        assert answer.status_code == 200 and answer.json()["results"][0]["outcome"] == "new"
        assert "last RDB snapshot failed" in client.get("/readyz", headers=VIEW).json()["checks"]["redis"]

        faulty_disk.lift(False)
        other = am_body(am_alert("DiskFault", host="web-10"))
        refused = client.post(URL, json=other, headers=SOURCE)
        assert refused.status_code == 503 and "refuses writes" in refused.json()["error"]
        assert client.post("/api/v1/heartbeats/disk-check", headers=SOURCE).status_code == 503
        assert "alertgate_redis_persistence_failed 1" in client.get("/metrics", headers=VIEW).text

        faulty_disk.lift()
        assert client.post(URL, json=other, headers=SOURCE).json()["results"][0]["outcome"] == "new"
        assert client.post(URL, json=body, headers=SOURCE).json()["results"][0]["outcome"] == "repeat"


def test_the_console_says_in_a_page_when_redis_is_away_or_refuses_changes(faulty_disk):
    """A desk member's form or page meets a Redis that refuses writes, then one that is down: a
    console page in their language saying so (503), not the API's JSON."""
    from tests.conftest import DESK_SECRET
    from tests.integration.test_console import sign_in

    with client_for(faulty_disk.url) as client:
        faulty_disk.lift()
        ticket = client.post(URL, json=am_body(am_alert("Console", host="web-3")), headers=SOURCE).json()
        ticket_id = ticket["results"][0]["ticket_id"]
        csrf = sign_in(client, DESK_SECRET)
        faulty_disk.lift(False)
        answer = client.post(f"/console/tickets/{ticket_id}/actions/assign", data={"csrf": csrf, "group": "ops"},
                             headers={"Accept-Language": "zh-CN"})
        assert answer.status_code == 503 and answer.headers["content-type"].startswith("text/html")
        assert "工单存储暂时无法访问或拒绝修改" in answer.text and int(answer.headers["retry-after"]) > 0
        faulty_disk.lift()
        again = client.post(f"/console/tickets/{ticket_id}/actions/assign", data={"csrf": csrf, "group": "ops"},
                            follow_redirects=False)
        assert again.status_code == 303
        assert client.get(f"/api/v1/tickets/{ticket_id}", headers=VIEW).json()["ticket"]["status"] == "assigned"
        faulty_disk.stop()
        page = client.get("/console/queue")
        assert page.status_code == 503 and "The ticket store cannot be reached" in page.text
