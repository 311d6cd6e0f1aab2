"""The console's Chinese (SPEC §12): every text the templates and the console's code pass to
``_()`` has a translation, the page renders no untranslated placeholder, and the language
follows the cookie, then the browser's Accept-Language."""

import re
from pathlib import Path

import pytest

from alertgate.console import i18n

CONSOLE = Path(i18n.__file__).parent
LITERAL = re.compile(r'''_\(\s*(["'])((?:(?!\1).)+)\1\s*\)''')
REFUSAL = re.compile(r'Refused\(\d+, "([^"]+)"\)')


def texts() -> set[str]:
    found = set()
    for path in [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]:
        source = path.read_text()
        found |= {m.group(2) for m in LITERAL.finditer(source)} | set(REFUSAL.findall(source))
    return found


def test_every_console_text_has_a_chinese_translation():
    catalogue = i18n.catalogue("zh")
    missing = sorted(t for t in texts() if t not in catalogue)
    assert not missing, missing
    assert all(catalogue[t].strip() for t in texts())


@pytest.mark.parametrize(("cookie", "header", "lang"), [
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"), (None, "zh-Hans-CN", "zh"), (None, "en-US,en;q=0.9,zh;q=0.8", "en"),
    (None, "fr-FR, zh;q=0.5", "zh"), (None, None, "en"), (None, "de", "en"), ("en", "zh-CN", "en"), ("zh", "en", "zh"),
    ("xx", "zh", "zh"), (None, "zh;q=0, en;q=0.1", "en"), (None, "zh;q=abc", "en"),
])
def test_the_language_is_the_cookie_then_the_browser(cookie, header, lang):
    assert i18n.negotiate(cookie, header) == lang
