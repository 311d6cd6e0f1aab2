"""Ingest routes: one handler per source, all the same shape (auth → parse → record → answer)."""

from __future__ import annotations

from datetime import datetime, timezone
from time import perf_counter

import msgspec
import structlog
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from alertgate.dedup.ledger import DeliveryLedger, Outcome
from alertgate.gateway.auth import INGEST, Authenticator
from alertgate.gateway.sources import SOURCES
from alertgate.gateway.sources.common import SourceContext
from alertgate.observability.metrics import GatewayMetrics
from alertgate.settings import Settings

log = structlog.get_logger("alertgate.intake")

PATHS = {
    "alertmanager": "/api/v1/alerts/alertmanager",
    "zabbix": "/api/v1/alerts/zabbix",
    "finding": "/api/v1/findings",
}


class IngestResult(msgspec.Struct):
    occurrence_id: str
    outcome: Outcome
    ticket_id: str | None = None
    master_id: str | None = None


class IngestResponse(msgspec.Struct):
    results: list[IngestResult]


_encode = msgspec.json.Encoder().encode


def intake_handlers(settings: Settings, auth: Authenticator, ledger: DeliveryLedger,
                    metrics: GatewayMetrics) -> list[HTTPRouteHandler]:
    """One POST handler per registered source."""
    ci_labels, symptom_labels = tuple(settings.ci_labels), tuple(settings.symptom_labels)

    def make(source: str) -> HTTPRouteHandler:
        parse = SOURCES[source]
        received = metrics.alerts_received.labels(source)
        duration = metrics.ingest_duration.labels(source)

        async def ingest(request: Request) -> Response[bytes]:
            started = perf_counter()
            auth.authorize(request.headers.get("authorization"), INGEST)
            ctx = SourceContext(datetime.now(timezone.utc), ci_labels, symptom_labels)
            alerts = parse(await request.body(), ctx)
            received.inc(len(alerts))
            outcomes = await ledger.record(alerts)
            results = []
            for alert, outcome in zip(alerts, outcomes):
                metrics.alerts_processed.labels(source, outcome.value).inc()
                if outcome is not Outcome.REPEAT:
                    log.info("alert_ingested", source=source, occurrence_id=alert.occurrence_id,
                             ci=alert.ci, symptom=alert.symptom, outcome=outcome.value)
                results.append(IngestResult(alert.occurrence_id, outcome))
            duration.observe(perf_counter() - started)
            return Response(_encode(IngestResponse(results)), media_type="application/json")

        return post(PATHS[source], name=f"ingest_{source}", status_code=200)(ingest)

    return [make(source) for source in SOURCES]
