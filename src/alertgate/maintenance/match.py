"""Which alerts a window matches (pure): every matcher must hold (an empty list with ``all``).
Fields: ``ci``, ``service`` (the rules' affected_service), ``source``, ``symptom``,
``label.<name>``. ``re`` is a full match in RE2 (linear time, as in the rules)."""

from __future__ import annotations

from collections.abc import Callable

from alertgate.maintenance.model import Matcher
from alertgate.rules.patterns import PatternError, compile_pattern
from alertgate.tickets.alert import Alert

FIELDS = ("ci", "service", "source", "symptom")
Test = Callable[[Alert, str | None], bool]


class MatcherError(ValueError):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.path, self.message = f"$.matchers[{index}]", message


def _getter(field: str) -> Callable[[Alert, str | None], str | None]:
    if field == "service":
        return lambda alert, service: service
    if field.startswith("label.") and len(field) > 6:
        name = field[6:]
        return lambda alert, service: alert.labels.get(name)
    return lambda alert, service: getattr(alert, field)


def compile_matchers(matchers: list[Matcher]) -> list[Test]:
    """Each matcher as a test of (alert, service); MatcherError names the bad one."""
    tests = []
    for index, matcher in enumerate(matchers):
        if matcher.field not in FIELDS and not (matcher.field.startswith("label.") and len(matcher.field) > 6):
            raise MatcherError(index, f"unknown field {matcher.field!r}: one of {', '.join(FIELDS)} or label.<name>")
        get = _getter(matcher.field)
        if matcher.op == "in":
            if not isinstance(matcher.value, list):
                raise MatcherError(index, "op in takes a list")
            values = frozenset(matcher.value)
            tests.append(lambda a, s, get=get, values=values: get(a, s) in values)
            continue
        if not isinstance(matcher.value, str):
            raise MatcherError(index, f"op {matcher.op} takes one string")
        if matcher.op == "eq":
            tests.append(lambda a, s, get=get, value=matcher.value: get(a, s) == value)
            continue
        try:
            pattern = compile_pattern(matcher.value)
        except PatternError as exc:
            raise MatcherError(index, f"not an RE2 pattern: {exc}") from None
        tests.append(lambda a, s, get=get, pattern=pattern: (v := get(a, s)) is not None and pattern.fullmatch(v) is not None)
    return tests


def matches(tests: list[Test], alert: Alert, service: str | None) -> bool:
    for test in tests:  # (a loop, not all(…): no generator per alert in a storm)
        if not test(alert, service):
            return False
    return True
