"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/v1/openapi.json``.

The handlers read raw bytes and decode them with msgspec themselves (that is the fast path), so
Litestar cannot see their bodies; this document is built from the same Structs the handlers
decode and encode, so it cannot drift from them. Schemathesis runs against it in the tests.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from alertgate.credentials import READERS, Authenticator
from alertgate.correlation.catalogue import CIBody
from alertgate.gateway.cis import ORIGINS, CIList, CIView, Removed, UnknownCIs
from alertgate.gateway.errors import ErrorBody
from alertgate.gateway.intake import IngestResponse
from alertgate.gateway.rules import RuleTest
from alertgate.intake.sources import REGISTRY
from alertgate.gateway.tickets import DuplicatePage, NewTicket, QueuePage, TicketDetail, TicketPage
from alertgate.heartbeats.model import NAME_PATTERN, Definition, HeartbeatView, PingAnswer
from alertgate.maintenance.model import NewWindow, WindowChange, WindowView
from alertgate.problems.store import Problem
from alertgate.tickets.lifecycle import Action, ActionRequest
from alertgate.tickets.model import Ticket
from alertgate.tickets.timeline import TimelinePage

DOCUMENT_PATH = "/api/v1/openapi.json"
_TYPES: list[Any] = [NewTicket, ActionRequest, RuleTest,
                     IngestResponse, ErrorBody, TicketPage, TicketDetail, Ticket, Problem,
                     Definition, PingAnswer, HeartbeatView, NewWindow, WindowChange, WindowView,
                     CIBody, CIList, CIView, Removed, UnknownCIs, QueuePage, TimelinePage, DuplicatePage]
