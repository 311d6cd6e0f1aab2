"""Rule endpoints: ``POST /api/v1/rules/reload`` (admin) and ``POST /api/v1/rules/test``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from alertgate.gateway.auth import Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response
from alertgate.gateway.sources import SOURCES
from alertgate.gateway.media_type import require_json
from alertgate.gateway.sources.common import SourceContext, decode_json
from alertgate.rules.engine import RuleEngine, StageMatch
from alertgate.rules.policy import Policy
from alertgate.rules.service import RulesService
from alertgate.settings import Role, Settings

_encode = msgspec.json.Encoder().encode
ADMIN = frozenset({Role.ADMIN})


class RuleTest(msgspec.Struct, forbid_unknown_fields=True):
    source: Literal["alertmanager", "zabbix", "finding"]
    payload: msgspec.Raw


class AlertVerdict(msgspec.Struct):
    occurrence_id: str
    ci: str
    symptom: str
    status: str
    stages: list[StageMatch]
    ticket: Policy


def explain(body: bytes, source: str, engine: RuleEngine, settings: Settings) -> list[AlertVerdict]:
    """Run one payload through every stage; nothing is stored."""
    now = datetime.now(timezone.utc)
    alerts = SOURCES[source](body, SourceContext(now, tuple(settings.ci_labels), tuple(settings.symptom_labels)))
    verdicts = []
    for alert in alerts:
        evaluation = engine.evaluate(alert, now)
        verdicts.append(AlertVerdict(alert.occurrence_id, evaluation.policy.ci or alert.ci, alert.symptom,
                                     alert.status.value, evaluation.matches, evaluation.policy))
    return verdicts


def rule_handlers(service: RulesService, auth: Authenticator, settings: Settings) -> list[HTTPRouteHandler]:
    @post("/api/v1/rules/reload", status_code=200)
    async def reload(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ADMIN)
        errors = service.reload()
        if errors:
            detail = [ErrorDetail(f"{e.file}:{e.line}", e.message) for e in errors]
            return error_response(422, "rules rejected; the running rules are kept", detail)
        return Response(_encode({"generation": service.engine.generation, "rules": service.engine.rule_count}),
                        media_type="application/json")

    @post("/api/v1/rules/test", status_code=200)
    async def test(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ADMIN)
        require_json(request.headers.get("content-type"))
        wanted = decode_json(await request.body(), RuleTest)
        return Response(_encode({"results": explain(bytes(wanted.payload), wanted.source, service.engine, settings)}),
                        media_type="application/json")

    return [reload, test]

