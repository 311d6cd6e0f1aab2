"""Ingest routes: one handler per source, all the same shape (auth → parse → record → answer),
each served as a lean ASGI route (``post_route``); the pipeline itself is ``intake.pipeline``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from time import perf_counter

import msgspec
import structlog
from litestar.handlers import ASGIRouteHandler

from alertgate.dedup.decide import CREATED_KIND, Outcome
from alertgate.dedup.store import IngestResult
from alertgate.credentials import INGEST, Authenticator
from alertgate.gateway.limits import RateLimiter
from alertgate.gateway.post_route import post_route
from alertgate.intake.pipeline import Intake
from alertgate.intake.sources import REGISTRY, SOURCES
from alertgate.intake.sources.common import SourceContext
from alertgate.observability.metrics import GatewayMetrics
from alertgate.rules.policy import Policy
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.intake")

PATHS = {name: source.path for name, source in REGISTRY.items()}


class IngestResponse(msgspec.Struct):
    results: list[IngestResult]


_encode = msgspec.json.Encoder().encode
# An alert storm is mostly these (inside a maintenance window: suppressed); one log line each
# would cost more than the ingest itself. They are counted in alertgate_alerts_processed_total.
QUIET = frozenset({Outcome.REPEAT, Outcome.DUPLICATE, Outcome.SUPPRESSED, Outcome.HEARTBEAT})


def intake_handlers(settings: Settings, auth: Authenticator, intake: Intake,
                    metrics: GatewayMetrics) -> list[ASGIRouteHandler]:
    """One POST handler per registered source."""
    limiter = RateLimiter({name: (limit.rate, limit.burst) for name, limit in settings.rate_limits.items()})

    ci_labels, symptom_labels = tuple(settings.ci_labels), tuple(settings.symptom_labels)

    def make(source: str) -> ASGIRouteHandler:
        parse = SOURCES[source]  # (bound once per route)
        received = metrics.alerts_received.labels(source)
        duration = metrics.ingest_duration.labels(source)
        processed = {o: metrics.alerts_processed.labels(source, o.value) for o in Outcome}
        created = {(o, p): metrics.tickets_created.labels(kind, str(p)) for o, kind in CREATED_KIND.items()
                   for p in range(1, 5)}
        tally = metrics.tally.inc  # (counted at the end of the event-loop turn)
        truncated_counter = metrics.alerts_truncated.labels(source)

        def truncated(count: int) -> None:   # (the sender's own setting loses them: say so, loudly)
            tally(truncated_counter, count)
            log.warning("alerts_left_out_by_sender", source=source, left_out=count,
                        fix="set max_alerts: 0 on Alertmanager's alertgate receiver")

        def count_outcomes(results: list[IngestResult], policies: list[Policy]) -> None:
            for result, policy in zip(results, policies):
                tally(processed[result.outcome])
                if result.outcome in CREATED_KIND:
                    tally(created[(result.outcome, policy.priority)])

        async def ingest(authorization: str | None, read_body: Callable[[], Awaitable[bytes]]) -> bytes:
            started = perf_counter()
            limiter.check(auth.authorize(authorization, INGEST))
            now = datetime.now(timezone.utc)
            alerts = parse(await read_body(), SourceContext(now, ci_labels, symptom_labels, truncated))
            tally(received, len(alerts))
            alerts, policies, results = await intake.record(alerts, now)
            count_outcomes(results, policies)
            for alert, result in zip(alerts, results):
                if result.outcome not in QUIET:
                    log.info("alert_ingested", source=source, occurrence_id=alert.occurrence_id,
                             ticket_id=result.ticket_id, ci=alert.ci, symptom=alert.symptom,
                             outcome=result.outcome.value)
            metrics.tally.observe(duration, perf_counter() - started)
            return _encode(IngestResponse(results))

        return post_route(PATHS[source], f"ingest_{source}", ingest, settings.body_limit)

    return [make(source) for source in SOURCES]
