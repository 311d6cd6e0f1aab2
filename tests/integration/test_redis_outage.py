"""Redis stopped mid-test: 503 with Retry-After so senders retry; after it is back, the retry
lands once and nothing acknowledged before the outage is lost (AOF)."""

from __future__ import annotations

import time

import pytest

from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


def test_redis_down_answers_503_then_the_retry_succeeds(own_redis):
    with client_for(own_redis.url) as client:
        url = "/api/v1/alerts/alertmanager"
        before = am_body(am_alert("Before"))
        assert client.post(url, json=before, headers=SOURCE).json()["results"][0]["outcome"] == "new"
        time.sleep(1.2)  # appendfsync everysec: let the AOF reach the disk, as a real outage would
        own_redis.kill()

        during = am_body(am_alert("During"), am_alert("Before"))
        started = time.monotonic()
        response = client.post(url, json=during, headers=SOURCE)
        assert response.status_code == 503
        assert time.monotonic() - started < 5
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"]
        zabbix = client.post("/api/v1/alerts/zabbix", json=zabbix_event(), headers=SOURCE)
        assert zabbix.status_code == 503
        ready = client.get("/readyz", headers={"Authorization": f"Bearer {VIEWER_SECRET}"})
        assert ready.status_code == 503
        assert client.get("/healthz").status_code == 200

        own_redis.start()  # same port, same data directory: the AOF is replayed
        retried = client.post(url, json=during, headers=SOURCE)
        assert [r["outcome"] for r in retried.json()["results"]] == ["new", "repeat"]
        again = client.post(url, json=during, headers=SOURCE)
        assert [r["outcome"] for r in again.json()["results"]] == ["repeat", "repeat"]


def test_writes_no_replica_confirmed_answer_503_and_the_retry_repeats_nothing(redis_url):
    """``redis_wait_replicas`` asks for a replica this Redis does not have: the alert is written
    but not answered 200; the sender's retry finds it (``repeat``), never a second ticket."""
    url = "/api/v1/alerts/alertmanager"
    body = am_body(am_alert("Replicated"), am_alert("Replicated", host="web2"))
    with client_for(redis_url, ALERTGATE_REDIS_WAIT_REPLICAS="1", ALERTGATE_REDIS_WAIT_TIMEOUT="100ms") as client:
        for _ in range(2):
            response = client.post(url, json=body, headers=SOURCE)
            assert response.status_code == 503 and response.headers["retry-after"]
    with client_for(redis_url) as client:  # without the WAIT: the retry lands, doubling nothing
        results = client.post(url, json=body, headers=SOURCE).json()["results"]
        assert [r["outcome"] for r in results] == ["repeat", "repeat"]
        listed = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).json()
        assert len(listed["tickets"]) == 2
