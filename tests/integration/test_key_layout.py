"""Issue #28: the 32 shards land 8 / 16 / 8 on a 3-master Cluster. The balanced layout spreads
them evenly; a Redis of the first layout stays readable as it is, and `alertgate migrate-shards`
moves it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from alertgate import keys
from alertgate.dedup import layout
from tests.conftest import ROOT, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


@pytest.mark.parametrize("masters", [3, 4, 5, 6, 9, 12])
def test_the_balanced_shards_spread_evenly_over_an_even_split_of_the_slots(masters):
    from redis.crc import key_slot

    bounds = [round(16384 * i / masters) for i in range(masters + 1)]
    slots = [key_slot(f"{{{keys.BALANCED[shard]}}}".encode()) for shard in keys.BASE32]
    per_master = [sum(bounds[i] <= s < bounds[i + 1] for s in slots) for i in range(masters)]
    assert max(per_master) - min(per_master) <= 1, per_master


@pytest.fixture
def first_layout():
    """This process on the first layout for one test (the suite runs on the balanced one)."""
    keys.use_layout(1)
    yield
    keys.use_layout(2)


def decide_again(url: str) -> int:
    keys._layout[0] = None
    return layout.ensure_sync(redis.Redis.from_url(url))


def test_a_new_redis_gets_the_balanced_layout_and_a_stored_one_keeps_its_own(redis_url, first_layout):
    with client_for(redis_url) as client:   # (this process is on layout 1 here: keys as before)
        old = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Old")), headers=SOURCE).json()
    store = redis.Redis.from_url(redis_url)
    assert store.exists("ag:{%s}:created" % old["results"][0]["ticket_id"][4])
    assert decide_again(redis_url) == 1 and store.get("ag:layout") == b"1"
    store.flushall()
    assert decide_again(redis_url) == 2 and store.get("ag:layout") == b"2"


def test_migrate_shards_moves_the_keys_and_old_masters_still_take_their_duplicates(redis_url, gateway_env,
                                                                                   first_layout, tmp_path):
    with client_for(redis_url) as client:
        master = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Moved")),
                             headers=SOURCE).json()["results"][0]["ticket_id"]
    store = redis.Redis.from_url(redis_url)
    store.set("ag:layout", "1")
    env = gateway_env | {"ALERTGATE_REDIS_URL": redis_url}
    refused = subprocess.run([sys.executable, "-m", "alertgate", "migrate-shards"], env=env, cwd=tmp_path,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "stop every gateway" in refused.stderr
    done = subprocess.run([sys.executable, "-m", "alertgate", "migrate-shards", "--yes"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "moved" in done.stdout, done.stderr
    assert store.get("ag:layout") == b"2"
    assert not [k for k in store.scan_iter(match="ag:{?}:*")]
    keys._layout[0] = None
    with client_for(redis_url) as client:      # a gateway of the migrated Redis: balanced layout
        assert keys.layout() == 2
        again = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("Moved", starts="2026-11-22T03:05:00Z")),
                            headers=SOURCE).json()["results"][0]
        shown = client.get(f"/api/v1/tickets/{master}", headers=VIEW).json()
    assert again["outcome"] == "duplicate" and again["master_id"] == master
    assert shown["ticket"]["duplicate_count"] == 1
