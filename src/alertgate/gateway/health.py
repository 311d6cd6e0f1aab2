"""``/healthz`` (alive, no credential), ``/readyz`` (Redis reachable) and ``/metrics``."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis

from alertgate.gateway.auth import ANY_ROLE, Authenticator
from alertgate.gateway.errors import REDIS_UNAVAILABLE
from alertgate.observability.metrics import CONTENT_TYPE, GatewayMetrics
from alertgate.rules.service import RulesService


def health_handlers(redis: Redis, auth: Authenticator, metrics: GatewayMetrics,
                    rules: RulesService) -> list[HTTPRouteHandler]:
    @get("/healthz", sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @get("/readyz")
    async def readyz(request: Request) -> Response[dict]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        checks = {"rules": f"generation {rules.engine.generation}, {rules.engine.rule_count} rules"}
        if rules.last_errors:
            checks["rules"] += f" (last reload rejected: {len(rules.last_errors)} errors)"
        try:
            await redis.ping()
        except REDIS_UNAVAILABLE as exc:
            return Response({"status": "not ready", "checks": {**checks, "redis": type(exc).__name__}}, status_code=503)
        return Response({"status": "ready", "checks": {**checks, "redis": "ok"}})

    @get("/metrics", sync_to_thread=False)
    def metrics_endpoint(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ANY_ROLE)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [healthz, readyz, metrics_endpoint]
