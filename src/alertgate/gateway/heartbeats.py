"""Heartbeats over HTTP (SPEC §9): ping, list, inspect, pause, resume, delete."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import datetime, timezone

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.handlers import HTTPRouteHandler

from alertgate.credentials import ANY_ROLE, INGEST, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, only_parameters
from alertgate.gateway.media_type import require_json
from alertgate.heartbeats.clock import DefinitionError, upcoming
from alertgate.heartbeats.model import NAME_PATTERN, Definition, Heartbeat, HeartbeatStatus, PingAnswer, view
from alertgate.heartbeats.store import HeartbeatLimitReached, HeartbeatNotFound
from alertgate.intake.heartbeats import HeartbeatFeed
from alertgate.intake.sources.common import PayloadError, decode_json
from alertgate.settings import Role

MANAGERS = frozenset({Role.INCIDENT_MANAGER, Role.ADMIN})
_NAME = re.compile(NAME_PATTERN)
STATUSES = tuple(status.value for status in HeartbeatStatus)   # (the list's ?status= filter)


def _name(request: Request) -> str:
    name = request.path_params["name"]
    if not _NAME.match(name):
        raise PayloadError("invalid heartbeat name", [ErrorDetail("name", "1 to 200 of letters, digits and _ . : @ -")])
    return name


async def _reported(name: str, report: Awaitable[Heartbeat]) -> Response[bytes]:
    """The answer to a ping or a failure report: the heartbeat's state, or why none was kept."""
    try:
        heartbeat = await report
    except HeartbeatNotFound:
        return error_response(404, f"no heartbeat {name} (heartbeats.auto_register is off)")
    except HeartbeatLimitReached as exc:
        return error_response(409, str(exc), [ErrorDetail(
            "name", "remove unused heartbeats (DELETE) or raise heartbeats.auto_register_limit")])
    return json_response(PingAnswer(heartbeat.name, heartbeat.status, heartbeat.expires_at))


def heartbeat_handlers(feed: HeartbeatFeed, auth: Authenticator) -> list[HTTPRouteHandler]:
    store = feed.store

    def missing(name: str) -> Response[bytes]:
        return error_response(404, f"no heartbeat {name}")

    @post("/api/v1/heartbeats/{name:str}", status_code=200)
    async def ping(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), INGEST)
        name = _name(request)
        body = await request.body()
        definition = None
        if body.strip():
            require_json(request.headers.get("content-type"))
            definition = decode_json(body, Definition)
        try:
            return await _reported(name, feed.ping(name, definition, datetime.now(timezone.utc)))
        except DefinitionError as exc:
            return error_response(400, "invalid heartbeat", [ErrorDetail(f"$.{exc.field}", exc.message)])

    @post("/api/v1/heartbeats/{name:str}/fail", status_code=200)
    async def fail(request: Request) -> Response[bytes]:
        """A job reports that it failed: expired now, its ticket opened at once (Healthchecks'
        /fail); the next ping recovers it."""
        auth.authorize(request.headers.get("authorization"), INGEST)
        name = _name(request)
        return await _reported(name, feed.fail(name, datetime.now(timezone.utc)))

    @get("/api/v1/heartbeats")
    async def list_heartbeats(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        only_parameters(request.query_params, ("status",))
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in STATUSES:
            return error_response(400, "invalid query", [ErrorDetail("status", f"one of {', '.join(STATUSES)}")])
        now = datetime.now(timezone.utc)
        return json_response({"heartbeats": [view(hb, now) for hb in await store.all()
                                             if wanted is None or hb.status.value == wanted]})

    @get("/api/v1/heartbeats/{name:str}")
    async def get_heartbeat(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        name = _name(request)
        heartbeat = await store.get(name)
        if heartbeat is None:
            return missing(name)
        now = datetime.now(timezone.utc)
        return json_response(msgspec.structs.replace(view(heartbeat, now), next_expected=upcoming(heartbeat, now)))

    @delete("/api/v1/heartbeats/{name:str}", status_code=200)  # (204 set on the answer)
    async def delete_heartbeat(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), frozenset({Role.ADMIN}))
        name = _name(request)
        return Response(b"", status_code=204) if await store.delete(name) else missing(name)

    def switch(path: str, resume: bool):
        @post(path, status_code=200, name=f"heartbeat-{'resume' if resume else 'pause'}")
        async def handler(request: Request) -> Response[bytes]:
            auth.authorize(request.headers.get("authorization"), MANAGERS)
            name = _name(request)
            try:
                heartbeat = await (feed.resume(name, datetime.now(timezone.utc)) if resume else feed.pause(name))
            except HeartbeatNotFound:
                return missing(name)
            return json_response(view(heartbeat, datetime.now(timezone.utc)))
        return handler

    return [ping, fail, list_heartbeats, get_heartbeat, delete_heartbeat,
            switch("/api/v1/heartbeats/{name:str}/pause", False), switch("/api/v1/heartbeats/{name:str}/resume", True)]
