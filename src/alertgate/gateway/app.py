"""The app factory: ``create_app(settings, redis)`` wires every piece explicitly."""

from __future__ import annotations

from litestar import Litestar
from redis.asyncio import Redis

from alertgate.dedup.store import DedupStore
from alertgate.gateway.auth import Authenticator
from alertgate.gateway.errors import exception_handlers
from alertgate.gateway.health import health_handlers
from alertgate.gateway.intake import intake_handlers
from alertgate.gateway.tickets import ticket_exception_handlers, ticket_handlers
from alertgate.observability.logging import configure_logging
from alertgate.observability.metrics import GatewayMetrics
from alertgate.settings import Settings, load_settings
from alertgate.tickets.store import TicketStore


def connect_redis(url: str, settings: Settings) -> Redis:
    """An asyncio client whose calls fail fast (into a 503) instead of hanging."""
    return Redis.from_url(
        url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=30,
    )


def create_app(settings: Settings, redis: Redis) -> Litestar:
    auth = Authenticator(settings.all_tokens())
    metrics = GatewayMetrics()
    # Occurrences are kept as long as a closed ticket can still make a recurrence.
    retention = int(settings.recurrence_lookback + settings.dedup_window)
    dedup = DedupStore(redis, retention, settings.recurrence_lookback, settings.auto_resolve)

    async def close_redis() -> None:
        await redis.aclose()

    return Litestar(
        route_handlers=[
            *intake_handlers(settings, auth, dedup, metrics),
            *ticket_handlers(TicketStore(redis), auth),
            *health_handlers(redis, auth, metrics),
        ],
        exception_handlers={**exception_handlers(settings.retry_after, settings.body_limit),
                            **ticket_exception_handlers()},
        request_max_body_size=settings.body_limit,
        on_shutdown=[close_redis],
        openapi_config=None,
        debug=False,
    )


def app_from_environment() -> Litestar:
    """Entry point for ``uvicorn --factory`` in each server process: settings from the env."""
    settings = load_settings()
    configure_logging(settings.log_level)
    if not settings.redis_url:
        raise SystemExit("ALERTGATE_REDIS_URL is not set (use `alertgate run` for an embedded Redis)")
    return create_app(settings, connect_redis(settings.redis_url, settings))
