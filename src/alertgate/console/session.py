"""Console sessions: a token is exchanged once for a random session id in an HttpOnly,
SameSite=Strict cookie; the session (name, role, the token's digest, a CSRF token) lives in
Redis for ``TTL`` seconds. Every request checks that the token is still configured with that
role, so withdrawing a token ends its sessions. Every form carries the session's CSRF token,
and a POST whose Origin is another site is refused before that."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from litestar import Request

from alertgate.credentials import Authenticator, Forbidden, Principal, Unauthenticated
from alertgate.keys import console_session_key
from alertgate.settings import Role

COOKIE = "ag_console"
TTL = 12 * 3600


class Session(msgspec.Struct, kw_only=True):
    name: str
    role: Role
    token_sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]   # (a record changed by hand: no session)
    csrf: str

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role)


class ConsoleSessions:
    def __init__(self, redis, auth: Authenticator) -> None:
        self._redis, self._auth = redis, auth

    async def open(self, token: str) -> tuple[str, Session]:
        """A new session for ``token``; Unauthenticated, or Forbidden for a sender's token."""
        principal = self._auth.authenticate(f"Bearer {token.strip()}")
        if principal.role is Role.SOURCE:
            raise Forbidden("a sender's token cannot sign in to the console")
        session_id = secrets.token_urlsafe(32)
        session = Session(name=principal.name, role=principal.role, csrf=secrets.token_urlsafe(24),
                          token_sha256=hashlib.sha256(token.strip().encode()).hexdigest())
        await self._redis.set(console_session_key(session_id), msgspec.json.encode(session), ex=TTL)
        return session_id, session

    async def read(self, request: Request) -> Session | None:
        session_id = request.cookies.get(COOKIE)
        if not session_id or len(session_id) > 100:
            return None
        raw = await self._redis.get(console_session_key(session_id))
        if raw is None:
            return None
        try:
            session = msgspec.json.decode(raw, type=Session)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        current = self._auth.by_digest(bytes.fromhex(session.token_sha256))
        if current is None or current.role is not session.role:
            return None  # the token was withdrawn or its role changed
        return session

    async def close(self, request: Request) -> None:
        session_id = request.cookies.get(COOKIE)
        if session_id:
            await self._redis.delete(console_session_key(session_id))


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf.encode(), submitted.encode())


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (Origin, Sec-Fetch-Site)."""
    if request.headers.get("sec-fetch-site") in ("cross-site",):
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


__all__ = ["COOKIE", "TTL", "ConsoleSessions", "Session", "csrf_ok", "same_origin", "Unauthenticated", "Forbidden"]
