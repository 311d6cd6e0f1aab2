"""A failover behind one address (a DNS name such as ElastiCache's primary endpoint, a
Kubernetes service, a virtual IP): the old master, demoted to a replica of the promoted one,
still holds the gateway's pooled connections and answers every write ``READONLY``. New
connections reach the new master. The gateway drops its pool after such an answer, so the
sender's retry lands on the new master; it used to answer 503 until restarted (redis-py reuses a
connection after a ``ResponseError``: redis/redis-py#1764, #935)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from alertgate.runtime.connections import find_again, find_again_sync
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
URL = "/api/v1/alerts/alertmanager"
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


class OneAddress:
    """A TCP forwarder: each new connection goes to the current backend (what a DNS name or a
    virtual IP does); connections made before a switch stay where they were."""

    def __init__(self, backend: int) -> None:
        self.backend = backend
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.backend))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def pair(tmp_path):
    first = EmbeddedRedis(tmp_path / "first", port=free_port())
    second = EmbeddedRedis(tmp_path / "second", port=free_port())
    first.start()
    second.start()
    yield first, second
    first.stop()
    second.stop()


def replicate(replica: redis.Redis, master_port: int) -> None:
    replica.replicaof("127.0.0.1", master_port)
    for _ in range(200):
        if replica.info("replication").get("master_link_status") == "up":
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not sync")


def fail_over(first: EmbeddedRedis, second: EmbeddedRedis, address: OneAddress) -> None:
    """The replica promoted, the old master its replica, the name moved."""
    old, new = redis.Redis(port=first.port), redis.Redis(port=second.port)
    try:
        replicate(new, first.port)
        old.wait(1, 5000)
        new.replicaof("NO", "ONE")
        replicate(old, second.port)
        address.backend = second.port
    finally:
        old.close()
        new.close()


def test_the_workers_clients_find_the_new_master_after_a_readonly(pair):
    """What the worker's intents consumer (asyncio) and sweep clocks (sync) do after a fault."""
    import asyncio

    import redis.asyncio

    first, second = pair
    address = OneAddress(first.port)
    sync_client, async_client = redis.Redis.from_url(address.url), redis.asyncio.Redis.from_url(address.url)

    async def async_writes(then) -> None:
        await async_client.set("before", 1)
        then()
        with pytest.raises(redis.ReadOnlyError) as refused:
            await async_client.set("after", 1)
        await find_again(async_client, refused.value)
        assert await async_client.set("after", 2)
        await async_client.aclose()

    try:
        sync_client.set("before", 1)
        asyncio.run(async_writes(then=lambda: fail_over(first, second, address)))
        with pytest.raises(redis.ReadOnlyError) as refused:
            sync_client.set("after", 3)
        find_again_sync(sync_client, refused.value)
        assert sync_client.set("after", 4)
    finally:
        sync_client.close()
        address.close()


def test_after_a_failover_behind_one_address_the_retry_lands_on_the_new_master(pair):
    first, second = pair
    address = OneAddress(first.port)
    try:
        with client_for(address.url) as client:
            before = am_body(*(am_alert(f"Before{n}", host=f"web-{n}") for n in range(20)))
            assert client.post(URL, json=before, headers=SOURCE).status_code == 200
            fail_over(first, second, address)

            after = am_body(*(am_alert(f"After{n}", host=f"web-{n}") for n in range(20)), *before["alerts"])
            answers = []
            for _ in range(10):
                answer = client.post(URL, json=after, headers=SOURCE)
                answers.append(answer.status_code)
                if answer.status_code == 200:
                    break
                assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
                time.sleep(1.1)
            assert answers[-1] == 200, f"still refused after {len(answers)} tries: {answers}"
            outcomes = [result["outcome"] for result in answer.json()["results"]]
            assert outcomes == ["new"] * 20 + ["repeat"] * 20
            assert client.get("/readyz", headers=VIEW).status_code == 200
    finally:
        address.close()
