"""Ticket API (SPEC §3): list, read, open a user-reported ticket, lifecycle actions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from alertgate.credentials import ANY_ROLE, READERS, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, only_parameters, query_int
from alertgate.heartbeats.model import SOURCE as HEARTBEAT_SOURCE
from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import PayloadError, decode_json, sane_time
from alertgate.intake.sources.limits import NonEmptyValue, Text, Value
from alertgate.moments import parse_moment
from alertgate.intake.handoff import JobHandoff
from alertgate.gateway.media_type import require_json
from alertgate.rules.service import RulesService
from alertgate.settings import Role
from alertgate.tickets.lifecycle import (
    entry_of,
    job_after,
    initial_sla,
    Action,
    ActionRequest,
    Actor,
    IllegalTransition,
    MissingArgument,
    RoleNotAllowed,
)
from alertgate.tickets import queue, timeline
from alertgate.tickets.model import Ticket, TicketKind, TicketSource, TicketStatus, TimelineEntry
from alertgate.tickets.store import TicketFilter, TicketNotFound, TicketStore, valid_cursor, with_creation_entry
from alertgate.tickets.shortlist import Shortlist
from alertgate.tickets.user_reports import Suggestions

SUGGEST_FIELDS = ("kind", "ci", "affected_service", "priority")   # what a suggestion reads of each open master

OPENERS = frozenset({Role.SERVICE_DESK, Role.INCIDENT_MANAGER, Role.ADMIN})
Level = Annotated[int, msgspec.Meta(ge=1, le=4)]


class NewTicket(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A user report; its texts within the limits a sender's alert has (docs/contract.md)."""

    title: NonEmptyValue
    description: Text = ""
    ci: NonEmptyValue = "unknown"
    affected_service: Value | None = None
    category: Value | None = None
    area: Value | None = None
    subarea: Value | None = None
    nature: Value | None = None
    impact: Level = 3
    urgency: Level = 3
    contact: Value | None = None
    location: Value | None = None
    outage_start: datetime | None = None


# The list's filters and the values each may take (SPEC §3): anything else is a 400 naming it.
FILTER_VALUES: dict[str, tuple[str, ...] | None] = {
    "status": tuple(s.value for s in TicketStatus),
    "kind": tuple(k.value for k in TicketKind),
    "priority": ("1", "2", "3", "4"),
    "source": tuple(s.value for s in TicketSource),
    "alert_source": (*SOURCES, HEARTBEAT_SOURCE),
    "ci": None,
    "since": None,
}
PAGING = ("limit", "cursor")


def ticket_filter(query: dict[str, str]) -> TicketFilter:
    """The list's query as a TicketFilter; raises PayloadError naming a bad parameter or value."""
    only_parameters(query, (*FILTER_VALUES, *PAGING))
    for name, value in query.items():
        choices = FILTER_VALUES.get(name)
        if choices is not None and value not in choices:
            raise PayloadError("invalid query", [ErrorDetail(
                name, f"{value!r} is not one of {', '.join(choices)}")])
    values: dict[str, object] = {k: v for k, v in query.items() if k in FILTER_VALUES}
    if "since" in values:
        try:
            values["since"] = parse_moment(query["since"])
        except ValueError as exc:
            raise PayloadError("invalid query", [ErrorDetail("since", str(exc))]) from None
    return TicketFilter(**values)  # type: ignore[arg-type]


QUEUE_PARAMS = (*queue.FILTERS, "due_before", "limit")


def queue_filter(query: dict[str, str]) -> queue.QueueFilter:
    """The work queue's query (``GET /api/v1/queue``); raises PayloadError naming a bad one."""
    only_parameters(query, QUEUE_PARAMS)
    values: dict[str, object] = {k: v for k, v in query.items() if k in queue.FILTERS and v}
    if "breached" in query:
        if query["breached"] not in ("true", "false"):
            raise PayloadError("invalid query", [ErrorDetail("breached", "true or false")])
        values["breached"] = query["breached"] == "true"
    if "due_before" in query:
        try:
            values["due_before"] = parse_moment(query["due_before"])
        except ValueError as exc:
            raise PayloadError("invalid query", [ErrorDetail("due_before", str(exc))]) from None
    return queue.QueueFilter(**values)  # type: ignore[arg-type]


class QueuePage(msgspec.Struct):
    tickets: list[Ticket]   # each with the fields a queue shows (queue.QUEUE_FIELDS); the whole one at /tickets/{id}
    more: int               # how many more matched than ``limit``


class TicketDetail(msgspec.Struct):
    ticket: Ticket
    duplicates: list[str]        # the newest DUPLICATES_SHOWN, oldest first
    recurrences: list[str]
    correlated: list[str] = []   # tickets of child CIs correlated to this master (SPEC §11)
    members: list[str] = []      # a major incident's masters, grouped from a storm (SPEC §11)
    reports: list[str] = []      # user reports marked duplicates of this master (handbook §3.1.3.8)
    duplicates_omitted: int = 0  # the older duplicates not listed (GET …/duplicates pages them all)


class DuplicatePage(msgspec.Struct):
    duplicates: list[str]
    total: int                   # the master's duplicates
    next_offset: int | None      # pass as ?offset= for the next page; None on the last


