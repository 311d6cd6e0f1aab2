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
