"""Ingest routes: one handler per source, all the same shape (auth → parse → record → answer),
each served as a lean ASGI route (``post_route``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from time import perf_counter

import msgspec
import structlog
from litestar.handlers import ASGIRouteHandler
from redis.exceptions import TimeoutError as RedisTimeoutError

from alertgate.dedup.decide import Outcome
from alertgate.dedup.store import DedupStore, IngestResult
from alertgate.gateway.auth import INGEST, Authenticator
from alertgate.gateway.followups import FollowUps
from alertgate.gateway.limits import RateLimiter
from alertgate.gateway.post_route import post_route
from alertgate.gateway.sources import SOURCES
from alertgate.gateway.sources.common import SourceContext
from alertgate.observability.metrics import GatewayMetrics
from alertgate.rules.service import RulesService
from alertgate.rules.policy import Policy
from alertgate.settings import Settings
from alertgate.tickets.alert import Alert

log = structlog.get_logger("alertgate.intake")

PATHS = {
    "alertmanager": "/api/v1/alerts/alertmanager",
    "zabbix": "/api/v1/alerts/zabbix",
    "finding": "/api/v1/findings",
}


class IngestResponse(msgspec.Struct):
    results: list[IngestResult]


_encode = msgspec.json.Encoder().encode
# An alert storm is mostly these; one log line each would cost more than the ingest itself.
QUIET = frozenset({Outcome.REPEAT, Outcome.DUPLICATE})


CREATED = {Outcome.NEW: "master", Outcome.RECURRENCE: "master", Outcome.DUPLICATE: "duplicate"}


def intake_handlers(settings: Settings, auth: Authenticator, dedup: DedupStore, rules: RulesService,
                    followups: FollowUps, metrics: GatewayMetrics) -> list[ASGIRouteHandler]:
    """One POST handler per registered source."""
    limiter = RateLimiter({name: (limit.rate, limit.burst) for name, limit in settings.rate_limits.items()})
    ci_labels, symptom_labels = tuple(settings.ci_labels), tuple(settings.symptom_labels)
    redis_timeout = float(settings.redis_timeout)

    def make(source: str) -> ASGIRouteHandler:
        parse = SOURCES[source]
        received = metrics.alerts_received.labels(source)
        duration = metrics.ingest_duration.labels(source)
        processed = {o: metrics.alerts_processed.labels(source, o.value) for o in Outcome}
        created = {(o, p): metrics.tickets_created.labels(kind, str(p)) for o, kind in CREATED.items() for p in range(1, 5)}
        tally = metrics.tally.inc  # (counted at the end of the event-loop turn)

        def count_outcomes(results: list[IngestResult], policies: list[Policy]) -> None:
            for result, policy in zip(results, policies):
                tally(processed[result.outcome])
                if result.outcome in CREATED:
                    tally(created[(result.outcome, policy.priority)])

        async def ingest(authorization: str | None, read_body: Callable[[], Awaitable[bytes]]) -> bytes:
            started = perf_counter()
            limiter.check(auth.authorize(authorization, INGEST))
            now = datetime.now(timezone.utc)
            alerts = parse(await read_body(), SourceContext(now, ci_labels, symptom_labels))
            tally(received, len(alerts))
            alerts, policies = classify(alerts, rules, now)
            try:  # the whole Redis part, batching and any second call included, within the bound
                async with asyncio.timeout(redis_timeout):
                    results = await dedup.ingest(alerts, policies, now)
            except TimeoutError:
                raise RedisTimeoutError(f"no answer within redis_timeout ({redis_timeout:g} s)") from None
            count_outcomes(results, policies)
            for alert, result in zip(alerts, results):
                if result.outcome not in QUIET:
                    log.info("alert_ingested", source=source, occurrence_id=alert.occurrence_id,
                             ticket_id=result.ticket_id, ci=alert.ci, symptom=alert.symptom,
                             outcome=result.outcome.value)
            await followups.after_ingest(results)
            duration.observe(perf_counter() - started)
            return _encode(IngestResponse(results))

        return post_route(PATHS[source], f"ingest_{source}", ingest, settings.body_limit)

    return [make(source) for source in SOURCES]


def classify(alerts: list[Alert], rules: RulesService, now: datetime) -> tuple[list[Alert], list[Policy]]:
    """Each alert's Policy; a classify rule that corrects the CI changes the alert's dedup key."""
    evaluate = rules.engine.evaluate
    policies = [evaluate(alert, now).policy for alert in alerts]
    corrected = [msgspec.structs.replace(a, ci=p.ci) if p.ci and p.ci != a.ci else a
                 for a, p in zip(alerts, policies)]
    return corrected, policies
