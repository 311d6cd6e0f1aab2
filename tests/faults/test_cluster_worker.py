"""Issue #28 on a real Redis Cluster with a real queue Redis: a slot range down (a master and its
replica SIGKILLed) while the workers' sweep runs. The sweep used to be a job that queued its own
next run, so one failed sweep stopped it for good (0 of 10 later masters dispatched in 120 s).
Now it is a clock in each worker: whatever the sweeps met while the slots were down (failures,
or waits in the Cluster client's retries), the first one after they return dispatches every
master, once."""

from __future__ import annotations

import time

import pytest
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import start_alertgate, stop_process
from tests.faults.test_queue_outage import dispatched_once
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.redis_cluster import LocalCluster, find_redis_cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_redis_cli() is None, reason="redis-cli is needed to create a cluster"),
]


@pytest.fixture
def cluster(tmp_path):
    local = LocalCluster(tmp_path / "cluster")
    local.start()
    yield local
    local.stop()


def test_the_sweep_outlives_a_slot_range_that_was_down(cluster, gateway_env, tmp_path):
    from redis.cluster import RedisCluster

    from alertgate.keys import intents_keys

    queue = EmbeddedRedis(tmp_path / "queue", port=free_port())
    queue.start()
    seeds = ",".join(f"127.0.0.1:{port}" for port in cluster.ports[:3])
    env = {"ALERTGATE_REDIS_URL": f"redis://{seeds}", "ALERTGATE_REDIS_CLUSTER": "true",
           "ALERTGATE_QUEUE_REDIS_URL": queue.url, "ALERTGATE_SWEEP_INTERVAL": "2s"}
    worker = None
    try:
        with client_for(env["ALERTGATE_REDIS_URL"], **env) as client:
            ids = [client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert(f"Sweep{i}", host=f"n{i}")),
                               headers=SOURCE).json()["results"][0]["ticket_id"] for i in range(10)]
            state = RedisCluster.from_url(cluster.url)
            for stream in intents_keys():   # their intents lost: only the sweep can dispatch these
                state.delete(stream)
            worker = start_alertgate(["worker"], gateway_env | env, tmp_path, tmp_path / "worker.log")
            master = cluster.masters()[0]
            replica = next(n["port"] for n in cluster.nodes() if n["port"] != master and not n["master"]
                           and _replica_of(cluster, n["port"]) == master)
            cluster.kill(master)
            cluster.kill(replica)
            time.sleep(8)                      # several sweeps fail meanwhile
            cluster.start_node(master)
            cluster.start_node(replica)
            cluster.wait_healthy()
            assert dispatched_once(client, ids, timeout=90) == []
        assert worker.poll() is None
    finally:
        if worker is not None:
            assert stop_process(worker) == 0      # a signal still stops it (the loop restarts only on faults)
        queue.stop()


def test_the_dispatcher_reads_every_shards_intents_on_a_cluster(cluster, gateway_env, tmp_path):
    """The intents streams live in their shards' slots, over the Cluster's masters: one worker's
    dispatcher reads them all (a call per stream) and dispatches each master once, in batches
    (issue #27)."""
    queue = EmbeddedRedis(tmp_path / "queue", port=free_port())
    queue.start()
    seeds = ",".join(f"127.0.0.1:{port}" for port in cluster.ports[:3])
    env = {"ALERTGATE_REDIS_URL": f"redis://{seeds}", "ALERTGATE_REDIS_CLUSTER": "true",
           "ALERTGATE_QUEUE_REDIS_URL": queue.url}
    worker = start_alertgate(["worker"], gateway_env | env, tmp_path, tmp_path / "worker.log")
    try:
        with client_for(env["ALERTGATE_REDIS_URL"], **env) as client:
            ids = [client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert(f"Intent{i}", host=f"i{i}")),
                               headers=SOURCE).json()["results"][0]["ticket_id"] for i in range(40)]
            assert len({tid.split("-")[1][0] for tid in ids}) > 10   # (many shards)
            assert dispatched_once(client, ids, timeout=60) == []
    finally:
        stop_process(worker)
        queue.stop()
    # in batches (their scripts loaded on every primary: a Cluster's pipeline does not), none left
    log = (tmp_path / "worker.log").read_text()
    assert "dispatch_batch_failed" not in log and "dispatch_failed_here" not in log


def test_due_timers_move_and_fire_per_shard_on_a_cluster(cluster, gateway_env, tmp_path):
    """Each shard's timer set and intents stream share a slot: the due entries of tickets over many
    shards (and the Cluster's masters) are moved by one call per shard and fired once each, at
    the first of their timers."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from alertgate.runtime.connections import connect_state
    from alertgate.settings import load_settings
    from alertgate.workers.context import set_context
    from alertgate.workers.intents import IntentConsumer
    from alertgate.workers.jobs import dispatch_on
    from alertgate.keys import BASE32
    from alertgate.workers.plan import Timer

    queue = EmbeddedRedis(tmp_path / "queue", port=free_port())
    queue.start()
    seeds = ",".join(f"127.0.0.1:{port}" for port in cluster.ports[:3])
    settings = load_settings({**gateway_env, "ALERTGATE_REDIS_URL": f"redis://{seeds}",
                              "ALERTGATE_REDIS_CLUSTER": "true", "ALERTGATE_QUEUE_REDIS_URL": queue.url})
    tickets = [f"INC-{shard}{shard}-{n}" for shard in BASE32 for n in (1, 2)]
    fired: list[tuple[str, float]] = []

    async def fire(ctx, redis, store, ticket_id, since):
        fired.append((ticket_id, since))
        return "fired"

    async def body() -> int:
        state = connect_state(settings, fail_fast=False)
        try:
            consumer = IntentConsumer(set_context(settings), state, None, dispatch_on, fire)
            due = datetime.now(UTC) - timedelta(seconds=1)
            for tid in tickets:
                await consumer.timers.plan(tid, [Timer(due, "stakeholder", "1:pm"), Timer(due, "stakeholder", "2:dd"),
                                                 Timer(due + timedelta(hours=1), "stakeholder", "3:later")])
            return await consumer.drain()
        finally:
            await state.aclose()
    try:
        assert asyncio.run(body()) == len(tickets)
        assert sorted(t for t, _ in fired) == sorted(tickets) and len({since for _, since in fired}) == 1
    finally:
        queue.stop()


def _replica_of(cluster: LocalCluster, port: int) -> int:
    import redis

    info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).info("replication")
    return int(info.get("master_port", 0))
