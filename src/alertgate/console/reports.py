"""The handbook's KPIs for a period (``kpi.report``, as ``/api/v1/kpi`` and ``alertgate report``),
with bar charts drawn as SVG on the server (no chart library, no script) and a CSV download of
the same rows as ``alertgate report --format csv``."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis

from alertgate.console.pages import Console, Refused
from alertgate.console.render import PAGE_HEADERS
from alertgate.kpi.compute import BY, Report, rows
from alertgate.kpi.report import kpi_report

BAR_WIDTH = 320


def period(request: Request, zone: tzinfo = timezone.utc) -> tuple[date, date]:
    """[from, to] as whole days of the console's zone; the last 30 days by default."""
    today = datetime.now(zone).date()
    try:
        start = date.fromisoformat(request.query_params.get("from") or str(today - timedelta(days=30)))
        end = date.fromisoformat(request.query_params.get("to") or str(today))
    except ValueError:
        raise Refused(400, "Dates are written YYYY-MM-DD.") from None
    if end < start or (end - start).days > 3660:
        raise Refused(400, "The period must end after it starts, within ten years.")
    return start, end


def bars(values: list[tuple[str, float, str]]) -> list[tuple[str, float, str, int]]:
    """(label, value, shown, width in px) scaled to the largest value."""
    top = max((v for _, v, _ in values), default=0) or 1
    return [(label, value, shown, int(round(BAR_WIDTH * value / top))) for label, value, shown in values]


def charts(report: Report) -> dict[str, list]:
    pct = lambda ratio: f"{ratio * 100:.0f}%"  # noqa: E731
    return {
        "priority": bars([(f"P{k}", v.incidents, str(v.incidents)) for k, v in report.by_priority.items()]),
        "category": bars([(k, v.incidents, str(v.incidents)) for k, v in report.by_category.items()]),
        "sla": bars([(f"P{k}", v.resolved_within_sla.ratio, pct(v.resolved_within_sla.ratio))
                     for k, v in report.by_priority.items()]),
        "first_line": bars([(f"P{k}", v.first_line_resolution.ratio, pct(v.first_line_resolution.ratio))
                            for k, v in report.by_priority.items()]),
    }


def report_handlers(console: Console, redis: Redis) -> list[HTTPRouteHandler]:
    async def computed(request: Request) -> tuple[date, date, Report]:
        zone = console.renderer.zone
        start, end = period(request, zone)
        by = request.query_params.get("by") or None
        if by is not None and by not in BY:
            raise Refused(400, "A report is by CI, group, staff or requester.")
        begin = datetime.combine(start, time(), zone).astimezone(timezone.utc)
        until = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(timezone.utc)
        return start, end, await kpi_report(redis, begin, until, by)

    @get("/console/reports", include_in_schema=False)
    async def reports(request: Request) -> Response:
        try:
            session = await console.session(request)
            start, end, report = await computed(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        return console.page(request, session, "reports.html", start=start, end=end, report=report,
                            charts=charts(report), bar_width=BAR_WIDTH, dimensions=BY)

    @get("/console/reports.csv", include_in_schema=False)
    async def reports_csv(request: Request) -> Response:
        try:
            await console.session(request)
            start, end, report = await computed(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["scope", "key", "indicator", "value", "ratio"])
        writer.writeheader()
        writer.writerows(rows(report))
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            **PAGE_HEADERS, "Content-Disposition":
            f'attachment; filename="alertgate-kpi-{start}-{end}{"-" + report.by if report.by else ""}.csv"'})

    return [reports, reports_csv]