_ERRORS = {
    "400": "malformed JSON, wrong types or missing fields; `detail` names each path",
    "401": "no credential, or an unknown one",
    "403": "the credential's role may not do this",
    "404": "no such ticket, problem, action or heartbeat",
    "409": "the state forbids it (a ticket's status: the body lists the allowed actions; a CI a file "
           "defines; the heartbeat limit reached)",
    "413": "body larger than `body_limit`",
    "415": "the body is not sent as JSON (Content-Type application/json, application/*+json, text/plain or none)",
    "422": "rule files rejected; the running rules are kept",
    "429": "rate limit of this credential exceeded (Retry-After)",
    "503": "state store unavailable: retry after Retry-After; a retry doubles nothing",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _operation(summary: str, ok: tuple[str, dict | None], body: dict | None = None,
               errors: tuple[str, ...] = ("400", "401", "403", "429", "503"),
               parameters: list[dict] | None = None, public: bool = False) -> dict:
    status, schema = ok
    responses: dict[str, Any] = {status: {"description": "done", **({"content": _json(schema)} if schema else {})}}
    for code in errors:
        responses[code] = {"description": _ERRORS.get(code, "refused"), "content": _json(_ref("ErrorBody"))}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


def _created_too(operation: dict) -> dict:
    """An operation that answers 201 with the same body when it creates (a PUT)."""
    operation["responses"]["201"] = {**operation["responses"]["200"], "description": "created"}
    return operation


def _param(name: str, where: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def openapi_document() -> dict:
    sources = list(REGISTRY.values())
    bodies, components = msgspec.json.schema_components([s.payload for s in sources] + _TYPES,
                                                        ref_template="#/components/schemas/{name}")
    text, when = {"type": "string"}, {"type": "string", "format": "date-time"}
    ticket_id = _param("ticket_id", "path", text)
    ci_name = _param("name", "path", text)
    heartbeat = _param("name", "path", {"type": "string", "pattern": NAME_PATTERN})
    window_id = _param("window_id", "path", text)
    paths: dict[str, dict] = {
        **{source.path: {"post": _operation(source.summary, ("200", _ref("IngestResponse")), body,
                                            ("400", "401", "403", "413", "415", "429", "503"))}
           for source, body in zip(sources, bodies)},
        "/api/v1/tickets": {
            "get": _operation("Tickets, newest first", ("200", _ref("TicketPage")), parameters=[
                *(_param(name, "query", text) for name in ("status", "kind", "ci", "priority", "source", "alert_source",
                                                           "cursor")),
                _param("since", "query", when),
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
            ], errors=("400", "401", "403", "503")),
            "post": _operation("Open a user-reported ticket", ("201", _ref("Ticket")), _ref("NewTicket"),
                               errors=("400", "401", "403", "415", "429", "503")),
        },
        "/api/v1/tickets/{ticket_id}": {"get": _operation(
            "One ticket, its newest 200 duplicates (duplicates_omitted: how many before) and its recurrences; "
            "a timeline longer than 220 entries shows the first 20 and the newest 200 (timeline_omitted: how "
            "many between)", ("200", _ref("TicketDetail")),
            parameters=[ticket_id], errors=("401", "403", "404", "503"))},
        "/api/v1/tickets/{ticket_id}/duplicates": {"get": _operation(
            "Every duplicate of a master by its place, oldest first, in pages", ("200", _ref("DuplicatePage")),
            parameters=[ticket_id, _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": 10**9}),
                        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 5000})],
            errors=("400", "401", "403", "404", "503"))},
        "/api/v1/tickets/{ticket_id}/timeline": {"get": _operation(
            "Every entry of a ticket's timeline by its place, in pages", ("200", _ref("TimelinePage")),
            parameters=[ticket_id, _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": 10**9}),
                        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})],
            errors=("400", "401", "403", "404", "503"))},
        "/api/v1/tickets/{ticket_id}/actions/{action}": {"post": _operation(
            "A lifecycle action (409 with the allowed actions when the status forbids it)",
            ("200", _ref("Ticket")), _ref("ActionRequest"),
            parameters=[ticket_id, _param("action", "path", {"type": "string", "enum": [a.value for a in Action]})],
            errors=("400", "401", "403", "404", "409", "415", "503"))},
        "/api/v1/rules/test": {"post": _operation(
            "Run a payload through the rules; nothing is stored (admin)", ("200", {"type": "object"}), _ref("RuleTest"),
            ("400", "401", "403", "415", "503"))},
        "/api/v1/rules/reload": {"post": _operation(
            "Reload the rule files (admin)", ("200", {"type": "object"}), errors=("401", "403", "422"))},
        "/api/v1/problems": {"get": _operation(
            "Problem records", ("200", {"type": "object"}), errors=("400", "401", "403", "503"), parameters=[
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
                _param("offset", "query", {"type": "integer", "minimum": 0})])},
        "/api/v1/problems/{problem_id}": {"get": _operation(
            "One problem record", ("200", _ref("Problem")), parameters=[_param("problem_id", "path", text)],
            errors=("401", "403", "404", "503"))},
        "/api/v1/kpi": {"get": _operation(
            "Incident KPIs over a period (default: the last 30 days)", ("200", {"type": "object"}),
            parameters=[_param("from", "query", when), _param("to", "query", when),
                        _param("by", "query", {"type": "string", "enum": ["ci", "group", "staff", "requester"]})],
            errors=("400", "401", "403", "503"))},
        "/api/v1/heartbeats": {"get": _operation(
            "Every heartbeat (or those of one status): status, last seen, deadline, age (any role)",
            ("200", {"type": "object", "properties": {"heartbeats": {"type": "array", "items": _ref("HeartbeatView")}}}),
            parameters=[_param("status", "query", {"type": "string", "enum": ["ok", "expired", "paused"]})],
            errors=("400", "401", "503"))},
        "/api/v1/heartbeats/{name}": {
            "post": {**_operation(
                "A ping (source, admin); an optional body registers or changes the heartbeat; a new name is "
                "409 once heartbeats.auto_register_limit heartbeats exist",
                ("200", _ref("PingAnswer")), errors=("400", "401", "403", "404", "409", "415", "503"),
                parameters=[heartbeat]), "requestBody": {"required": False, "content": _json(_ref("Definition"))}},
            "get": _operation("One heartbeat (any role)", ("200", _ref("HeartbeatView")), parameters=[heartbeat],
                              errors=("400", "401", "404", "503")),
            "delete": _operation("Remove a heartbeat (admin)", ("204", None), parameters=[heartbeat],
                                 errors=("400", "401", "403", "404", "503")),
        },
        "/api/v1/heartbeats/{name}/fail": {"post": _operation(
            "A job reports that it failed (source, admin): expired now, its ticket opened at once",
            ("200", _ref("PingAnswer")), parameters=[heartbeat], errors=("400", "401", "403", "404", "409", "503"))},
        **{f"/api/v1/heartbeats/{{name}}/{verb}": {"post": _operation(
            f"{verb.capitalize()} a heartbeat (incident_manager, admin)", ("200", _ref("HeartbeatView")),
            parameters=[heartbeat], errors=("400", "401", "403", "404", "503"))} for verb in ("pause", "resume")},
        "/api/v1/maintenance": {
            "post": _operation("Plan a maintenance window (service_desk, incident_manager, admin)",
                               ("201", _ref("WindowView")), _ref("NewWindow"), errors=("400", "401", "403", "415", "503")),
            "get": _operation("Maintenance windows: every one in force (?active=true), else newest first by pages", (
                "200", {"type": "object", "properties": {"windows": {"type": "array", "items": _ref("WindowView")},
                                                         "next_cursor": {"type": ["string", "null"]}}}),
                parameters=[_param("active", "query", {"type": "string", "enum": ["true", "false"]}),
                            _param("cursor", "query", text),
                            _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})],
                errors=("400", "401", "403", "503")),
        },
        "/api/v1/maintenance/{window_id}": {
            "get": _operation("One maintenance window, with its audit trail", ("200", _ref("WindowView")),
                              parameters=[window_id], errors=("401", "403", "404", "503")),
            "patch": _operation("Change a window (the fields given)", ("200", _ref("WindowView")), _ref("WindowChange"),
                                parameters=[window_id], errors=("400", "401", "403", "404", "415", "503")),
            "delete": _operation("End a window now; its record stays", ("200", _ref("WindowView")),
                                 parameters=[window_id], errors=("401", "403", "404", "503")),
        },
        "/api/v1/queue": {"get": _operation(
            "The work queue: unresolved masters, the soonest SLA deadline first", ("200", _ref("QueuePage")),
            parameters=[*(_param(name, "query", text) for name in ("status", "group", "assignee", "ci", "service", "sender")),
                        _param("breached", "query", {"type": "string", "enum": ["true", "false"]}),
                        _param("due_before", "query", when),
                        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})],
            errors=("400", "401", "403", "503"))},
        "/api/v1/cis": {"get": _operation(
            "The CI catalogue (the files' CIs and the API's) by name, in pages", ("200", _ref("CIList")),
            parameters=[_param("origin", "query", {"type": "string", "enum": list(ORIGINS)}),
                        _param("cursor", "query", text),
                        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})],
            errors=("400", "401", "403", "503"))},
        "/api/v1/cis/{name}": {
            "get": _operation("One CI, with its ancestors", ("200", _ref("CIView")), parameters=[ci_name],
                              errors=("401", "403", "404", "503")),
            "put": _created_too(_operation("Push a CI (admin, incident_manager): 200 changed, 201 new; 409 when a file "
                                           "defines it", ("200", _ref("CIView")), _ref("CIBody"), parameters=[ci_name],
                                           errors=("400", "401", "403", "409", "415", "503"))),
            "delete": _operation("Remove a CI pushed through the API (admin, incident_manager)", ("200", _ref("Removed")),
                                 parameters=[ci_name], errors=("401", "403", "404", "409", "503")),
        },
        "/api/v1/unknown-cis": {
            "get": _operation("The raw CIs no catalogue CI names, most alerts first", ("200", _ref("UnknownCIs")),
                              parameters=[_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000})],
                              errors=("400", "401", "403", "503")),
            "delete": _operation("Start counting them anew (admin, incident_manager)", ("200", _ref("UnknownCIs")),
                                 errors=("401", "403", "503")),
        },
        "/healthz": {"get": _operation("Alive (no credential)", ("200", {"type": "object"}), errors=(), public=True)},
        "/readyz": {"get": _operation("Ready: rules loaded, Redis reachable", ("200", {"type": "object"}),
                                      errors=("401", "503"))},
        "/metrics": {"get": _operation("Prometheus metrics (text format)", ("200", None), errors=("401",))},
        DOCUMENT_PATH: {"get": _operation("This document", ("200", {"type": "object"}), errors=("401",))},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "alertgate", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"bearer": []}, {"basic": []}],
    }


def openapi_handlers(auth: Authenticator) -> list[HTTPRouteHandler]:
    document = msgspec.json.encode(openapi_document())

    @get(DOCUMENT_PATH)
    async def openapi_json(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        return Response(document, media_type="application/json")

    return [openapi_json]
