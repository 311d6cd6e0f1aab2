"""The rules tester: a payload (pasted, or made from a ticket's alert) through every stage, with
the rule that matched in each and the ticket that would result (``intake.explain``, as
``POST /api/v1/rules/test``; for the role that edits rules, SPEC §7)."""

from __future__ import annotations

import json

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from alertgate.correlation.service import CatalogueService
from alertgate.console.pages import RULE_TESTERS, Console, Refused
from alertgate.intake.explain import explain
from alertgate.intake.sources import NAMES
from alertgate.intake.sources.common import PayloadError
from alertgate.rules.service import RulesService
from alertgate.settings import Settings
from alertgate.tickets.store import TicketNotFound, TicketStore


def alertmanager_payload(labels: dict[str, str], summary: str) -> str:
    """An Alertmanager webhook of one firing alert with these labels (a ticket's, to try again)."""
    return json.dumps({"version": "4", "status": "firing", "receiver": "console", "alerts": [
        {"status": "firing", "labels": labels, "annotations": {"summary": summary},
         "startsAt": "2026-01-01T00:00:00Z"}]}, ensure_ascii=False, indent=2)


def rules_handlers(console: Console, rules: RulesService, settings: Settings, store: TicketStore,
                   catalogue: CatalogueService | None = None) -> list[HTTPRouteHandler]:
    async def tester(request: Request):
        session = await console.session(request)
        if session.role not in RULE_TESTERS:
            raise Refused(403, "Only an administrator may use the rules tester.")
        return session

    def page(request: Request, session, status: int = 200, **values) -> Response:
        context = {"source": "alertmanager", "payload": "", "results": None, "error": None, **values}
        return console.page(request, session, "rules.html", status, sources=NAMES,
                            generation=rules.engine.generation, rule_count=rules.engine.rule_count, **context)

    @get("/console/rules", include_in_schema=False)
    async def rules_page(request: Request) -> Response:
        try:
            session = await tester(request)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        payload = ""
        ticket_id = request.query_params.get("ticket")
        if ticket_id:
            try:
                ticket = await store.get(ticket_id)
                payload = alertmanager_payload(ticket.labels or {"alertname": ticket.symptom or "", "instance": ticket.ci},
                                               ticket.title)
            except TicketNotFound:
                pass
        return page(request, session, payload=payload)

    @post("/console/rules", include_in_schema=False, status_code=200)
    async def run(request: Request) -> Response:
        try:
            session = await tester(request)
            form = await console.form(request, session)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        source, payload = form.get("source", ""), form.get("payload", "")
        if source not in NAMES:
            return page(request, session, 400, payload=payload, error=f"source: {source!r}")
        try:
            results = explain(payload.encode(), source, rules.engine, settings,
                              catalogue.catalogue if catalogue else None)
        except PayloadError as exc:
            detail = "; ".join(f"{d.path}: {d.message}" for d in exc.detail)
            return page(request, session, 400, source=source, payload=payload,
                        error=f"{exc.error}" + (f" ({detail})" if detail else ""))
        return page(request, session, source=source, payload=payload, results=results)

    return [rules_page, run]
