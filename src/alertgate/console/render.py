"""Pages and assets: Jinja2 templates with autoescaping on (alert text is hostile input and is
always rendered as text), the security headers of every console answer, and the static assets
served from the package with a content hash in their URL and a year of caching."""

from __future__ import annotations

import hashlib
from datetime import timezone
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar import Response

from alertgate.moments import shown, zone_named

# No inline script or style anywhere: the page's own files only (SPEC §12).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


class Assets:
    def __init__(self) -> None:
        self.content = {name: files("alertgate.console").joinpath(f"static/{name}").read_bytes() for name in ASSETS}
        self.version = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in self.content.items()}

    def url(self, name: str) -> str:
        return f"/console/static/{name}?v={self.version[name]}"

    def response(self, name: str) -> Response[bytes]:
        if name not in self.content:
            return Response(b"not found", status_code=404, media_type="text/plain", headers=PAGE_HEADERS)
        return Response(self.content[name], media_type=ASSETS[name], headers={
            "Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff",
            "ETag": f'"{self.version[name]}"'})


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Renderer:
    def __init__(self, zone_name: str = "UTC") -> None:
        """``zone_name``: the IANA zone the console shows times in and reads a form's times in."""
        self.zone = zone_named(zone_name) or timezone.utc   # (checked when the settings load)
        self.env = Environment(loader=PackageLoader("alertgate.console", "templates"), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(when=lambda moment: shown(moment, self.zone), duration=duration)
        self.zone_name = "UTC" if self.zone is timezone.utc else zone_name
        self.env.globals["zone"] = self.zone_name
        self.assets = Assets()
        self.env.globals["asset"] = self.assets.url

    def html(self, template: str, context: dict, status: int = 200, cookies: list | None = None) -> Response[str]:
        body = self.env.get_template(template).render(context)
        return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS,
                        cookies=cookies or [])
