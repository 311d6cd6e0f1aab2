"""Maintenance windows over HTTP (SPEC §10): create, list, show, change, end (``intake.windows``)."""

from __future__ import annotations

from datetime import datetime, timezone

from litestar import Request, Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler

from alertgate.credentials import READERS, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, only_parameters, query_int
from alertgate.gateway.media_type import require_json
from alertgate.intake.sources.common import decode_json
from alertgate.intake.windows import InvalidWindow, WindowPlanner, view
from alertgate.maintenance.model import NewWindow, WindowChange
from alertgate.maintenance.store import WindowNotFound
from alertgate.settings import Role

PLANNERS = frozenset({Role.SERVICE_DESK, Role.INCIDENT_MANAGER, Role.ADMIN})


def maintenance_handlers(planner: WindowPlanner, auth: Authenticator) -> list[HTTPRouteHandler]:
    def refused(exc: InvalidWindow) -> Response[bytes]:
        return error_response(400, "invalid maintenance window", [ErrorDetail(exc.path, exc.message)])

    def missing(request: Request) -> Response[bytes]:
        return error_response(404, f"no maintenance window {request.path_params['window_id']}")

    @post("/api/v1/maintenance", status_code=201)
    async def create(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        require_json(request.headers.get("content-type"))
        new = decode_json(await request.body(), NewWindow)
        try:
            return json_response(await planner.create(new, principal.name, datetime.now(timezone.utc)), 201)
        except InvalidWindow as exc:
            return refused(exc)

    @get("/api/v1/maintenance")
    async def list_windows(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("active", "limit", "cursor"))
        wanted = request.query_params.get("active")
        if wanted not in (None, "true", "false"):
            return error_response(400, "invalid query", [ErrorDetail("active", "true or false")])
        now = datetime.now(timezone.utc)
        if wanted == "true":   # (every window in force, read from the live ones: one page)
            for name in ("limit", "cursor"):
                if name in request.query_params:
                    return error_response(400, "invalid query", [ErrorDetail(name, "not with active=true: every window in force is listed")])
            return json_response({"windows": await planner.in_force(now), "next_cursor": None})
        limit = query_int(request, "limit", 500, 1, 1000)
        try:
            views, cursor = await planner.page(now, limit, request.query_params.get("cursor"),
                                               None if wanted is None else False)
        except WindowNotFound:
            return error_response(400, "invalid query", [ErrorDetail("cursor", "not a cursor this API returned")])
        return json_response({"windows": views, "next_cursor": cursor})

    @get("/api/v1/maintenance/{window_id:str}")
    async def show(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        try:
            return json_response(view(await planner.store.get(request.path_params["window_id"]),
                                      datetime.now(timezone.utc)))
        except WindowNotFound:
            return missing(request)

    @patch("/api/v1/maintenance/{window_id:str}", status_code=200)
    async def change(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        require_json(request.headers.get("content-type"))
        update = decode_json(await request.body(), WindowChange)
        try:
            return json_response(await planner.change(request.path_params["window_id"], update, principal.name,
                                                      datetime.now(timezone.utc)))
        except WindowNotFound:
            return missing(request)
        except InvalidWindow as exc:
            return refused(exc)

    @delete("/api/v1/maintenance/{window_id:str}", status_code=200)
    async def end(request: Request) -> Response[bytes]:
        """Ends the window now (its held alerts are released by the worker); the record stays."""
        principal = auth.authorize(request.headers.get("authorization"), PLANNERS)
        try:
            return json_response(await planner.end(request.path_params["window_id"], principal.name,
                                                   datetime.now(timezone.utc)))
        except WindowNotFound:
            return missing(request)

    return [create, list_windows, show, change, end]