DUPLICATES_SHOWN = 200   # a storm's master has 100,000 duplicates: its answer lists the newest


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
                    handoff: JobHandoff) -> list[HTTPRouteHandler]:
    @get("/api/v1/tickets")
    async def list_tickets(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        filters = ticket_filter(dict(request.query_params.items()))
        limit = query_int(request, "limit", 50, 1, 500)
        cursor = request.query_params.get("cursor")
        if cursor is not None and not valid_cursor(cursor):
            return error_response(400, "invalid query", [ErrorDetail("cursor", "not a cursor this API returned")])
        tickets, cursor = await store.list(filters, cursor, limit)
        return json_response(TicketPage(tickets, cursor))   # (each as an answer shows it)

    @get("/api/v1/queue")
    async def work_queue(request: Request) -> Response[bytes]:
        """The unresolved masters a group or person works, the soonest SLA deadline first."""
        auth.authorize(request.headers.get("authorization"), READERS)
        chosen = queue_filter(dict(request.query_params.items()))
        limit = query_int(request, "limit", 100, 1, 1000)
        now = datetime.now(timezone.utc)
        shortlist = Shortlist(queue.soonest_due_first, limit)
        async for chunk in store.unresolved_masters(queue.QUEUE_FIELDS):
            shortlist.offer(t for t in chunk if chosen.matches(t, now))
        return json_response(QueuePage(shortlist.first, shortlist.more))

    @get("/api/v1/tickets/{ticket_id:str}")
    async def get_ticket(request: Request) -> Response[bytes]:
        ticket_id = request.path_params["ticket_id"]
        auth.authorize(request.headers.get("authorization"), READERS)
        ticket = await store.get_shown(ticket_id)
        duplicates, total = await store.duplicate_page(ticket, None, DUPLICATES_SHOWN)
        return json_response(TicketDetail(ticket, duplicates, await store.recurrences_of(ticket),
                                          await store.correlated_to(ticket.id), await store.grouped_under(ticket.id),
                                          await store.linked_reports(ticket.id), total - len(duplicates)))

    @post("/api/v1/tickets", status_code=201)
    async def open_ticket(request: Request) -> Response[bytes]:
        principal = auth.authorize(request.headers.get("authorization"), OPENERS)
        require_json(request.headers.get("content-type"))
        new = decode_json(await request.body(), NewTicket)
        for name in ("title", "ci"):
            if getattr(new, name).isspace():
                raise PayloadError("invalid payload", [ErrorDetail(f"$.{name}", "must not be blank")])
        if new.outage_start is not None:
            new.outage_start = sane_time(new.outage_start, "$.outage_start")
        now = datetime.now(timezone.utc)
        tables = rules.engine.tables
        priority = tables.priority(new.impact, new.urgency)
        ticket = Ticket(
            id="", source=TicketSource.USER_REPORT, origin="user_report", ci=new.ci, title=new.title,
            description=new.description, affected_service=new.affected_service, category=new.category,
            area=new.area, subarea=new.subarea, nature=new.nature, impact=new.impact, urgency=new.urgency,
            priority=priority, contact=new.contact, location=new.location, outage_start=new.outage_start,
            registered_by=principal.name,
            channels=list(tables.notification.channels.get(priority, ())),   # (as a rule-less alert's)
            sla=initial_sla(tables.sla_minutes[priority], now, tables.calendar_for(priority, None)),
            created_at=now, updated_at=now,
            timeline=[TimelineEntry(at=now, actor=principal.name, action="create", to_status=TicketStatus.OPEN)],
        )
        suggestions = Suggestions(ticket)
        async for chunk in store.unresolved_masters(SUGGEST_FIELDS, suggestions.worth_reading):
            suggestions.offer(chunk)
        suggested = suggestions.ids
        if suggested:   # (handbook §3.1.3.8: the desk confirms one with mark_duplicate)
            ticket.suggested_masters = suggested
            ticket.timeline[0].note = "may duplicate " + ", ".join(suggested)
        created = await store.create(ticket)
        await handoff.dispatch(created.id)
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
        if body.strip():
            require_json(request.headers.get("content-type"))
        args = decode_json(body, ActionRequest) if body.strip() else ActionRequest()
        ticket, _ = await store.act(ticket_id, chosen, args, Actor(principal.name, principal.role),
                                    datetime.now(timezone.utc), owe=job_after(chosen), tables=rules.engine.tables)
        await handoff.after_action(ticket_id, chosen, entry_of(ticket, chosen))
        return json_response(timeline.shown_in_answer(with_creation_entry(ticket)))   # (as GET shows it)

    @get("/api/v1/tickets/{ticket_id:str}/timeline")
    async def ticket_timeline(request: Request) -> Response[bytes]:
        """Every entry of a ticket's timeline by its place, in pages (an answer with the ticket
        shows the first and newest only, and ``timeline_omitted``)."""
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("offset", "limit"))
        offset = query_int(request, "offset", 0, 0, 10**9)
        limit = query_int(request, "limit", 500, 1, 1000)
        ticket = await store.get(request.path_params["ticket_id"])
        return json_response(timeline.page(ticket.timeline, offset, limit))

    @get("/api/v1/tickets/{ticket_id:str}/duplicates")
    async def ticket_duplicates(request: Request) -> Response[bytes]:
        """Every duplicate of a master by its place, oldest first, in pages (an answer with the
        ticket lists the newest only, and ``duplicates_omitted``)."""
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("offset", "limit"))
        offset = query_int(request, "offset", 0, 0, 10**9)
        limit = query_int(request, "limit", 1000, 1, 5000)
        ticket = await store.get(request.path_params["ticket_id"])
        duplicates, total = await store.duplicate_page(ticket, offset, limit)
        return json_response(DuplicatePage(duplicates, total, offset + limit if offset + limit < total else None))

    return [list_tickets, work_queue, get_ticket, open_ticket, act, ticket_timeline, ticket_duplicates]
