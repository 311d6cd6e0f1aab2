"""Issue #28: the worker side survives what the ingest side survives. A real `alertgate worker`
on a real queue Redis that is SIGKILLed while the worker is busy, and one that restarts empty
(no persistence), with the state on a standalone Redis and on a real 3-master Cluster: the
worker rides it out, and the sweep (a process of each worker, not a queued job) dispatches
every master exactly once."""

from __future__ import annotations

import shutil
import time

import pytest

from redis.cluster import RedisCluster

from alertgate.runtime.embedded_redis import EmbeddedRedis
from tests.conftest import VIEWER_SECRET, start_alertgate, stop_process
from tests.integration.test_redis_outage import own_redis  # noqa: F401  (fixture)
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.redis_cluster import LocalCluster, find_redis_cli

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


@pytest.fixture
def queue_redis(own_redis):  # noqa: F811
    return own_redis


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if find_redis_cli() is None:
        pytest.skip("redis-cli is needed to create a cluster")
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    local.start()
    yield local
    local.stop()


@pytest.fixture(params=["standalone", "cluster"])
def state(request, redis_url) -> dict[str, str]:
    """The state store: a standalone Redis, or a real 3-master Cluster (the trial's setup)."""
    if request.param == "standalone":
        return {"ALERTGATE_REDIS_URL": redis_url}
    cluster = request.getfixturevalue("cluster")
    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    return {"ALERTGATE_REDIS_URL": cluster.url, "ALERTGATE_REDIS_CLUSTER": "true"}


@pytest.fixture
def worker(gateway_env, state, queue_redis, tmp_path):
    env = gateway_env | state | {"ALERTGATE_QUEUE_REDIS_URL": queue_redis.url, "ALERTGATE_SWEEP_INTERVAL": "2s"}
    process = start_alertgate(["worker"], env, tmp_path, tmp_path / "worker.log")
    yield process
    stop_process(process)


def restart(server: EmbeddedRedis, empty: bool) -> None:
    if empty:  # a queue Redis without persistence comes back with nothing
        shutil.rmtree(server.data_dir)
    server.start()


def dispatched_once(client, ids: list[str], timeout: float) -> list[str]:
    """The ids not yet assigned exactly once when ``timeout`` ran out ([] when all are)."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        time.sleep(1)
        still = []
        for tid in pending:
            answer = client.get(f"/api/v1/tickets/{tid}", headers=VIEW)
            if answer.status_code == 503:  # (a Cluster's slots coming back)
                still.append(tid)
                continue
            timeline = answer.json()["ticket"]["timeline"]
            assigns = [e for e in timeline if e["action"] == "assign"]
            assert len(assigns) <= 1, (tid, assigns)
            if not assigns:
                still.append(tid)
        pending = still
    return pending


def new_masters(client, prefix: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        body = am_body(am_alert(f"{prefix}{i}", host=f"h{i}"))
        ids.append(client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"])
    return ids


def test_a_busy_worker_rides_out_a_killed_queue_redis(state, queue_redis, worker, tmp_path):
    with client_for(state["ALERTGATE_REDIS_URL"], **state, ALERTGATE_QUEUE_REDIS_URL=queue_redis.url) as client:
        ids = new_masters(client, "Busy", 200)
        time.sleep(0.5)                        # the worker is in the middle of them
        queue_redis.kill()
        time.sleep(3)
        restart(queue_redis, empty=False)      # back from its AOF (the last second may be lost)
        assert dispatched_once(client, ids, timeout=60) == []
    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]


def test_masters_queued_into_a_queue_redis_that_restarts_empty_are_dispatched(state, queue_redis, worker, tmp_path):
    with client_for(state["ALERTGATE_REDIS_URL"], **state, ALERTGATE_QUEUE_REDIS_URL=queue_redis.url,
                    ALERTGATE_REDIS_TIMEOUT="1s") as client:
        queue_redis.kill()
        ids = new_masters(client, "Empty", 20)  # answered 200; their dispatch jobs could not be queued
        time.sleep(3)
        restart(queue_redis, empty=True)
        assert dispatched_once(client, ids, timeout=60) == []
    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
