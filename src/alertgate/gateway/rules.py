"""Rule endpoints: ``POST /api/v1/rules/reload`` (admin) and ``POST /api/v1/rules/test``."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from alertgate.correlation.service import CatalogueService
from alertgate.credentials import Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response
from alertgate.gateway.media_type import require_json
from alertgate.intake.explain import explain
from alertgate.intake.sources import NAMES
from alertgate.intake.sources.common import decode_json
from alertgate.rules.service import RulesService
from alertgate.settings import Role, Settings

_encode = msgspec.json.Encoder().encode
ADMIN = frozenset({Role.ADMIN})


class RuleTest(msgspec.Struct, forbid_unknown_fields=True):
    source: Literal[NAMES]  # type: ignore[valid-type]  (every registered source)
    payload: msgspec.Raw


def rule_handlers(service: RulesService, auth: Authenticator, settings: Settings,
                  catalogue: CatalogueService | None = None) -> list[HTTPRouteHandler]:
    @post("/api/v1/rules/reload", status_code=200)
    async def reload(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), ADMIN)
        errors = await asyncio.to_thread(service.reload)   # (see RulesService.watch)
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
        return Response(_encode({"results": explain(bytes(wanted.payload), wanted.source, service.engine, settings,
                                                   catalogue.catalogue if catalogue else None)}),
                        media_type="application/json")

    return [reload, test]

