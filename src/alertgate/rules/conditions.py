"""Rule conditions: the YAML form, parsed into a small tree (no code, only data).

A leaf names a ``field`` of the normalized alert (or one set by an earlier stage, or a fact of its
CI from the catalogue: ``ci.service``, ``ci.group``, ``ci.criticality``, ``ci.known``) or a ``label``,
and one operator: ``equals``, ``not_equals``, ``in``, ``regex`` (RE2, searched anywhere in the value),
``exists`` (true/false), ``lt``, ``le``, ``gt``, ``ge``. ``tags_any`` / ``tags_all`` take a map of
label → value. ``all``, ``any`` and ``not`` combine conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from alertgate.rules.patterns import PatternError, compile_pattern

# The CI catalogue's facts of the alert's CI (SPEC §11), as rules name them → as the engine keeps them.
CI_FACTS = {"ci.service": "ci_service", "ci.group": "ci_group", "ci.criticality": "ci_criticality",
            "ci.known": "ci_known"}
FIELDS = frozenset({
    "source", "ci", "symptom", "status", "severity", "title", "description",
    "category", "area", "subarea", "nature", "affected_service", "impact", "urgency", "priority",
    *CI_FACTS,
})
INT_FIELDS = frozenset({"impact", "urgency", "priority", "ci_criticality"})
BOOL_FIELDS = frozenset({"ci_known"})   # kept as "true" / "false"
OPERATORS = ("equals", "not_equals", "in", "regex", "exists", "lt", "le", "gt", "ge")
NUMERIC = frozenset({"lt", "le", "gt", "ge"})


class ConditionError(Exception):
    def __init__(self, message: str, path: tuple = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Leaf:
    kind: str            # "field" or "label"
    name: str
    op: str
    value: Any = None
    pattern: Any = None  # an RE2 pattern (patterns.compile_pattern)

    def subject(self) -> tuple[str, str]:
        return self.kind, self.name


@dataclass(frozen=True)
class AllOf:
    items: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    item: "Condition"


Condition = Union[Leaf, AllOf, AnyOf, Not]


def parse_condition(raw: Any, path: tuple = ()) -> Condition:
    if not isinstance(raw, dict) or not raw:
        raise ConditionError("a condition is a mapping, e.g. {field: severity, equals: critical}", path)
    keys = set(raw)
    for combinator, kind in (("all", AllOf), ("any", AnyOf)):
        if combinator in keys:
            _only(keys, {combinator}, path)
            items = raw[combinator]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"'{combinator}' takes a non-empty list of conditions", path + (combinator,))
            return kind(tuple(parse_condition(item, path + (combinator, i)) for i, item in enumerate(items)))
    if "not" in keys:
        _only(keys, {"not"}, path)
        return Not(parse_condition(raw["not"], path + ("not",)))
    for combinator, kind in (("tags_any", AnyOf), ("tags_all", AllOf)):
        if combinator in keys:
            _only(keys, {combinator}, path)
            tags = raw[combinator]
            if not isinstance(tags, dict) or not tags:
                raise ConditionError(f"'{combinator}' takes a map of label: value", path + (combinator,))
            return kind(tuple(Leaf("label", str(k), "equals", _text(v, path + (combinator, k))) for k, v in tags.items()))
    return _leaf(raw, keys, path)


def _only(keys: set, allowed: set, path: tuple) -> None:
    extra = keys - allowed
    if extra:
        raise ConditionError(f"unexpected {', '.join(sorted(map(str, extra)))} beside {', '.join(sorted(allowed))}", path)


def _leaf(raw: dict, keys: set, path: tuple) -> Leaf:
    subjects = keys & {"field", "label"}
    if len(subjects) != 1:
        raise ConditionError("a condition names exactly one 'field' or 'label' (or uses all/any/not/tags_any/tags_all)", path)
    kind = subjects.pop()
    name = raw[kind]
    if not isinstance(name, str) or not name:
        raise ConditionError(f"'{kind}' must be a name", path + (kind,))
    if kind == "field" and name not in FIELDS:
        raise ConditionError(f"unknown field {name!r} (one of {', '.join(sorted(FIELDS))})", path + ("field",))
    name = CI_FACTS.get(name, name)
    ops = keys - {kind}
    unknown = ops - set(OPERATORS)
    if unknown:
        raise ConditionError(f"unknown operator {sorted(unknown)[0]!r} (one of {', '.join(OPERATORS)})", path + (sorted(unknown)[0],))
    if len(ops) != 1:
        raise ConditionError(f"a condition has exactly one operator (one of {', '.join(OPERATORS)})", path)
    op = ops.pop()
    value = raw[op]
    where = path + (op,)
    if op == "regex":
        if not isinstance(value, str):
            raise ConditionError("'regex' takes a regular expression as a string", where)
        try:
            return Leaf(kind, name, op, value, compile_pattern(value))
        except PatternError as exc:
            raise ConditionError(f"invalid regular expression {value!r}: {exc}", where) from None
    if op == "exists":
        if not isinstance(value, bool):
            raise ConditionError("'exists' takes true or false", where)
    elif op in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConditionError(f"'{op}' takes a number", where)
    elif op == "in":
        if not isinstance(value, list) or not value or any(isinstance(v, (dict, list)) for v in value):
            raise ConditionError("'in' takes a non-empty list of values", where)
        value = tuple(_typed(kind, name, v, where + (i,)) for i, v in enumerate(value))
    else:
        if isinstance(value, (dict, list)) or value is None:
            raise ConditionError(f"'{op}' takes a single value", where)
        value = _typed(kind, name, value, where)
    return Leaf(kind, name, op, value)


def _typed(kind: str, name: str, value: Any, where: tuple) -> Any:
    """Values compare as the subject is typed: impact/urgency/priority as numbers, the rest as text."""
    if kind == "field" and name in INT_FIELDS and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    if kind == "field" and name in BOOL_FIELDS and isinstance(value, bool):
        return "true" if value else "false"
    return _text(value, where)


def _text(value: Any, where: tuple) -> str:
    """A value compared with text (a label, a title): YAML reads ``yes``/``no``/``on``/``off`` as
    true or false and ``1.10`` as the number 1.1, so such an unquoted value could never match the
    text it looks like, and ``rules check`` said ok. A whole number is taken as its digits."""
    if isinstance(value, bool):
        raise ConditionError(f"YAML reads this value as {str(value).lower()}, not as text: quote the text "
                             f"you mean ('yes', 'on', 'true')", where)
    if isinstance(value, float):
        raise ConditionError(f"YAML reads this value as the number {value!r}, not as text: quote the text "
                             f"you mean ('1.10')", where)
    return value if isinstance(value, str) else str(value)
