"""The console's routes, wired over the gateway's own services (``gateway/app.py`` adds them)."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler
from redis.exceptions import ResponseError

from alertgate.console.pages import Console
from alertgate.console.planning import planning_handlers
from alertgate.console.render import Renderer
from alertgate.console.reports import report_handlers
from alertgate.console.rules import rules_handlers
from alertgate.console.session import ConsoleSessions
from alertgate.console.signin import signin_handlers
from alertgate.console.tickets import tickets_handlers
from alertgate.console.watch import QueueWatch
from alertgate.credentials import Authenticator
from alertgate.intake.pipeline import Intake
from alertgate.rules.service import RulesService
from alertgate.settings import Settings
from alertgate.tickets.store import TicketStore


def console_handlers(settings: Settings, redis, auth: Authenticator, intake: Intake, rules: RulesService,
                     store: TicketStore, redis_errors: tuple[type[BaseException], ...] = ()) -> list[HTTPRouteHandler]:
    """``redis_errors``: what a Redis that is away raises (the queue's watcher waits them out; a
    page or form that meets one, or a Redis that refuses writes, gets a page saying so)."""
    console = Console(ConsoleSessions(redis, auth), Renderer(settings.display_timezone), int(settings.retry_after))
    handlers = [*signin_handlers(console),
            *tickets_handlers(console, store, intake.handoff, QueueWatch(store, float(settings.console_poll), redis_errors),
                             rules),
            *rules_handlers(console, rules, settings, store, intake.catalogue),
            *planning_handlers(console, intake.planner, intake.heartbeats.store),
            *report_handlers(console, redis)]
    faults = {kind: console.redis_fault for kind in (*redis_errors, ResponseError)}
    for handler in handlers:   # (a handler's own exception handlers stand before the app's)
        handler.exception_handlers = {**(handler.exception_handlers or {}), **faults}
    return handlers
