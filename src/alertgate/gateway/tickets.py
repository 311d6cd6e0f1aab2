"""Ticket API (SPEC §3): list, read, open a user-reported ticket, lifecycle actions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from alertgate.gateway.auth import ANY_ROLE, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, query_int
from alertgate.gateway.sources.common import decode_json
from alertgate.dedup.decide import Outcome
from alertgate.dedup.store import IngestResult, initial_sla
from alertgate.gateway.followups import FollowUps
from alertgate.rules.service import RulesService
from alertgate.settings import Role
from alertgate.tickets.lifecycle import (
    Action,
    ActionRequest,
    Actor,
    IllegalTransition,
    MissingArgument,
    RoleNotAllowed,
)
from alertgate.tickets.model import Ticket, TicketSource, TicketStatus, TimelineEntry
from alertgate.tickets.store import TicketFilter, TicketNotFound, TicketStore, valid_cursor

OPENERS = frozenset({Role.SERVICE_DESK, Role.INCIDENT_MANAGER, Role.ADMIN})
Level = Annotated[int, msgspec.Meta(ge=1, le=4)]


class NewTicket(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1)]
    description: str = ""
    ci: str = "unknown"
    affected_service: str | None = None
    category: str | None = None
    area: str | None = None
    subarea: str | None = None
    nature: str | None = None
    impact: Level = 3
    urgency: Level = 3
    contact: str | None = None
    location: str | None = None
    outage_start: datetime | None = None


class TicketDetail(msgspec.Struct):
    ticket: Ticket
    duplicates: list[str]
    recurrences: list[str]


class TicketPage(msgspec.Struct):
    tickets: list[Ticket]
    next_cursor: str | None



def ticket_exception_handlers() -> dict:
    def not_found(_: Request, exc: TicketNotFound) -> Response[bytes]:
        return error_response(404, f"no ticket {exc.args[0]}")

    def illegal(_: Request, exc: IllegalTransition) -> Response[bytes]:
        body = {"error": str(exc), "detail": [], "status": exc.status.value, "allowed_actions": exc.allowed}
        return json_response(body, 409)

    def role(_: Request, exc: RoleNotAllowed) -> Response[bytes]:
        return error_response(403, str(exc))

    def missing(_: Request, exc: MissingArgument) -> Response[bytes]:
        return error_response(400, "invalid action", [ErrorDetail(f"$.{exc.name}", str(exc))])

    return {TicketNotFound: not_found, IllegalTransition: illegal, RoleNotAllowed: role, MissingArgument: missing}


def ticket_handlers(store: TicketStore, auth: Authenticator, rules: RulesService,
                    followups: FollowUps) -> list[HTTPRouteHandler]:
    @get("/api/v1/tickets")
    async def list_tickets(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        query = {k: v for k, v in request.query_params.items() if k in TicketFilter.__struct_fields__}
        try:
            filters = msgspec.convert(query, TicketFilter, strict=False) if query else TicketFilter()
        except msgspec.ValidationError as exc:
            return error_response(400, "invalid query", [ErrorDetail(str(exc).rpartition("$.")[2] or "query", str(exc))])
        limit = query_int(request, "limit", 50, 1, 500)
        cursor = request.query_params.get("cursor")
        if cursor is not None and not valid_cursor(cursor):
            return error_response(400, "invalid query", [ErrorDetail("cursor", "not a cursor this API returned")])
        tickets, cursor = await store.list(filters, cursor, limit)
        return json_response(TicketPage(tickets, cursor))

    @get("/api/v1/tickets/{ticket_id:str}")
    async def get_ticket(request: Request) -> Response[bytes]:
        ticket_id = request.path_params["ticket_id"]
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        ticket = await store.get(ticket_id)
        return json_response(TicketDetail(ticket, await store.duplicate_ids(ticket), await store.recurrences_of(ticket)))

    @post("/api/v1/tickets", status_code=201)
    async def open_ticket(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), OPENERS)
        new = decode_json(await request.body(), NewTicket)
        now = datetime.now(timezone.utc)
        tables = rules.engine.tables
        priority = tables.priority(new.impact, new.urgency)
        ticket = Ticket(
            id="", source=TicketSource.USER_REPORT, origin="user_report", ci=new.ci, title=new.title,
            description=new.description, affected_service=new.affected_service, category=new.category,
            area=new.area, subarea=new.subarea, nature=new.nature, impact=new.impact, urgency=new.urgency,
            priority=priority, contact=new.contact, location=new.location, outage_start=new.outage_start,
            sla=initial_sla(tables.sla_minutes[priority], now), created_at=now, updated_at=now,
            timeline=[TimelineEntry(at=now, actor=principal.name, action="create", to_status=TicketStatus.OPEN)],
        )
        created = await store.create(ticket)
        await followups.after_ingest([IngestResult("", Outcome.NEW, created.id, created.id)])
        return json_response(created, 201)

    @post("/api/v1/tickets/{ticket_id:str}/actions/{action:str}", status_code=200)
    async def act(request: Request) -> Response[bytes]:
        ticket_id, action = request.path_params["ticket_id"], request.path_params["action"]
        principal = auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        try:
            chosen = Action(action)
        except ValueError:
            return error_response(404, f"no action {action}; one of {', '.join(a.value for a in Action)}")
        body = await request.body()
        args = decode_json(body, ActionRequest) if body.strip() else ActionRequest()
        ticket, _ = await store.act(ticket_id, chosen, args, Actor(principal.name, principal.role),
                                    datetime.now(timezone.utc))
        await followups.after_action(ticket_id, chosen)
        return json_response(ticket)

    return [list_tickets, get_ticket, open_ticket, act]
