"""The KPI report over stored tickets (the adapter beside ``compute.py``): for the API and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from redis.asyncio import Redis

from alertgate.kpi.compute import Report, ReportTally
from alertgate.problems.store import ProblemStore
from alertgate.tickets.store import TicketStore

# A fault may begin before its ticket is registered: look that far back for registrations.
REGISTRATION_LAG = timedelta(days=1)


async def kpi_report(redis: Redis, start: datetime, end: datetime, by: str | None = None) -> Report:
    """``by``: ci, group, requester or staff (``compute.BY``); staff reads the timelines too."""
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    since = start - REGISTRATION_LAG if start - earliest > REGISTRATION_LAG else earliest
    tally = ReportTally(await ProblemStore(redis).linked_incidents(), start, end, by)
    async for chunk in TicketStore(redis).masters_created_between(since, end, timelines=by == "staff"):
        for ticket in chunk:
            tally.add(ticket)
    return tally.report()
