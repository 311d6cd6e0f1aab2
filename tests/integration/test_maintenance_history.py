"""Maintenance windows pile up (their records stay when they are over: a year of per-host patch
nights is tens of thousands). The processes read only the windows they may still need, the
console shows those and the newest that are over, and the API pages through all of them, on a
real Redis. Before, every change made each gateway process read and compile every window ever
planned (50,000: about 1 s, on the event loop), and the console's page was 24 MB."""

from __future__ import annotations

import asyncio
import math
import re
from datetime import datetime, timedelta, timezone

import msgspec
import pytest
import redis.asyncio as aredis

from alertgate.keys import MAINTENANCE_LIVE, MAINTENANCE_LIVE_BUILT
from alertgate.maintenance.active import ActiveWindows
from alertgate.maintenance.model import AuditEntry, Matcher, Push, Window
from alertgate.maintenance.store import GRACE, WindowStore, needed_until
from tests.conftest import DESK_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_console import sign_in

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
OVER = 1200


def planned(number: int, starts_at: datetime, hours: float = 2, **extra) -> Window:
    return Window(id=f"MW-{number:06d}", title=f"patch host{number}", starts_at=starts_at,
                  ends_at=starts_at + timedelta(hours=hours), matchers=[Matcher(field="ci", op="eq", value=f"host{number}")],
                  created_by="desk", created_at=min(starts_at, datetime.now(timezone.utc)),
                  audit=[AuditEntry(at=starts_at, actor="desk", action="created")], **extra)


async def plant_history(redis_url: str, now: datetime) -> WindowStore:
    """OVER windows of the past year, one every few hours, the way the API left them."""
    store = WindowStore(aredis.Redis.from_url(redis_url))
    for number in range(1, OVER + 1):
        await store.create(planned(number, now - timedelta(days=365) + timedelta(hours=7 * number)))
    await store._redis.set("ag:{mw}:seq", OVER)
    return store


def test_the_processes_read_only_the_windows_not_over_and_the_index_is_built_for_older_records(redis_url):
    now = datetime.now(timezone.utc)

    async def scenario():
        store = await plant_history(redis_url, now)
        current = await store.create(planned(OVER + 1, now - timedelta(minutes=5)))
        coming = await store.create(planned(OVER + 2, now + timedelta(days=1)))
        weekly = await store.create(planned(OVER + 3, now - timedelta(days=300), recurrence="FREQ=WEEKLY"))
        wanted = {current.id, coming.id, weekly.id}
        assert {w.id for w in await store.live(now)} == wanted
        active = ActiveWindows()
        await active.refresh(store)
        assert {w.id for w, _ in active._windows} == wanted
        assert [window_id for window_id, _ in active.in_force(now)] == [current.id]
        # records kept before the index: it is built once, from them
        await store._redis.delete(MAINTENANCE_LIVE, MAINTENANCE_LIVE_BUILT)
        assert {w.id for w in await store.live(now)} == wanted
        assert await store._redis.zcard(MAINTENANCE_LIVE) == OVER + 3 and await store._redis.exists(MAINTENANCE_LIVE_BUILT)
        await store._redis.aclose()
    asyncio.run(scenario())
    with client_for(redis_url) as client:
        answer = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("Down", f"host{OVER + 1}")))
        assert answer.json()["results"][0]["outcome"] == "suppressed"
        answer = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("Down", "host3")))
        assert answer.json()["results"][0]["outcome"] == "new"


def test_a_window_is_needed_while_a_push_for_it_holds_or_must_be_retried():
    now = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
    window = planned(1, now - timedelta(hours=3))
    assert needed_until(window) == window.ends_at.timestamp() + GRACE
    ended = msgspec.structs.replace(window, ended_at=now - timedelta(hours=2, minutes=30))
    assert needed_until(ended) == ended.ended_at.timestamp() + GRACE
    silence = Push(status="pushed", remote_id="s1", starts_at=window.starts_at, ends_at=now + timedelta(days=1))
    assert needed_until(msgspec.structs.replace(ended, pushes={"alertmanager:am": silence})) == \
        silence.ends_at.timestamp() + GRACE
    failed = Push(status="failed", remote_id="s1", error="refused", attempts=3)
    assert needed_until(msgspec.structs.replace(ended, pushes={"alertmanager:am": failed})) == math.inf
    assert needed_until(msgspec.structs.replace(window, recurrence="FREQ=DAILY")) == math.inf


def test_the_api_pages_through_every_window_newest_first_and_the_console_shows_the_newest_over(redis_url):
    now = datetime.now(timezone.utc)

    async def plant():
        store = await plant_history(redis_url, now)
        await store._redis.aclose()
    asyncio.run(plant())
    with client_for(redis_url) as client:
        body = {"title": "db9 disk swap", "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(), "matchers": [{"field": "ci", "op": "eq", "value": "db9"}]}
        current = client.post("/api/v1/maintenance", headers=DESK, json=body).json()["window"]["id"]
        assert [v["window"]["id"] for v in client.get("/api/v1/maintenance?active=true", headers=VIEW).json()["windows"]] == [current]
        seen, cursor = [], None
        while True:
            page = client.get("/api/v1/maintenance", headers=VIEW,
                              params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
            seen += [v["window"]["id"] for v in page["windows"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == OVER + 1 and seen[0] == current and seen == sorted(seen, reverse=True)
        inactive = client.get("/api/v1/maintenance?active=false&limit=10", headers=VIEW).json()
        assert len(inactive["windows"]) == 9 and inactive["next_cursor"]   # (a page may be short when filtered)
        assert client.get("/api/v1/maintenance?cursor=MW-999999", headers=VIEW).status_code == 400
        assert client.get("/api/v1/maintenance?limit=0", headers=VIEW).status_code == 400
        assert client.get("/api/v1/maintenance?active=true&limit=5", headers=VIEW).status_code == 400

        sign_in(client, DESK_SECRET)
        page = client.get("/console/maintenance").text
        rows = re.findall(r'<tr data-window="(MW-\d+)"', page)
        assert rows[0] == current and len(rows) == 51 and rows[1:] == [f"MW-{n:06d}" for n in range(OVER, OVER - 50, -1)]
        assert f"{OVER - 50} earlier windows are over" in page
        assert len(page) < 100_000
