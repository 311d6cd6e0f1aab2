"""A JSON POST route as a Litestar ASGI route handler: the ingest routes, the hot path.

Litestar's Request/Response machinery (signature model, header map, response object, its ASGI
adapter) costs about as much as everything else a storm alert needs (the measurement is in
bench/README.md, "A lean ingest route"). The handler still runs inside the app: its exceptions go
through the app's exception handlers (so every error answer is the same JSON as elsewhere), and
the body limit is the app's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import asgi
from litestar.exceptions import HTTPException, InternalServerException, MethodNotAllowedException
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from alertgate.gateway.media_type import require_json

# handle(authorization header or None, read_body) → the JSON answer
Handle = Callable[[str | None, Callable[[], Awaitable[bytes]]], Awaitable[bytes]]

METHODS = ("POST",)
_JSON = (b"content-type", b"application/json")


def post_route(path: str, name: str, handle: Handle, body_limit: int) -> ASGIRouteHandler:
    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowedException(headers={"Allow": ", ".join(METHODS)})
        authorization, declared, content_type = _head(scope)
        require_json(content_type)
        if declared is not None and declared > body_limit:
            raise HTTPException(status_code=413)  # before reading any of it

        async def read_body() -> bytes:
            return await _read_body(receive, body_limit)

        answer = await handle(authorization, read_body)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [_JSON, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    # `opt` tells the tests (and any reader of app.routes) the methods this route answers.
    return asgi(path, name=name, is_mount=False, copy_scope=False, opt={"methods": METHODS})(route)


def _head(scope: Scope) -> tuple[str | None, int | None, str | None]:
    """The Authorization header, the declared body length and the Content-Type (header names
    arrive lowercased)."""
    authorization = declared = content_type = None
    for header, value in scope["headers"]:
        if header == b"authorization":
            authorization = value.decode("latin-1")
        elif header == b"content-length":
            declared = int(value) if value.isdigit() else None  # (the HTTP parser checks it too)
        elif header == b"content-type":
            content_type = value.decode("latin-1")
    return authorization, declared, content_type


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
