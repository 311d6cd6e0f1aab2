"""Maintenance windows and heartbeats in the console: list, plan and end windows (the planner of
``/api/v1/maintenance``), and every heartbeat with its age."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from alertgate.console import i18n
from alertgate.console.pages import PLANNERS, Console, Refused, redirect
from alertgate.heartbeats.model import view as heartbeat_view
from alertgate.heartbeats.store import HeartbeatStore
from alertgate.intake.windows import InvalidWindow, WindowPlanner
from alertgate.maintenance.model import NewWindow
from alertgate.maintenance.store import WindowNotFound


def matchers_from(text: str) -> list[dict]:
    """One matcher a line: ``<field> <op> <value>``; ``in`` takes values separated by commas."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 2)
        if len(parts) != 3:
            raise InvalidWindow(f"matchers line {number}", "write <field> <eq|re|in> <value>")
        field, op, value = parts
        found.append({"field": field, "op": op, "value": [v.strip() for v in value.split(",")] if op == "in" else value})
    return found


def form_moment(text: str, field: str, zone: tzinfo) -> datetime:
    """A browser's datetime-local value (no zone: the console's, as the form says) or an RFC 3339
    time, in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidWindow(f"$.{field}", "write a date and time, YYYY-MM-DDTHH:MM") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(timezone.utc)


RECENT_OVER = 50   # windows that are over, newest first, shown below those in force or to come


def planning_handlers(console: Console, planner: WindowPlanner, heartbeats: HeartbeatStore) -> list[HTTPRouteHandler]:
    async def page(request: Request, session, status: int = 200, error: str | None = None, form: dict | None = None):
        now = datetime.now(timezone.utc)
        views = await planner.not_over(now)
        shown = {v.window.id for v in views}
        recent, _ = await planner.page(now, RECENT_OVER + len(views))
        views += [v for v in recent if v.window.id not in shown][:RECENT_OVER]
        return console.page(request, session, "maintenance.html", status, windows=views, error=error,
                            earlier=max(0, await planner.store.count() - len(views)),
                            form=form or {}, can_plan=session.role in PLANNERS, done=request.query_params.get("done"))

    @get("/console/maintenance", include_in_schema=False)
    async def windows(request: Request) -> Response:
        try:
            session = await console.session(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        return await page(request, session)

    async def planning(request: Request):
        session = await console.session(request)
        form = await console.form(request, session)
        if session.role not in PLANNERS:
            raise Refused(403, "Your role may not plan maintenance windows.")
        return session, form

    @post("/console/maintenance", include_in_schema=False, status_code=303)
    async def create(request: Request) -> Response:
        _ = i18n.gettext(console.lang(request))
        try:
            session, form = await planning(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        try:
            new = msgspec.convert({
                "title": form.get("title", "").strip(), "starts_at": form_moment(form.get("starts_at", ""), "starts_at", console.renderer.zone),
                "ends_at": form_moment(form.get("ends_at", ""), "ends_at", console.renderer.zone), "all": form.get("all") == "true",
                "recurrence": form.get("recurrence", "").strip() or None,
                "timezone": None if console.renderer.zone_name == "UTC" else console.renderer.zone_name,
                "change_id": form.get("change_id", "").strip() or None,
                "comment": form.get("comment", "").strip() or None,
                "matchers": matchers_from(form.get("matchers", ""))}, NewWindow, strict=False)
            created = await planner.create(new, session.name, datetime.now(timezone.utc))
        except InvalidWindow as exc:
            return await page(request, session, 400, f"{_('The window is not valid:')} {exc.path}: {exc.message}", form)
        except msgspec.ValidationError as exc:
            return await page(request, session, 400, f"{_('The window is not valid:')} {exc}", form)
        return redirect(f"/console/maintenance?done={created.window.id}")

    @post("/console/maintenance/{window_id:str}/end", include_in_schema=False, status_code=303)
    async def end(request: Request) -> Response:
        window_id = request.path_params["window_id"]
        try:
            session, _form = await planning(request)
            await planner.end(window_id, session.name, datetime.now(timezone.utc))
        except Refused as refusal:
            return console.refused(request, None, refusal)
        except WindowNotFound:
            return console.refused(request, None, Refused(404, "There is no such maintenance window."))
        return redirect(f"/console/maintenance?done={window_id}")

    @get("/console/heartbeats", include_in_schema=False)
    async def heartbeat_list(request: Request) -> Response:
        try:
            session = await console.session(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        now = datetime.now(timezone.utc)
        views = sorted((heartbeat_view(hb, now) for hb in await heartbeats.all()), key=lambda v: v.name)
        return console.page(request, session, "heartbeats.html", heartbeats=views)

    return [windows, create, end, heartbeat_list]
