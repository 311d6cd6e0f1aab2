"""Maintenance windows over HTTP (SPEC §10): create, list, show, change, end."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler

from alertgate.gateway.auth import READERS, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response
from alertgate.gateway.media_type import require_json
from alertgate.intake.pipeline import Intake
from alertgate.intake.sources.common import PayloadError, decode_json, sane_time
from alertgate.maintenance import schedule
from alertgate.maintenance.match import MatcherError, compile_matchers
from alertgate.maintenance.model import AuditEntry, NewWindow, Window, WindowChange, WindowView
from alertgate.maintenance.store import WindowNotFound
from alertgate.settings import Role, Settings

PLANNERS = frozenset({Role.SERVICE_DESK, Role.INCIDENT_MANAGER, Role.ADMIN})


class Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def view(window: Window, now: datetime) -> WindowView:
    current = schedule.occurrence_at(window, now)
    return WindowView(window=window, active=current is not None, current=current,
                      next=schedule.next_occurrence(window, current[1] if current else now))


def checked(window: Window, now: datetime, settings: Settings) -> Window:
    """Invalid (naming the field) unless the window can be in force as meant."""
    times = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = sane_time(getattr(window, name), f"$.{name}")  # in UTC (a naive time is UTC)
        except PayloadError as exc:
            raise Invalid(f"$.{name}", exc.detail[0].message) from None
    window = msgspec.structs.replace(window, **times)
    try:
        compile_matchers(window.matchers)
        schedule.check(window, now, float(settings.maintenance.max_duration))
    except MatcherError as exc:
        raise Invalid(exc.path, exc.message) from None
    except schedule.ScheduleError as exc:
        raise Invalid(f"$.{exc.field}", exc.message) from None
    return window


def maintenance_handlers(intake: Intake, auth: Authenticator, settings: Settings) -> list[HTTPRouteHandler]:
    store = intake.windows

    async def changed() -> None:
        await intake.maintenance.refresh(store)  # in force at once in this process; others within 1 s

    def refused(exc: Invalid) -> Response[bytes]:
        return error_response(400, "invalid maintenance window", [ErrorDetail(exc.path, exc.message)])

    @post("/api/v1/maintenance", status_code=201)
    async def create(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        require_json(request.headers.get("content-type"))
        new = decode_json(await request.body(), NewWindow)
        now = datetime.now(timezone.utc)
        window = Window(id="", title=new.title, starts_at=new.starts_at, ends_at=new.ends_at, matchers=new.matchers,
                        all=new.all, recurrence=new.recurrence or None, change_id=new.change_id, comment=new.comment,
                        created_by=principal.name, created_at=now,
                        audit=[AuditEntry(at=now, actor=principal.name, action="created")])
        try:
            checked(window, now, settings)
        except Invalid as exc:
            return refused(exc)
        window = await store.create(msgspec.structs.replace(window, id=await store.new_id()))
        await changed()
        return json_response(view(window, now), 201)

    @get("/api/v1/maintenance")
    async def list_windows(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        wanted = request.query_params.get("active")
        if wanted not in (None, "true", "false"):
            return error_response(400, "invalid query", [ErrorDetail("active", "true or false")])
        now = datetime.now(timezone.utc)
        views = [view(w, now) for w in await store.all()]
        if wanted is not None:
            views = [v for v in views if v.active == (wanted == "true")]
        return json_response({"windows": views})

    @get("/api/v1/maintenance/{window_id:str}")
    async def show(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        try:
            return json_response(view(await store.get(request.path_params["window_id"]), datetime.now(timezone.utc)))
        except WindowNotFound:
            return error_response(404, f"no maintenance window {request.path_params['window_id']}")

    @patch("/api/v1/maintenance/{window_id:str}", status_code=200)
    async def change(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        require_json(request.headers.get("content-type"))
        update = decode_json(await request.body(), WindowChange)
        given = {f: getattr(update, f) for f in WindowChange.__struct_fields__ if getattr(update, f) is not None}
        now = datetime.now(timezone.utc)

        def apply(current: Window) -> Window:
            if current.ended_at is not None:
                raise Invalid("$", "the window was ended; plan a new one")
            fields = dict(given)
            if fields.get("recurrence") == "":
                fields["recurrence"] = None
            entry = AuditEntry(at=now, actor=principal.name, action="changed", note=", ".join(sorted(given)))
            return checked(msgspec.structs.replace(current, **fields, audit=current.audit + [entry]), now, settings)
        try:
            window = await store.change(request.path_params["window_id"], apply)
        except WindowNotFound:
            return error_response(404, f"no maintenance window {request.path_params['window_id']}")
        except Invalid as exc:
            return refused(exc)
        await changed()
        return json_response(view(window, now))

    @delete("/api/v1/maintenance/{window_id:str}", status_code=200)
    async def end(request: Request) -> Response[bytes]:
        """Ends the window now (its held alerts are released by the worker); the record stays."""
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        now = datetime.now(timezone.utc)

        def apply(current: Window) -> Window:
            if current.ended_at is not None:
                return current
            entry = AuditEntry(at=now, actor=principal.name, action="ended")
            return msgspec.structs.replace(current, ended_at=now, audit=current.audit + [entry])
        try:
            window = await store.change(request.path_params["window_id"], apply)
        except WindowNotFound:
            return error_response(404, f"no maintenance window {request.path_params['window_id']}")
        await changed()
        return json_response(view(window, now))

    return [create, list_windows, show, change, end]
