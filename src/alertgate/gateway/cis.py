"""The CI catalogue over HTTP (SPEC §11): list and show every CI (files and API), push or remove
the API's own, and the raw CIs alertgate met that no CI names (``intake.catalogue``)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, delete, get, put
from litestar.handlers import HTTPRouteHandler

from alertgate.correlation.catalogue import CI, CIBody
from alertgate.correlation.service import CatalogueService
from alertgate.credentials import READERS, Authenticator
from alertgate.gateway.errors import ErrorDetail, error_response, json_response, only_parameters, query_int
from alertgate.gateway.media_type import require_json
from alertgate.intake.sources.common import decode_json
from alertgate.settings import Role

CATALOGUERS = frozenset({Role.ADMIN, Role.INCIDENT_MANAGER})
MAX_DEPTH = 10


class CIListed(msgspec.Struct):
    ci: CI
    origin: str   # the file and line that defines it, or "api"


class CIView(msgspec.Struct):
    ci: CI
    origin: str
    ancestors: list[str]   # the CIs it depends on, nearest first


class CIList(msgspec.Struct):
    count: int             # CIs the filter holds, on every page
    problems: list[str]    # of the last reload of the files, if it was refused (the last good set runs)
    cis: list[CIListed]    # by name
    next_cursor: str | None = None   # pass as ?cursor= for the next page; None on the last


ORIGINS = ("api", "files")


class UnknownCI(msgspec.Struct):
    ci: str        # the raw name a sender used
    alerts: int    # alerts that named it


class UnknownCIs(msgspec.Struct):
    unknown: list[UnknownCI]


class Removed(msgspec.Struct):
    removed: str


def ci_handlers(service: CatalogueService, auth: Authenticator) -> list[HTTPRouteHandler]:
    def shown(name: str) -> CIView:
        entry = service.catalogue.entries[name]
        return CIView(entry.ci, entry.origin, service.catalogue.ancestors(name, MAX_DEPTH))

    @get("/api/v1/cis")
    async def list_cis(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("origin", "cursor", "limit"))
        limit = query_int(request, "limit", 500, 1, 1000)
        origin = request.query_params.get("origin")
        if origin is not None and origin not in ORIGINS:
            return error_response(400, "invalid query", [ErrorDetail("origin", "api or files")])
        entries, cursor, count = service.catalogue.page(request.query_params.get("cursor"), limit, origin)
        return json_response(CIList(count, service.last_problems, [CIListed(e.ci, e.origin) for e in entries], cursor))

    @get("/api/v1/cis/{name:str}")
    async def show(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        name = request.path_params["name"]
        if name not in service.catalogue.entries:
            return error_response(404, f"no CI {name}")
        return json_response(shown(name))

    @put("/api/v1/cis/{name:str}", status_code=200)
    async def push(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), CATALOGUERS)
        require_json(request.headers.get("content-type"))
        name = request.path_params["name"]
        body = decode_json(await request.body(), CIBody)
        if body.name is not None and body.name != name:
            return error_response(400, "invalid CI", [ErrorDetail("$.name", f"the path names {name!r}")])
        if name.isspace():
            return error_response(400, "invalid CI", [ErrorDetail("name", "must not be blank")])
        try:
            ci = body.named(name)
        except msgspec.ValidationError as exc:
            return error_response(400, "invalid CI", [ErrorDetail("name", str(exc).partition(" - at")[0])])
        problems = service.check_put(ci)
        if problems:
            status = 409 if service.origin(name) not in (None, "api") else 400
            return error_response(status, "the catalogue would not hold this CI",
                                  [ErrorDetail("$", problem) for problem in problems])
        created = name not in service.catalogue.entries
        await service.put(ci)
        return json_response(shown(name), 201 if created else 200)

    @delete("/api/v1/cis/{name:str}", status_code=200)
    async def remove(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), CATALOGUERS)
        name = request.path_params["name"]
        if name not in service.catalogue.entries:
            return error_response(404, f"no CI {name}")
        problems = service.check_delete(name)
        if problems:
            return error_response(409, "the CI cannot be removed", [ErrorDetail("$", p) for p in problems])
        await service.delete(name)
        return json_response(Removed(name))

    @get("/api/v1/unknown-cis")
    async def unknown(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), READERS)
        only_parameters(request.query_params, ("limit",))
        limit = query_int(request, "limit", 100, 1, 1000)
        await service.flush_unknown()
        rows = await service.unknown(limit)
        return json_response(UnknownCIs([UnknownCI(raw, count) for raw, count in rows]))

    @delete("/api/v1/unknown-cis", status_code=200)
    async def forget(request: Request) -> Response[bytes]:
        auth.authorize(request.headers.get("authorization"), CATALOGUERS)
        await service.forget_unknown()
        return json_response(UnknownCIs([]))

    return [list_cis, show, push, remove, unknown, forget]
