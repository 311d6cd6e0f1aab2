"""The state store on a real 3-master Redis Cluster (one replica each), the RQ queues on a separate
standalone Redis: tickets and their actions work across the masters, and a master SIGKILLed in the
middle of a storm (its replica promoted) loses nothing that was answered 200, because a 200 waits
until a replica holds the writes (``redis_wait_replicas``)."""

from __future__ import annotations

import time

import pytest
from redis.cluster import RedisCluster

from alertgate.settings import SettingsError, load_settings
from tests.conftest import start_alertgate, stop_process, wait_for_http
from tests.faults.storm import assert_exactly_once, storm
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_ticket_api import DESK, VIEW, act, new_master
from tests.redis_cluster import LocalCluster, find_redis_cli

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_redis_cli() is None, reason="redis-cli is needed to create a cluster"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    local.start()
    yield local
    local.stop()


def cluster_env(cluster: LocalCluster, queue_url: str, **more: str) -> dict[str, str]:
    return {"ALERTGATE_REDIS_URL": cluster.url, "ALERTGATE_REDIS_CLUSTER": "true",
            "ALERTGATE_QUEUE_REDIS_URL": queue_url, **more}


def test_a_cluster_needs_a_separate_queue_redis(cluster):
    with pytest.raises(SettingsError, match="queue_redis_url"):
        load_settings({"ALERTGATE_REDIS_URL": cluster.url, "ALERTGATE_REDIS_CLUSTER": "1"})


def test_tickets_and_actions_across_the_masters(cluster, redis_url):
    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    hosts = [f"host{i}" for i in range(40)]
    with client_for(cluster.url, **cluster_env(cluster, redis_url, ALERTGATE_REDIS_WAIT_REPLICAS="1",
                                            ALERTGATE_REDIS_WAIT_TIMEOUT="500ms")) as client:
        assert client.get("/readyz", headers=VIEW).status_code == 200
        body = am_body(*(am_alert("DiskFull", host=h) for h in hosts))
        first = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"]
        assert {r["outcome"] for r in first} == {"new"}
        again = am_body(*(am_alert("DiskFull", host=h, starts="2026-11-22T03:05:00Z") for h in hosts))
        second = client.post("/api/v1/alerts/alertmanager", json=again, headers=SOURCE).json()["results"]
        assert {r["outcome"] for r in second} == {"duplicate"}
        # the keys really are spread over every master
        state = RedisCluster.from_url(cluster.url)
        shards = {r["ticket_id"].split("-")[1][0] for r in first}
        owners = {state.get_node_from_key(f"ag:{{{shard}}}:created").port for shard in shards}
        assert len(shards) > 10 and len(owners) == 3

        # a page walk over the merged shard indexes sees every ticket once, newest first
        seen, cursor = [], None
        while True:
            page = client.get("/api/v1/tickets", params={"limit": 7, **({"cursor": cursor} if cursor else {})},
                              headers=VIEW).json()
            seen += [t["id"] for t in page["tickets"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert sorted(seen) == sorted([r["ticket_id"] for r in first + second])

        # an action cascades inside its slot; a follow-up is written in the same transaction
        master = first[0]["ticket_id"]
        assert act(client, master, "assign", group="storage", assignee="li").status_code == 200
        assert act(client, master, "resolve", resolution_code="resolved_by_workaround").status_code == 200
        assert client.get(f"/api/v1/tickets/{second[0]['ticket_id']}", headers=VIEW).json()["ticket"]["status"] == "resolved"
        assert act(client, master, "close", closure_code="not_completed").status_code == 200
        follow = [t for t in client.get("/api/v1/tickets?limit=200", headers=VIEW).json()["tickets"]
                  if t["origin"] == "follow_up"]
        assert len(follow) == 1 and follow[0]["assignee"] == "li"
        reported = client.post("/api/v1/tickets", json={"title": "printer", "ci": "PRN-1", "impact": 3, "urgency": 3},
                               headers=DESK)
        assert reported.status_code == 201
        assert new_master(client, name="Another")


def test_master_killed_mid_storm_loses_nothing_answered_200(gateway_env, redis_url, tmp_path):
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.start()
    env = gateway_env | cluster_env(cluster, redis_url, ALERTGATE_REDIS_WAIT_REPLICAS="1",
                                    ALERTGATE_REDIS_WAIT_TIMEOUT="500ms", ALERTGATE_REDIS_TIMEOUT="2s")
    gateway = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    try:
        wait_for_http(base + "/healthz", process=gateway)
        victim = next(port for port in cluster.masters() if port != cluster.ports[0])
        events = {}

        def crash() -> None:
            time.sleep(0.4)
            cluster.kill(victim)                            # SIGKILL a master
            started = time.monotonic()
            events["promoted"] = cluster.wait_promoted(victim)  # its replica takes over
            events["failover_s"] = time.monotonic() - started
            cluster.start_node(victim)                      # and comes back as the new replica

        storm(base, batch=1, crash=crash)
        assert events["promoted"] != victim and events["failover_s"] < 30
        cluster.wait_healthy()
        assert_exactly_once(base, RedisCluster.from_url(cluster.url))
    finally:
        stop_process(gateway)
        cluster.stop()


def test_a_gateway_starts_with_its_first_seed_node_down(cluster, redis_url):
    """Issue #28: ALERTGATE_REDIS_URL named one node; with it down at start every ingest was a 503
    although the cluster was ok on its other nodes. Several seeds, comma-separated, now."""
    from alertgate.runtime.embedded_redis import free_port

    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    dead = free_port()
    seeds = ",".join([f"redis://127.0.0.1:{dead}"] + [f"127.0.0.1:{port}" for port in cluster.ports[1:3]])
    env = cluster_env(cluster, redis_url) | {"ALERTGATE_REDIS_URL": seeds}
    with client_for(seeds, **env) as client:
        assert client.get("/readyz", headers=VIEW).json()["checks"]["redis"] == "ok"
        answer = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("SeedDown")), headers=SOURCE)
    assert answer.status_code == 200 and answer.json()["results"][0]["outcome"] == "new"


