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


# An RE2 Set searches all its patterns in one pass of its DFA, which has no slower engine to fall
# back on: a Set whose DFA cannot start within its memory answers "no match" to every text,
# silently. The DFA starts when 20 of its largest states fit in its budget (re2/dfa.cc, DFA::DFA),
# and a state grows with the program's size; patterns this small together (a state of a few tens
# of KiB against the ~5 MiB budget of the default 8 MiB max_mem) always start, and once started a
# Set search never fails (a full cache is emptied, never given up, for a Set). Larger groups are
# searched one pattern at a time, as before.
SET_PROGRAM_LIMIT = 5_000   # RE2 program instructions of a group's patterns together


class PatternGroup:
    """The patterns one stage searches in the same value, searched together: one RE2 Set pass
    instead of one search per pattern (a classification stage holds eight on the title; a new
    master's title is searched once, whatever the number of rules)."""

    def __init__(self, patterns: list["re2._Regexp"]) -> None:
        self.patterns = tuple(patterns)
        self.none = (False,) * len(patterns)   # (no value: nothing found)
        self._set = _set_of(self.patterns)

    def found(self, text: bytes) -> tuple[bool, ...]:
        """Whether each pattern is found in ``text`` (UTF-8), in the group's order."""
        if self._set is None:
            return tuple(p.search(text) is not None for p in self.patterns)
        hits = self._set.Match(text)
        if not hits:
            return self.none
        found = list(self.none)
        for index in hits:
            found[index] = True
        return tuple(found)


def _set_of(patterns: tuple["re2._Regexp", ...]) -> "re2.Set | None":
    if not patterns or sum(p.programsize for p in patterns) > SET_PROGRAM_LIMIT:
        return None
    searched = re2.Set.SearchSet(_OPTIONS)
    try:
        for pattern in patterns:
            searched.Add(pattern.pattern)   # (numbered in order: 0, 1, …)
        searched.Compile()
    except re2.error:
        return None
    return searched
