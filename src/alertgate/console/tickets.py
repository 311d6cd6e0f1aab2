"""The queue (unresolved masters, live), a ticket's page and its actions: the same store, lifecycle
and hand-off as ``/api/v1/tickets`` (the role and status decide which actions are offered, and
``lifecycle.check`` decides again when one is taken)."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import ServerSentEvent

from alertgate.console import i18n
from alertgate.console.pages import Console, Refused, redirect
from alertgate.console.planning import form_moment
from alertgate.intake.windows import InvalidWindow
from alertgate.console.watch import QueueWatch
from alertgate.intake.handoff import JobHandoff
from alertgate.rules.service import RulesService
from alertgate.tickets import queue, timeline
from alertgate.tickets.lifecycle import (Action, ActionRequest, Actor, IllegalTransition, InvalidArgument, MissingArgument,
                                         RoleNotAllowed, actions_for, entry_of, job_after)
from alertgate.tickets.model import UNRESOLVED, ClosureCode, ResolutionCode, TicketKind, TicketSource
from alertgate.tickets.shortlist import Shortlist
from alertgate.tickets.store import TicketNotFound, TicketStore

# The fields of each action's form (tickets/lifecycle.py ActionRequest); * marks a required one.
FORMS: dict[Action, tuple[str, ...]] = {
    Action.ASSIGN: ("group*", "assignee"), Action.REASSIGN: ("group*", "assignee", "reason"),
    Action.ACCEPT: ("assignee",), Action.REJECT: ("reason*",),
    Action.RESOLVE: ("resolution_code*", "solution"), Action.CLOSE: ("closure_code*", "note"),
    Action.REPRIORITISE: ("impact", "urgency", "priority", "reason*"),
    Action.EDIT: ("outage_start", "outage_end", "ci_operational", "note"),
    Action.SUSPEND: ("until", "note"), Action.VERIFY: ("verdict*", "note"),
    Action.MARK_DUPLICATE: ("master_id*", "note"), Action.ENGAGE_THIRD_PARTY: ("third_party*", "note"),
}
MOMENTS = frozenset({"until", "outage_start", "outage_end"})   # datetime-local inputs (the console's zone)
# What a queue row shows and filters on (read for every unresolved master: no description, labels
# or timeline), and how many rows a page shows (the most urgent; the rest are counted).
QUEUE_FIELDS = queue.QUEUE_FIELDS
MAX_ROWS = 300
DUPLICATES_SHOWN = 100   # the newest duplicates a ticket page links (GET …/duplicates pages every one)
# (A long timeline shows its first and newest entries: tickets/timeline.py.)
CHOICES = {"resolution_code": [c.value for c in ResolutionCode], "closure_code": [c.value for c in ClosureCode],
           "verdict": ["checked", "returned"], "ci_operational": ["true", "false"],
           "impact": ["1", "2", "3", "4"], "urgency": ["1", "2", "3", "4"], "priority": ["1", "2", "3", "4"]}


def _filter(request: Request) -> queue.QueueFilter:
    values: dict[str, object] = {}
    for name in queue.FILTERS:
        value = (request.query_params.get(name) or "").strip()[:200]
        if value:
            values[name] = value == "true" if name == "breached" else value
    return queue.QueueFilter(**values)


def tickets_handlers(console: Console, store: TicketStore, handoff: JobHandoff, watch: QueueWatch,
                     rules: RulesService) -> list[HTTPRouteHandler]:
    async def rows(request: Request) -> tuple[Shortlist, queue.QueueFilter, datetime]:
        now = datetime.now(timezone.utc)
        chosen = _filter(request)
        shortlist = Shortlist(queue.priority_first, MAX_ROWS)
        async for chunk in store.unresolved_masters(QUEUE_FIELDS):
            shortlist.offer(t for t in chunk if chosen.matches(t, now))
        return shortlist, chosen, now

    def queue_context(shortlist: Shortlist, now: datetime) -> dict:
        return {"tickets": [(t, queue.next_due(t), queue.clock_state(queue.next_due(t), now)) for t in shortlist.first],
                "more": shortlist.more}

    @get("/console/queue", include_in_schema=False)
    async def queue_page(request: Request) -> Response:
        try:
            session = await console.session(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        shortlist, chosen, now = await rows(request)
        return console.page(request, session, "queue.html", chosen=chosen, statuses=[s.value for s in UNRESOLVED],
                            **queue_context(shortlist, now))

    @get("/console/queue/rows", include_in_schema=False)
    async def queue_rows(request: Request) -> Response:
        try:
            session = await console.session(request)
        except Refused as refusal:
            return Response(b"", status_code=refusal.status)
        shortlist, _, now = await rows(request)
        return console.page(request, session, "_queue_rows.html", **queue_context(shortlist, now))

    @get("/console/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-sent events: ``queue`` whenever what the queue shows changes (console/watch.py),
        a comment every 15 s otherwise."""
        try:
            await console.session(request)
        except Refused as refusal:
            return Response(b"", status_code=refusal.status)

        async def stream():
            # (the first read's event too: something may have changed since the page was rendered)
            async for version in watch.follow():
                if version is None:
                    yield {"comment": "still here"}
                else:
                    yield {"event": "queue", "data": str(version)}

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def ticket_page(request: Request, session, ticket_id: str, status: int = 200, error: str | None = None):
        try:
            ticket = await store.get_shown(ticket_id)
        except TicketNotFound:
            return console.refused(request, session, Refused(404, "There is no such ticket."))
        now = datetime.now(timezone.utc)
        report = ticket.source is TicketSource.USER_REPORT and ticket.kind is TicketKind.MASTER   # (may be linked)
        actions = [(a.value, FORMS.get(a, ("note",))) for a in actions_for(ticket.status, session.role)
                   if a is not Action.MARK_DUPLICATE or report]
        # (a storm's master has thousands: the newest, and how many)
        shown, total = await store.duplicate_page(ticket, None, DUPLICATES_SHOWN) if ticket.master_id is None else ([], 0)
        may_link = report and any(a == Action.MARK_DUPLICATE.value for a, _ in actions)
        return console.page(request, session, "ticket.html", status, ticket=ticket, actions=actions, choices=CHOICES,
                            moments=MOMENTS,
                            duplicates=shown, duplicates_earlier=total - len(shown), recurrences=await store.recurrences_of(ticket),
                            timeline=timeline.parts(ticket),
                            correlated=await store.correlated_to(ticket.id), members=await store.grouped_under(ticket.id),
                            reports=await store.linked_reports(ticket.id), may_link=may_link,
                            clocks=[(e, queue.clock_state(e, now) if e.met_at is None else "met") for e in ticket.sla],
                            done=request.query_params.get("done"), error=error)

    @get("/console/tickets/{ticket_id:str}", include_in_schema=False)
    async def show(request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"]
        try:
            session = await console.session(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        return await ticket_page(request, session, ticket_id)

    @post("/console/tickets/{ticket_id:str}/actions/{action:str}", include_in_schema=False, status_code=303)
    async def act(request: Request) -> Response:
        ticket_id, action = request.path_params["ticket_id"], request.path_params["action"]
        _ = i18n.gettext(console.lang(request))
        try:
            session = await console.session(request)
            form = await console.form(request, session)
            chosen = Action(action) if action in Action._value2member_map_ else None
            if chosen is None:
                raise Refused(404, "There is no such action.")
        except Refused as refusal:
            return console.refused(request, None, refusal)
        fields = {k: v.strip() for k, v in form.items() if k in ActionRequest.__struct_fields__ and v.strip()}
        for name in MOMENTS.intersection(fields):   # (a browser's datetime-local has no zone: the console's, as the form says)
            try:
                fields[name] = form_moment(fields[name], name, console.renderer.zone).isoformat()
            except InvalidWindow:
                pass   # (left as typed: the form's check below names it)
        try:
            args = msgspec.convert(fields, ActionRequest, strict=False)
            done, _ = await store.act(ticket_id, chosen, args, Actor(session.name, session.role),
                                      datetime.now(timezone.utc), owe=job_after(chosen), tables=rules.engine.tables)
        except msgspec.ValidationError as exc:
            return await ticket_page(request, session, ticket_id, 400, _("The form is not valid:") + f" {exc}")
        except InvalidArgument as exc:
            return await ticket_page(request, session, ticket_id, 400, _("This value cannot be:") + f" {exc}")
        except MissingArgument as exc:
            return await ticket_page(request, session, ticket_id, 400,
                                     _("This action needs a value for:") + f" {_(exc.name)}")
        except IllegalTransition as exc:
            return await ticket_page(request, session, ticket_id, 409, _("This action is not allowed while the "
                                     "ticket is in this status:") + f" {_(exc.status.value)}")
        except RoleNotAllowed:
            return await ticket_page(request, session, ticket_id, 403, _("Your role may not take this action."))
        except TicketNotFound:
            return console.refused(request, session, Refused(404, "There is no such ticket."))
        await handoff.after_action(ticket_id, chosen, entry_of(done, chosen))
        return redirect(f"/console/tickets/{ticket_id}?done={chosen.value}")

    return [queue_page, queue_rows, events, show, act]