def test_the_shards_spread_evenly_over_a_default_three_master_split(cluster, redis_url):
    """Issue #28: the first layout put 8 / 16 / 8 shards on the masters of `redis-cli --cluster
    create`. Counted here from the cluster's own slot map, and from where tickets land."""
    import redis
    from redis.crc import key_slot

    from alertgate.keys import BALANCED, BASE32

    # CLUSTER SLOTS: [start, end, [host, port, id], replicas...] per range
    raw = redis.Redis.from_url(cluster.url).execute_command("CLUSTER SLOTS")
    ranges = [(int(entry[0]), int(entry[1]), (entry[2][0], int(entry[2][1]))) for entry in raw]
    per_master: dict = {}
    for shard in BASE32:
        slot = key_slot(f"{{{BALANCED[shard]}}}".encode())
        owner = next(o for start, end, o in ranges if start <= slot <= end)
        per_master[owner] = per_master.get(owner, 0) + 1
    assert sorted(per_master.values()) == [10, 11, 11]


def test_a_window_holds_a_storm_across_the_masters_and_its_end_releases_every_occurrence(cluster, redis_url):
    """SPEC §10 on a Cluster: each key's held alert is kept in its own slot (its state), each
    occurrence refers to it; the release reads both and opens a master and a duplicate per key."""
    import redis
    from datetime import UTC, datetime, timedelta

    from alertgate.workers.maintenance_release import MaintenanceRelease
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP, ROOT

    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    hosts = [f"held{i}" for i in range(40)]
    now = datetime.now(UTC)
    window = {"title": "everything", "all": True, "starts_at": (now - timedelta(minutes=1)).isoformat(),
              "ends_at": (now + timedelta(hours=1)).isoformat()}
    env = cluster_env(cluster, redis_url)
    with client_for(cluster.url, **env) as client:
        window_id = client.post("/api/v1/maintenance", json=window, headers=DESK).json()["window"]["id"]
        for starts in ("2026-12-04T10:00:00Z", "2026-12-04T10:05:00Z"):
            body = am_body(*(am_alert("DiskFull", host=h, starts=starts) for h in hosts))
            results = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"]
            assert {r["outcome"] for r in results} == {"suppressed"}
        client.delete(f"/api/v1/maintenance/{window_id}", headers=DESK)
        settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP,
                                  **env})
        create_worker(settings, redis.Redis.from_url(redis_url))
        assert MaintenanceRelease().run() == "maintenance: 80 released, 0 recovered or gone"
        tickets = client.get("/api/v1/tickets?limit=200", headers=VIEW).json()["tickets"]
        assert sorted(t["kind"] for t in tickets) == ["duplicate"] * 40 + ["master"] * 40
        assert {t["outage_start"] for t in tickets if t["kind"] == "master"} == {"2026-12-04T10:00:00Z"}


