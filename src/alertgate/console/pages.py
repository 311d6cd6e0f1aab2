"""What every console page shares: who is signed in, in which language, the page frame (its
navigation shows what the role may use), redirects, and the guard of every form (same origin,
then the session's CSRF token)."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import structlog
from litestar import Request, Response
from redis.exceptions import ResponseError

from alertgate.console import i18n
from alertgate.console.render import PAGE_HEADERS, Renderer
from alertgate.console.session import ConsoleSessions, Session, csrf_ok, same_origin
from alertgate.runtime.connections import refuses_writes
from alertgate.settings import Role

log = structlog.get_logger("alertgate.console")
PLANNERS = frozenset({Role.SERVICE_DESK, Role.INCIDENT_MANAGER, Role.ADMIN})   # maintenance windows
RULE_TESTERS = frozenset({Role.ADMIN})                                          # SPEC §7: rules/test
FORM_LIMIT = 256 * 1024


class Refused(Exception):
    """A request the console answers with a page saying why (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Console:
    def __init__(self, sessions: ConsoleSessions, renderer: Renderer, retry_after: int = 5) -> None:
        self.sessions, self.renderer, self.retry_after = sessions, renderer, retry_after

    @staticmethod
    def lang(request: Request) -> str:
        return i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))

    async def session(self, request: Request) -> Session:
        """The signed-in session; Refused(401) sends the browser to the sign-in page."""
        session = await self.sessions.read(request)
        if session is None:
            raise Refused(401, "sign in")
        return session

    def page(self, request: Request, session: Session | None, template: str, status: int = 200,
             cookies: list | None = None, **context) -> Response:
        lang = self.lang(request)
        _ = i18n.gettext(lang)
        role = session.role if session else None
        nav = [("/console/queue", _("Queue")), ("/console/maintenance", _("Maintenance")),
               ("/console/heartbeats", _("Heartbeats")), ("/console/reports", _("Reports"))]
        if role in RULE_TESTERS:
            nav.insert(1, ("/console/rules", _("Rules")))
        base = {"_": _, "lang": lang, "languages": i18n.LANGUAGES, "session": session, "role": role.value if role else None,
                "csrf": session.csrf if session else "", "nav": nav if session else [], "path": request.url.path,
                "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                "now": datetime.now(timezone.utc)}
        return self.renderer.html(template, {**base, **context}, status, cookies)

    def refused(self, request: Request, session: Session | None, refusal: Refused) -> Response:
        if refusal.status == 401:
            return redirect(f"/console/login?next={quote(request.url.path)}")
        _ = i18n.gettext(self.lang(request))
        return self.page(request, session, "error.html", refusal.status, message=_(refusal.message))

    def redis_fault(self, request: Request, exc: Exception) -> Response:
        """A page or form that met a Redis that is away or refuses writes: a page saying so (503),
        rather than the API's JSON. Any other Redis error is a bug: a page too (500), logged."""
        _ = i18n.gettext(self.lang(request))
        if isinstance(exc, ResponseError) and not refuses_writes(exc):
            log.error("unhandled_error", path=request.url.path, exc_info=exc)
            return self.page(request, None, "error.html", 500, message=_("Something went wrong on the server; it is logged."))
        log.warning("console_redis_unavailable", path=request.url.path, error=type(exc).__name__)
        response = self.page(request, None, "error.html", 503, message=_(
            "The ticket store cannot be reached, or refuses changes, just now. What you sent may not "
            "have been done: check, and try again in a minute."))
        response.headers["Retry-After"] = str(self.retry_after)
        return response

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        """The posted form, once it is shown to come from a console page; Refused(403) if not."""
        if not same_origin(request):
            raise Refused(403, "This form was sent from another site and was refused.")
        if int(request.headers.get("content-length") or 0) > FORM_LIMIT:
            raise Refused(413, "The form is too large.")
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if session is not None and not csrf_ok(session, form.get("csrf") or request.headers.get("x-csrf-token")):
            raise Refused(403, "The form has expired or did not come from this console; reload the page and try again.")
        return form


def redirect(location: str) -> Response:
    return Response(b"", status_code=303, headers={**PAGE_HEADERS, "Location": location})


def local(path: str | None, default: str = "/console/queue") -> str:
    """A redirect target inside the console, never elsewhere."""
    if path and path.startswith("/console") and not path.startswith("//") and "\\" not in path:
        return path
    return default
