"""An Alertmanager started less than ``reconcile.restart_grace`` ago is not asked which alerts it
has (it keeps them in memory: restarted, it has only those sent since)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from alertgate.intake.sources.common import SourceContext
from alertgate.reconcile.alertmanager import SourceUnavailable, present_keys
from alertgate.settings import AlertmanagerApi

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
API = AlertmanagerApi(urls=["http://am-1:9093"], name="main")


def ask(status: httpx.Response, grace: float) -> tuple[set, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return status if request.url.path == "/api/v2/status" else httpx.Response(200, json=[])

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await present_keys(API, client, SourceContext(NOW, (), ()), None, None, NOW, grace)
    return asyncio.run(run()), asked


def started(ago: timedelta) -> httpx.Response:
    return httpx.Response(200, json={"uptime": (NOW - ago).isoformat().replace("+00:00", "Z"), "cluster": {}})


def test_an_alertmanager_started_within_the_grace_is_not_trusted():
    with pytest.raises(SourceUnavailable, match=r"started 10 s ago"):
        ask(started(timedelta(seconds=10)), 300)


def test_one_up_long_enough_without_the_status_api_or_with_no_grace_is_asked():
    assert ask(started(timedelta(hours=1)), 300) == (set(), ["/api/v2/status", "/api/v2/alerts"])
    assert ask(httpx.Response(404), 300) == (set(), ["/api/v2/status", "/api/v2/alerts"])
    assert ask(started(timedelta(seconds=10)), 0) == (set(), ["/api/v2/alerts"])


def test_a_start_time_without_its_zone_is_read_as_utc():
    naive = httpx.Response(200, json={"uptime": (NOW - timedelta(seconds=30)).replace(tzinfo=None).isoformat()})
    with pytest.raises(SourceUnavailable, match=r"started 30 s ago"):
        ask(naive, 300)


def test_a_status_that_cannot_be_read_is_no_answer():
    for broken in (httpx.Response(500), httpx.Response(200, content=b"{not json")):
        with pytest.raises(SourceUnavailable):
            ask(broken, 300)
