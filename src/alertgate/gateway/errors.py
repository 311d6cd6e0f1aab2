"""Every error as ``{"error": ..., "detail": [{"path", "message"}]}`` with the right status."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from alertgate.keys import LayoutUnknown
from alertgate.runtime.connections import refuses_writes
from alertgate.dedup.store import ReplicasBehind
from alertgate.credentials import Forbidden, Unauthenticated
from alertgate.gateway.limits import RateLimited
from alertgate.intake.sources.common import ErrorDetail, PayloadError
from alertgate.observability.rejections import Rejections, reason_for

log = structlog.get_logger("alertgate.gateway")

# Faults that pass: the sender should retry (503 + Retry-After), never lose the alert.
REDIS_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    TryAgainError,
    ClusterDownError,
    MasterDownError,
    # a Cluster mid-failover: slots not covered, or moved under a call that may not follow
    RedisClusterException,
    MovedError,
    AskError,
    ReplicasBehind,
    LayoutUnknown,  # the key layout could not be read yet
)


def redis_away(exc: BaseException) -> bool:
    """Whether the error says to wait for Redis (down, failing over, refusing writes), not a bug."""
    return isinstance(exc, REDIS_UNAVAILABLE) or refuses_writes(exc)


class ErrorBody(msgspec.Struct):
    error: str
    detail: list[ErrorDetail] = []


_encode = msgspec.json.Encoder().encode


def json_response(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    """Any Struct or builtin as a JSON response, encoded by msgspec."""
    return Response(_encode(value), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, error: str, detail: list[ErrorDetail] | None = None,
                   headers: dict[str, str] | None = None) -> Response[bytes]:
    return json_response(ErrorBody(error, detail or []), status, headers)


def only_parameters(query: Any, allowed: tuple[str, ...]) -> None:
    """A 400 naming a query parameter the endpoint does not take, and those it does: ignored, a
    misspelt or unsupported filter (``?status=expired``) would answer as if it were met."""
    for name in query:
        if name not in allowed:
            detail = f"unknown parameter; one of {', '.join(allowed)}" if allowed else "takes no parameters"
            raise PayloadError("invalid query", [ErrorDetail(name, detail)])


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high], else a 400 naming it."""
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise PayloadError("invalid query", [ErrorDetail(name, f"a whole number from {low} to {high}")])
    return value


def exception_handlers(retry_after: int, body_limit: int,
                       on_redis_fault: Callable[[BaseException], Awaitable[None]] | None = None,
                       rejections: Rejections | None = None,
                       name_of: Callable[[str | None], str | None] = lambda _: None) -> dict[Any, Any]:
    """``on_redis_fault`` runs (at most once a second) after a Redis fault became a 503; every
    4xx is counted and logged by ``rejections`` with the credential's name from ``name_of``."""
    pending: set[asyncio.Task] = set()
    last_fault = [0.0]

    def refused(request: Request, status: int, error: str, detail: list[ErrorDetail] | None = None,
                headers: dict[str, str] | None = None) -> Response[bytes]:
        if rejections is not None:
            endpoint = request.scope.get("path_template") or "unmatched"
            credential = None if status == 401 else name_of(request.headers.get("authorization"))
            rejections.record(endpoint, status, reason_for(status, error), credential,
                              request.client.host if request.client else None)
        return error_response(status, error, detail, headers)

    def after_fault(fault: BaseException) -> None:
        if on_redis_fault is None or time.monotonic() - last_fault[0] < 1.0:
            return
        last_fault[0] = time.monotonic()
        task = asyncio.get_running_loop().create_task(on_redis_fault(fault))
        pending.add(task)
        task.add_done_callback(pending.discard)

    def payload_error(request: Request, exc: PayloadError) -> Response[bytes]:
        return refused(request, 400, exc.error, exc.detail)

    def unauthenticated(request: Request, exc: Unauthenticated) -> Response[bytes]:
        return refused(request, 401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="alertgate"'})

    def forbidden(request: Request, exc: Forbidden) -> Response[bytes]:
        return refused(request, 403, str(exc))

    def redis_unavailable(request: Request, exc: Exception) -> Response[bytes]:
        log.warning("redis_unavailable", path=request.url.path, error=type(exc).__name__)
        after_fault(exc)
        return error_response(503, "state store unavailable, retry later",
                              headers={"Retry-After": str(retry_after)})

    def response_error(request: Request, exc: ResponseError) -> Response[bytes]:
        if not refuses_writes(exc):
            return unexpected(request, exc)
        log.warning("redis_refuses_writes", path=request.url.path, message=str(exc)[:300])
        after_fault(exc)
        return error_response(503, "state store refuses writes (full, or its disk failed), retry later",
                              headers={"Retry-After": str(retry_after)})

    def rate_limited(request: Request, exc: RateLimited) -> Response[bytes]:
        return refused(request, 429, "rate limit exceeded for this credential",
                       headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))})

    def http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
        if exc.status_code == 413:
            return refused(request, 413, f"request body larger than the limit of {body_limit} bytes")
        if 400 <= exc.status_code < 500:
            return refused(request, exc.status_code, exc.detail, headers=exc.headers)
        return error_response(exc.status_code, exc.detail, headers=exc.headers)

    def unexpected(request: Request, exc: Exception) -> Response[bytes]:
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return error_response(500, "internal error")

    handlers: dict[Any, Any] = {
        PayloadError: payload_error,
        Unauthenticated: unauthenticated,
        Forbidden: forbidden,
        RateLimited: rate_limited,
        HTTPException: http_exception,
        ResponseError: response_error,
        Exception: unexpected,
    }
    handlers.update({kind: redis_unavailable for kind in REDIS_UNAVAILABLE})
    return handlers
