"""The console's routes, wired over the gateway's own services (``gateway/app.py`` adds them)."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

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
    """``redis_errors``: what a Redis that is away raises (the queue's watcher waits them out)."""
    console = Console(ConsoleSessions(redis, auth), Renderer(settings.display_timezone))
    return [*signin_handlers(console),
            *tickets_handlers(console, store, intake.handoff, QueueWatch(store, float(settings.console_poll), redis_errors),
                             rules),
            *rules_handlers(console, rules, settings, store, intake.catalogue),
            *planning_handlers(console, intake.planner, intake.heartbeats.store),
            *report_handlers(console, redis)]
