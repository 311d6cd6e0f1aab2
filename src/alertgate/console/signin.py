"""Signing in and out, the language switch and the console's assets."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.handlers import HTTPRouteHandler

from alertgate.console import i18n
from alertgate.console.pages import Console, Refused, local, redirect
from alertgate.console.session import COOKIE, TTL, Forbidden, Unauthenticated


def signin_handlers(console: Console) -> list[HTTPRouteHandler]:
    def cookie(request: Request, key: str, value: str, max_age: int) -> Cookie:
        return Cookie(key=key, value=value, path="/console", httponly=True, samesite="strict",
                      secure=request.url.scheme == "https", max_age=max_age)

    @get("/console", include_in_schema=False)
    async def home() -> Response:
        return redirect("/console/queue")

    @get("/console/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        return console.page(request, None, "login.html", next=local(request.query_params.get("next")), error=None)

    @post("/console/login", include_in_schema=False, status_code=303)
    async def login(request: Request) -> Response:
        _ = i18n.gettext(console.lang(request))
        try:
            form = await console.form(request, None)
            target = local(form.get("next"))
            session_id, _session = await console.sessions.open(form.get("token", ""))
        except Refused as refusal:
            return console.refused(request, None, refusal)
        except (Unauthenticated, Forbidden) as exc:
            message = (_("A sender's token cannot sign in to the console.") if isinstance(exc, Forbidden)
                       else _("This token is not known. Check it and try again."))
            return console.page(request, None, "login.html", 401 if isinstance(exc, Unauthenticated) else 403,
                                next=local(request.query_params.get("next")), error=message)
        response = redirect(target)
        response.set_cookie(cookie(request, COOKIE, session_id, TTL))
        return response

    @post("/console/logout", include_in_schema=False, status_code=303)
    async def logout(request: Request) -> Response:
        try:
            session = await console.session(request)
            await console.form(request, session)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        await console.sessions.close(request)
        response = redirect("/console/login")
        response.delete_cookie(COOKIE, path="/console")
        return response

    @post("/console/language", include_in_schema=False, status_code=303)
    async def language(request: Request) -> Response:
        try:
            session = await console.sessions.read(request)
            form = await console.form(request, session)
        except Refused as refusal:
            return console.refused(request, None, refusal)
        lang = form.get("lang")
        response = redirect(local(form.get("next"), "/console/login"))
        if lang in i18n.LANGUAGES:
            response.set_cookie(cookie(request, i18n.COOKIE, lang, 365 * 86400))
        return response

    @get("/console/static/{name:str}", include_in_schema=False)
    async def asset(request: Request) -> Response:
        return console.renderer.assets.response(request.path_params["name"])

    return [home, login_page, login, logout, language, asset]
