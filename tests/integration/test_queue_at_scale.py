"""The work queue, the console's queue, a report's suggested masters and the KPIs over more
masters than one chunk of the masters index (tickets/shortlist.py, kpi/compute.ReportTally):
each reader keeps the first few of each chunk it reads, or its sums, and what it shows is what a
sort of every unresolved master gives.

Measured before (650,000 unresolved masters after a storm, `alertgate run`): the queue answered
in 36 s, the console's queue in 34 s, and opening a user's report took 23 s, the process holding
every master as a ticket until the sort (half of it garbage collection)."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aredis

from alertgate.dedup import layout
from alertgate.tickets import queue
from alertgate.tickets.store import TicketStore
from tests.conftest import DESK_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_console import sign_in
from tests.integration.test_dedup_http import DESK

pytestmark = pytest.mark.integration
MASTERS = 2_600   # three chunks of the masters index (1,000 each)
SEVERITIES = ("warning", "critical", "high", "info", "average")


def every_master_sorted(redis_url: str, key) -> list[str]:
    async def read() -> list[str]:
        client = aredis.Redis.from_url(redis_url)
        try:
            await layout.ensure(client)
            found = [t async for chunk in TicketStore(client).unresolved_masters(queue.QUEUE_FIELDS) for t in chunk]
            return [t.id for t in sorted(found, key=key)]
        finally:
            await client.aclose()
    return asyncio.run(read())


def test_the_queues_and_suggestions_over_thousands_of_masters_are_a_sort_of_them_all(redis_url):
    with client_for(redis_url) as client:
        ids: dict[str, str] = {}
        for first in range(0, MASTERS, 1_300):
            alerts = [am_alert(f"Check{n % 7}", f"h{n}", severity=SEVERITIES[n % len(SEVERITIES)])
                      for n in range(first, first + 1_300)]
            answer = client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(*alerts))
            assert answer.status_code == 200, answer.text
            for n, result in zip(range(first, first + 1_300), answer.json()["results"]):
                assert result["outcome"] == "new"
                ids[f"h{n}"] = result["ticket_id"]

        by_due = every_master_sorted(redis_url, queue.soonest_due_first)
        assert len(by_due) == MASTERS
        page = client.get("/api/v1/queue?limit=7", headers=DESK).json()
        assert [t["id"] for t in page["tickets"]] == by_due[:7] and page["more"] == MASTERS - 7
        wide = client.get("/api/v1/queue?limit=1000", headers=DESK).json()
        assert [t["id"] for t in wide["tickets"]] == by_due[:1000] and wide["more"] == MASTERS - 1000
        critical = client.get("/api/v1/queue?limit=3&sender=alertmanager&breached=false", headers=DESK).json()
        assert [t["id"] for t in critical["tickets"]] == by_due[:3]

        sign_in(client, DESK_SECRET)
        rows = client.get("/console/queue/rows")
        assert rows.status_code == 200
        by_priority = every_master_sorted(redis_url, queue.priority_first)
        shown = re.findall(r'href="/console/tickets/([^"]+)"', rows.text)
        assert list(dict.fromkeys(shown)) == by_priority[:300]
        assert re.search(r'id="more">[^<]*2300<', rows.text)

        kpi = client.get("/api/v1/kpi?from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z&by=group", headers=DESK)
        assert kpi.status_code == 200, kpi.text
        assert kpi.json()["overall"]["incidents"] == MASTERS   # (read a chunk at a time: kpi/compute.ReportTally)
        assert sum(part["incidents"] for part in kpi.json()["by_priority"].values()) == MASTERS
        assert kpi.json()["by_priority"]["1"]["incidents"] == MASTERS // len(SEVERITIES)   # (every critical one)

        report = client.post("/api/v1/tickets", headers=DESK,
                             json={"title": "the app on H17 is down", "ci": "H17", "impact": 3, "urgency": 3})
        assert report.status_code == 201, report.text
        assert report.json()["suggested_masters"] == [ids["h17"]]