def test_correlation_across_slots_stays_correct_when_the_parent_resolves_mid_storm(cluster, redis_url, tmp_path):
    """SPEC §11 on a Cluster: the children (servers) and their parent (a core switch) live in other
    slots. Children arrive from 8 threads while the parent's master is resolved among them; after
    the next sweep no child is left correlated to a resolved master without a recovery (each is
    either a master or still correlated to an unresolved one), and each has one ticket."""
    import shutil
    import threading

    import redis
    from redis.cluster import RedisCluster as Cluster

    from alertgate.settings import load_settings
    from alertgate.workers.correlation_sweep import CorrelationSweep
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP, ROOT

    Cluster.from_url(cluster.url).flushall(target_nodes=Cluster.PRIMARIES)
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    shutil.copytree(ROOT / "tests/fixtures/cmdb", config / "cmdb", dirs_exist_ok=True)
    env = cluster_env(cluster, redis_url, ALERTGATE_CONFIG_DIR=str(config))
    hosts = [f"srv-{n:03d}" for n in range(1, 151)]   # every server behind core-sw1
    with client_for(cluster.url, **env) as client:
        core = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                           json=am_body(am_alert("SwitchDown", "core-sw1"))).json()["results"][0]
        answers: dict[str, dict] = {}
        lock = threading.Lock()

        def send(chunk: list[str]) -> None:
            for host in chunk:
                result = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                                     json=am_body(am_alert("HostDown", host))).json()["results"][0]
                with lock:
                    answers[host] = result

        threads = [threading.Thread(target=send, args=(hosts[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        assert act(client, core["ticket_id"], "resolve", resolution_code="resolved_by_workaround").status_code == 200
        for thread in threads:
            thread.join()
        outcomes = {r["outcome"] for r in answers.values()}
        assert "correlated" in outcomes and outcomes <= {"correlated", "new"} and len(answers) == len(hosts)
        settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP, **env})
        create_worker(settings, redis.Redis.from_url(redis_url))
        CorrelationSweep().run()
        for host, result in answers.items():
            shown = client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]
            assert shown["kind"] == "master", (host, shown["kind"], result["outcome"])
        tickets = client.get("/api/v1/tickets?limit=500", headers=VIEW).json()["tickets"]
        assert sorted(t["ci"] for t in tickets if t["ci"] != "core-sw1") == sorted(hosts)   # one each


def test_closed_masters_leave_the_masters_index_on_every_shard(cluster, redis_url):
    """The sweep's removal (``TicketStore.forget_settled``): a script per master, in its shard's slot."""
    import asyncio

    from redis.asyncio import RedisCluster as AsyncCluster

    from alertgate.keys import masters_key, tag_of, ticket_key
    from alertgate.tickets.store import TicketStore
    from alertgate.workers import recovery

    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    with client_for(cluster.url, **cluster_env(cluster, redis_url)) as client:
        body = am_body(*(am_alert("Settled", host=f"settled{i}") for i in range(30)))
        ids = [r["ticket_id"] for r in client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"]]
        closed = ids[:20]
        for tid in closed:
            assert act(client, tid, "resolve", resolution_code="resolved_by_workaround").status_code == 200
            assert act(client, tid, "close", closure_code="completed").status_code == 200
    state = RedisCluster.from_url(cluster.url)
    for tid in closed:   # (what their jobs leave once done: no worker runs here)
        state.hdel(ticket_key(tid), *(f"owed_{kind}" for kind in recovery.FLAGGED))

    async def forget() -> int:
        client = AsyncCluster.from_url(cluster.url)
        try:
            return await TicketStore(client).forget_settled(ids, recovery.FLAGGED, recovery.SWEEP_ATTEMPTS)
        finally:
            await client.aclose()

    assert len({tid.split("-")[1][0] for tid in closed}) > 5
    assert asyncio.run(forget()) == 20
    left = [tid for tid in ids if state.zscore(masters_key(tag_of(tid)), tid) is not None]
    assert left == ids[20:]


def test_the_scrape_counts_the_intents_and_overdue_timers_of_every_master(cluster, redis_url):
    """``/metrics`` reads the 32 streams and timer sets in one pipeline, routed over the masters."""
    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    with client_for(cluster.url, **cluster_env(cluster, redis_url)) as client:
        body = am_body(*(am_alert("DiskFull", host=f"scraped{i}") for i in range(25)))
        assert client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).status_code == 200
        scraped = client.get("/metrics", headers=VIEW).text
    assert "alertgate_redis_up 1" in scraped
    assert "alertgate_intents_waiting 25\n" in scraped and "alertgate_timers_overdue 0\n" in scraped


def test_duplicates_follow_their_master_a_slice_at_a_time_on_a_cluster(cluster, redis_url):
    """The cascade's scripts name the master's hash and its shard's cascades (one slot); the
    sweep's ``finish_stale`` reads every shard's cascades, routed over the masters."""
    import asyncio

    from redis.asyncio import RedisCluster as AsyncCluster

    from alertgate.keys import ticket_key
    from alertgate.tickets import cascade
    from tests.integration.test_cascade_slices import SLICE, crash_between_slices

    RedisCluster.from_url(cluster.url).flushall(target_nodes=RedisCluster.PRIMARIES)
    hosts = [f"sliced{i}" for i in range(3)]
    count = SLICE + 200
    with client_for(cluster.url, **cluster_env(cluster, redis_url)) as client:
        masters = []
        for host in hosts:
            starts = [f"2026-11-22T03:{n // 60:02d}:{n % 60:02d}Z" for n in range(count + 1)]
            results = []
            for at in range(0, len(starts), 400):
                body = am_body(*(am_alert("Sliced", host=host, starts=s) for s in starts[at:at + 400]))
                results += client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"]
            assert [r["outcome"] for r in results] == ["new"] + ["duplicate"] * count
            masters.append(results[0]["ticket_id"])
        assert act(client, masters[0], "resolve", resolution_code="resolved_by_workaround").status_code == 200
        recovered = am_body(am_alert("Sliced", host=hosts[1], starts=starts[0], status="resolved"))
        assert client.post("/api/v1/alerts/alertmanager", json=recovered, headers=SOURCE).json()["results"][0]["outcome"] == "resolved"
        with crash_between_slices():
            assert act(client, masters[2], "resolve", resolution_code="resolved_by_workaround").status_code == 200
    state = RedisCluster.from_url(cluster.url)

    def resolved(master: str) -> int:
        return sum(state.hget(ticket_key(f"{master}-{k}"), "status") == b"resolved" for k in range(1, count + 1))

    assert [resolved(m) for m in masters] == [count, count, SLICE]

    async def sweep() -> int:
        client = AsyncCluster.from_url(cluster.url)
        try:
            return await cascade.finish_stale(client, 0)
        finally:
            await client.aclose()

    assert asyncio.run(sweep()) == 1
    assert resolved(masters[2]) == count
