"""Chinese and English for the console. The page text is written in English in the templates and
the console's code (``_("…")``); ``locale/zh/LC_MESSAGES/messages.po`` translates it (read with
Babel at start, so a translator edits one standard .po file and nothing is compiled). The language
is the ``ag_lang`` cookie's (the switch on every page), else the browser's Accept-Language
(zh, zh-CN, zh-Hans-CN… → Chinese), else English."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files

from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "zh": "中文"}
COOKIE = "ag_lang"
Gettext = Callable[[str], str]


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    with files("alertgate.console").joinpath(f"locale/{lang}/LC_MESSAGES/messages.po").open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale="zh_Hans_CN") if m.id and m.string and not m.fuzzy}


def gettext(lang: str) -> Gettext:
    table = catalogue(lang)
    return lambda message: table.get(message, message)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "en"
