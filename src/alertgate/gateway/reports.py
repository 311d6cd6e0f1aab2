"""Problem records and KPIs over HTTP: ``/api/v1/problems``, ``/api/v1/problems/{id}``, ``/api/v1/kpi``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis

from alertgate.credentials import READERS, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, only_parameters, query_int
from alertgate.kpi.compute import BY
from alertgate.kpi.report import kpi_report
from alertgate.moments import parse_moment
from alertgate.problems.store import ProblemNotFound, ProblemStore



class PeriodError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(name, message)
        self.name, self.message = name, message


def _period(request: Request) -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    values = []
    for name, default in (("from", now - timedelta(days=30)), ("to", now)):
        text = request.query_params.get(name)
        try:
            values.append(parse_moment(text) if text is not None else default)
        except ValueError as exc:
            raise PeriodError(name, str(exc)) from None
    return values[0], values[1]


def report_handlers(redis: Redis, auth: Authenticator) -> list[HTTPRouteHandler]:
    problems = ProblemStore(redis)

    @get("/api/v1/problems")
    async def list_problems(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("limit", "offset"))
        limit = query_int(request, "limit", 50, 1, 500)
        offset = query_int(request, "offset", 0, 0, 2**31)
        return json_response({"problems": await problems.list(limit, offset)})

    @get("/api/v1/problems/{problem_id:str}")
    async def get_problem(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        try:
            return json_response(await problems.get(request.path_params["problem_id"]))
        except ProblemNotFound:
            return error_response(404, f"no problem {request.path_params['problem_id']}")

    @get("/api/v1/kpi")
    async def kpi(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("from", "to", "by"))
        try:
            start, end = _period(request)
        except PeriodError as exc:
            return error_response(400, "invalid query", [ErrorDetail(exc.name, exc.message)])
        if end <= start:
            return error_response(400, "invalid query", [ErrorDetail("to", "must be after from")])
        by = request.query_params.get("by")
        if by is not None and by not in BY:
            return error_response(400, "invalid query", [ErrorDetail("by", f"one of {', '.join(BY)}")])
        return json_response(await kpi_report(redis, start, end, by))

    return [list_problems, get_problem, kpi]
