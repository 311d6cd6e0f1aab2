"""What a JSON endpoint accepts as ``Content-Type``.

Accepted: none at all (curl's `--data-binary` without `-H`, some scripts), ``application/json``,
``application/<anything>+json``, ``text/json`` and ``text/plain`` (senders that cannot set a type),
with any parameters (``; charset=utf-8``). Anything else, such as a form
(``application/x-www-form-urlencoded``, which ``curl -d`` sends unless told otherwise),
``multipart/form-data`` or XML, is answered 415 with the accepted types.
"""

from __future__ import annotations

from litestar.exceptions import HTTPException

ACCEPTED = "application/json (or application/*+json, text/json, text/plain, or none)"


def is_json(content_type: str | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return (not media or media in ("application/json", "text/json", "text/plain")
            or (media.startswith("application/") and media.endswith("+json")))


def require_json(content_type: str | None) -> None:
    if not is_json(content_type):
        raise HTTPException(status_code=415, detail=f"Content-Type {content_type!r} is not JSON; send {ACCEPTED} "
                                                    "(with curl: -H 'Content-Type: application/json')")
