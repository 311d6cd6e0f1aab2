"""The app factory: ``create_app(settings, redis)`` wires every piece explicitly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar import Litestar
from redis import Redis as SyncRedis

from alertgate.console.app import console_handlers
from alertgate.credentials import Authenticator
from alertgate.dedup import layout
from alertgate.gateway.cis import ci_handlers
from alertgate.gateway.errors import REDIS_UNAVAILABLE, exception_handlers, redis_away
from alertgate.intake.assembly import build_intake
from alertgate.gateway.health import health_handlers
from alertgate.gateway.heartbeats import heartbeat_handlers
from alertgate.gateway.maintenance import maintenance_handlers
from alertgate.gateway.intake import intake_handlers
from alertgate.gateway.openapi import openapi_handlers
from alertgate.gateway.reports import report_handlers
from alertgate.gateway.rules import rule_handlers
from alertgate.gateway.tickets import ticket_exception_handlers, ticket_handlers
from alertgate.observability.logging import configure_logging
from alertgate.observability.metrics import GatewayMetrics
from alertgate.observability.rejections import Rejections
from alertgate.rules.schema import RulesInvalid
from alertgate.rules.service import RulesService
from alertgate.runtime.connections import StateRedis, connect_state, find_again, require_recent
from alertgate.runtime.watching import until_done
from alertgate.runtime.heap import settle_after_start
from alertgate.settings import Settings, load_settings
from alertgate.tickets.store import TicketStore


def load_rules_service(settings: Settings, metrics: GatewayMetrics) -> RulesService:
    """The rules at start: invalid files stop the start (RulesInvalid lists every error)."""
    matched: dict[tuple[str, str], object] = {}

    def count_match(stage: str, rule: str) -> None:
        child = matched.get((stage, rule))
        if child is None:
            child = matched[(stage, rule)] = metrics.rule_matches.labels(stage, rule)
        metrics.tally.inc(child)

    service = RulesService(
        Path(settings.config_dir), settings.dedup_window,
        on_match=count_match,
        on_reload=lambda outcome: metrics.rules_reloads.labels(outcome).inc(),
    )
    errors = service.reload()
    if errors:
        raise RulesInvalid(errors)
    return service


def create_app(settings: Settings, redis: StateRedis, watch_rules: bool = True) -> Litestar:
    auth = Authenticator(settings.all_tokens())
    metrics = GatewayMetrics()
    rules = load_rules_service(settings, metrics)
    queue_url = settings.queue_url
    queue_redis = SyncRedis.from_url(queue_url, socket_timeout=settings.redis_timeout) if queue_url else None
    intake = build_intake(settings, redis, rules, queue_redis, on_unknown_ci=metrics.unknown_ci,
                          on_heartbeat_failed=lambda name: metrics.heartbeat_failed.labels(name).inc(),
                          on_created=metrics.ticket_created)
    handoff = intake.handoff

    tasks: list[asyncio.Task] = []

    async def meet_redis() -> None:
        """Its version (RedisTooOld), then its key layout (written on a new Redis)."""
        await require_recent(redis)
        await layout.ensure(redis)

    async def start_watching() -> None:
        if watch_rules:
            tasks.append(asyncio.create_task(rules.watch()))
        try:  # before the first request; if Redis is away, as soon as it is back (until then every
            # call that needs a key answers 503: keys.LayoutUnknown)
            await meet_redis()
        except Exception as exc:
            if not redis_away(exc):
                raise
            tasks.append(asyncio.create_task(until_done(meet_redis, redis_away)))
        try:  # the windows in force and the API's CIs before the first request
            await intake.maintenance.refresh(intake.windows)
            await intake.catalogue.refresh()
        except Exception as exc:
            if not redis_away(exc):
                raise
            # (ingest answers 503 until Redis is back; the watches load them then)
        tasks.append(asyncio.create_task(intake.watch_windows(redis_away)))
        tasks.append(asyncio.create_task(intake.catalogue.watch(redis_away)))
        tasks.append(asyncio.create_task(intake.watch_topology(redis_away)))
        settle_after_start()  # (again: the catalogue rebuilt above lives as long as the process too)

    async def close_redis() -> None:
        for task in tasks:
            task.cancel()
        await redis.aclose()

    tickets = TicketStore(redis, on_created=lambda ticket: metrics.ticket_created(ticket.kind.value, ticket.priority))
    return Litestar(
        route_handlers=[
            *intake_handlers(settings, auth, intake, metrics),
            *heartbeat_handlers(intake.heartbeats, auth),
            *maintenance_handlers(intake.planner, auth),
            *ticket_handlers(tickets, auth, rules, handoff),
            *rule_handlers(rules, auth, settings, intake.catalogue),
            *ci_handlers(intake.catalogue, auth),
            *report_handlers(redis, auth),
            *health_handlers(redis, queue_url, auth, metrics, rules),
            *openapi_handlers(auth),
            *console_handlers(settings, redis, auth, intake, rules, tickets, REDIS_UNAVAILABLE),
        ],
        exception_handlers={**exception_handlers(settings.retry_after, settings.body_limit,
                                                 on_redis_fault=lambda fault: find_again(redis, fault),
                                                 rejections=Rejections(metrics.requests_rejected),
                                                 name_of=auth.name_of),
                            **ticket_exception_handlers()},
        request_max_body_size=settings.body_limit,
        on_startup=[start_watching],
        on_shutdown=[close_redis],
        openapi_config=None,
        logging_config=None,  # (Litestar's own would replace the JSON handler of observability.logging)
        debug=False,
    )


def app_from_environment() -> Litestar:
    """Entry point for ``uvicorn --factory`` in each server process: settings from the env."""
    settings = load_settings()
    configure_logging(settings.log_level)
    if not settings.redis_url:
        raise SystemExit("ALERTGATE_REDIS_URL is not set (use `alertgate run` for an embedded Redis)")
    try:
        app = create_app(settings, connect_state(settings))
    except RulesInvalid as exc:
        raise SystemExit("alertgate: rules rejected:\n" + "\n".join(f"  {e}" for e in exc.errors)) from None
    settle_after_start()  # what was built lives as long as the process
    return app
