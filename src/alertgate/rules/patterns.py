"""Regular expressions of rule files, run by RE2: matching takes time linear in the text,
whatever the pattern, so an operator's `^(a+)+$` cannot stall the gateway (Python's `re` took
9 s on 28 characters). RE2 has no backreferences or lookaround; `rules check` refuses them."""

from __future__ import annotations

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the reason goes into our error, not to stderr


class PatternError(ValueError):
    pass


def compile_pattern(text: str) -> "re2._Regexp":
    """The pattern compiled for ``search``; PatternError says why RE2 cannot run it."""
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"{reason} (rules use RE2 syntax: no backreferences or lookaround)") from None
