"""Rules of one stage → a durable_rules ruleset definition, and the message that feeds it.

The definition holds the *shape* of the rules only: every literal value travels in the message as
a parameter (``p0``, ``p1``, …) compared field-to-field (``{"$m": "p0"}``). Rules that differ only
in their values therefore compile to the same ruleset, which the engine registers once and reuses
across reloads (durable_rules cannot unregister the state a ruleset allocates). Regular
expressions (Python's, not durable_rules' pattern language) and maintenance windows are evaluated
here and posted as boolean facts, and so is membership in an ``in`` list. ``pri`` gives
first-match-wins in file order.

A stage is compiled into **parts**, rulesets of consecutive rules, posted in order until one
matches. durable_rules 2.0.28 keeps at most 255 entries in a message (every post of a larger one
fails, error 302), at most 512 branches under one node of its network (past that, a lookup in
the full table never returns: the reload hangs), and at most 64 of its nodes matched at once
(error 303). A part therefore reads at most ``PART_READS`` entries of a message, has at most
``PART_NODES`` nodes (its conditions, an ``$or`` spread into its branches; so at most as many
rules, well within the 256 a node's beta list holds); a rule that alone is larger is refused with
its file and line (``check_sizes``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from alertgate.rules.conditions import INT_FIELDS, AllOf, AnyOf, Condition, Leaf, Not
from alertgate.rules.patterns import PatternGroup
from alertgate.rules.schema import Rule, RuleError, RulesInvalid, Window

ALWAYS = {"k": 1}          # every message carries k: 1
PART_READS = 200          # message entries one part reads (durable_rules holds 255, with k and id)
PART_NODES = 60           # conditions in one part (durable_rules follows at most 64 matched at once)
SEARCHED_LIMIT = 10_000   # regex results remembered per stage
SEARCHED_LENGTH = 256     # bytes of the longest value remembered (a stage holds at most ~3 MB)


@dataclass
class Part:
    """Consecutive rules of a stage as one durable_rules ruleset, and what its messages carry."""
    stage: str
    definition: dict[str, dict] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)   # the values its rules compare with
    facts: set[str] = field(default_factory=set)           # the facts its rules read
    # Entries of which at least one must hold for any of its rules to match (fact → the values
    # that would do), or None when a rule has no such entry: a part none of whose rules can
    # match is not posted. (A stage of a rule per host posts only the part of that host.)
    guard: dict[str, set] | None = field(default_factory=dict)
    nodes: int = 0   # its rules' conditions as durable_rules' network holds them (``_paths``)

    def may_match(self, facts: Mapping[str, Any]) -> bool:
        return self.guard is None or any(facts.get(alias) in values for alias, values in self.guard.items())

    @functools.cached_property  # read on every evaluation; the definition never changes
    def name(self) -> str:
        shape = json.dumps(self.definition, sort_keys=True)
        return f"{self.stage}_{hashlib.sha256(shape.encode()).hexdigest()[:16]}"

    def message(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """What durable_rules is posted: the facts this part reads and its rules' values."""
        return {"k": 1, **self.params, **{alias: facts[alias] for alias in self.facts if alias in facts}}


@dataclass
class CompiledStage:
    stage: str
    rules: list[Rule]
    parts: list[Part] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)            # alias → label name
    numbers: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias → (kind, name)
    regexes: list[tuple[str, str, str, Any]] = field(default_factory=list)  # (alias, kind, name, RE2 pattern)
    windows: list[tuple[str, tuple[Window, ...]]] = field(default_factory=list)
    presence: dict[str, str] = field(default_factory=dict)          # fact alias → subject alias
    sets: list[tuple[str, str, str, frozenset]] = field(default_factory=list)  # (alias, kind, name, values)
    fields: set[str] = field(default_factory=set)                   # fields compared as they are
    # (group's number, value as UTF-8) → whether each of its patterns matched: bounded, emptied when full
    searched: dict[tuple[int, bytes], tuple[bool, ...]] = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def compared(self) -> tuple[str, ...]:
        return tuple(sorted(self.fields))

    @functools.cached_property
    def groups(self) -> tuple[tuple[str, str, tuple[str, ...], PatternGroup], ...]:
        """The regexes by the value they search: (kind, name, their aliases, their group)."""
        by_value: dict[tuple[str, str], list[tuple[str, Any]]] = {}
        for alias, kind, name, pattern in self.regexes:
            by_value.setdefault((kind, name), []).append((alias, pattern))
        return tuple((kind, name, tuple(a for a, _ in found), PatternGroup([p for _, p in found]))
                     for (kind, name), found in by_value.items())

    @functools.cached_property
    def facts(self) -> tuple[str, ...]:
        """The entries of a message that the rules read: the fields they compare as they are and
        every fact computed here (labels, numbers, regex, set and window results, presence)."""
        return tuple(sorted({*("f_" + name for name in self.fields), *self.labels, *self.numbers,
                             *(alias for alias, *_ in self.regexes), *(alias for alias, *_ in self.sets),
                             *(alias for alias, _ in self.windows), *self.presence}))

    def decision_key(self, facts: Mapping[str, Any]) -> tuple:
        """Two messages with the same facts get the same first matching rule: a regex on the CI
        enters as its result, so a new CI that matches the same way needs no new decision."""
        return tuple(map(facts.get, self.facts))

    def facts_of(self, fields: Mapping[str, Any], labels: Mapping[str, str], now: datetime) -> dict[str, Any]:
        """The alert's facts as this stage's rules read them (no rule values: a decision found
        before answers without building the message)."""
        msg: dict[str, Any] = {}
        for name in self.compared:   # (the fields its rules read, not all of an alert's)
            value = fields.get(name)
            if value is not None:
                msg["f_" + name] = value
        for alias, label in self.labels.items():
            if label in labels:
                msg[alias] = labels[label]
        for alias, (kind, name) in self.numbers.items():
            number = _number(fields.get(name) if kind == "field" else labels.get(name))
            if number is not None:
                msg[alias] = number
        # (searched as UTF-8 bytes, each value encoded once: re2's wrapper encodes a str itself on
        # every search and maps the match's offsets back to characters, which a yes/no never reads;
        # a value's patterns in one pass (PatternGroup); a value seen before, such as a storm's
        # symptom on a new CI, is answered from ``searched``)
        searched = self.searched
        for number, (kind, name, aliases, group) in enumerate(self.groups):
            value = fields.get(name) if kind == "field" else labels.get(name)
            if value is None:
                found = group.none
            else:
                text = str(value).encode()
                if len(text) > SEARCHED_LENGTH:   # (a long description is searched each time)
                    found = group.found(text)
                else:
                    found = searched.get((number, text))
                    if found is None:
                        if len(searched) >= SEARCHED_LIMIT:
                            searched.clear()
                        found = searched[(number, text)] = group.found(text)
            msg.update(zip(aliases, found))
        for alias, kind, name, values in self.sets:
            value = fields.get(name) if kind == "field" else labels.get(name)
            msg[alias] = value is not None and value in values
        for alias, windows in self.windows:
            msg[alias] = any(w.start <= now < w.end for w in windows)
        for alias, subject in self.presence.items():
            msg[alias] = subject in msg
        return msg


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _StageCompiler:
    def __init__(self, stage: str) -> None:
        self.out = CompiledStage(stage, [])
        self._label_alias: dict[str, str] = {}
        self._number_alias: dict[tuple[str, str], str] = {}

    def param(self, value: Any) -> dict:
        alias = f"p{len(self.out.params)}"
        self.out.params[alias] = value
        return {"$m": alias}

    def subject(self, leaf: Leaf) -> str:
        if leaf.kind == "field":
            self.out.fields.add(leaf.name)
            return "f_" + leaf.name
        if leaf.name not in self._label_alias:
            alias = f"l{len(self._label_alias)}"
            self._label_alias[leaf.name] = alias
            self.out.labels[alias] = leaf.name
        return self._label_alias[leaf.name]

    def number(self, leaf: Leaf) -> str:
        key = (leaf.kind, leaf.name)
        if key not in self._number_alias:
            self._number_alias[key] = alias = f"n{len(self._number_alias)}"
            self.out.numbers[alias] = key
        return self._number_alias[key]

    def present(self, subject: str, yes: bool = True) -> dict:
        # Presence is a posted fact: durable_rules' $nex inside $or loops forever (2.0.28).
        alias = "e_" + subject
        self.out.presence[alias] = subject
        return {alias: yes}

    def condition(self, cond: Condition, negate: bool = False) -> dict:
        if isinstance(cond, Not):
            return self.condition(cond.item, not negate)
        if isinstance(cond, (AllOf, AnyOf)):
            parts = [self.condition(item, negate) for item in cond.items]
            conjunction = isinstance(cond, AllOf) != negate  # De Morgan
            return _join("$and" if conjunction else "$or", parts)
        return self.leaf(cond, negate)

    def leaf(self, leaf: Leaf, negate: bool) -> dict:
        op = leaf.op
        if op == "regex":
            alias = f"x{len(self.out.regexes)}"
            self.out.regexes.append((alias, leaf.kind, leaf.name, leaf.pattern))
            return {alias: not negate}
        if op in ("lt", "le", "gt", "ge"):
            key = self.number(leaf)
            flipped = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}[op] if negate else op
            test = {f"${_DURABLE_OPS[flipped]}": {key: self.param(float(leaf.value))}}
            return _join("$or", [self.present(key, False), test]) if negate else test
        if op == "in":   # (one fact however long the list: a branch per value would overflow a part)
            alias = f"s{len(self.out.sets)}"
            self.out.sets.append((alias, leaf.kind, leaf.name, frozenset(leaf.value)))
            return {alias: not negate}
        key = self.subject(leaf)
        if op == "exists":
            return self.present(key, leaf.value != negate)
        if op == "not_equals":
            negate = not negate
        if not negate:
            return {key: self.param(leaf.value)}
        # absent, or different from the value
        return _join("$or", [self.present(key, False), {"$neq": {key: self.param(leaf.value)}}])

    def rule(self, position: int, rule: Rule) -> None:
        terms = [self.condition(rule.when)] if rule.when is not None else [ALWAYS]
        if rule.during:
            alias = f"t{len(self.out.windows)}"
            self.out.windows.append((alias, rule.during))
            terms.append({alias: True})
        condition = _join("$and", terms)
        params, facts = set(), set()
        _reads(condition, params, facts)
        nodes = sum(_paths(condition))
        if len(params) + len(facts) > PART_READS or nodes > PART_NODES:
            counted = f"more than {PART_NODES}" if nodes > PART_NODES else str(nodes)
            raise RulesInvalid([RuleError(rule.file, rule.line, f"rule {rule.name} has {counted} conditions (each 'any' "
                                          f"alternative counted apart) comparing {len(params) + len(facts)} values and "
                                          f"facts; one rule may have at most {PART_NODES} and compare at most "
                                          f"{PART_READS} (durable_rules' limits): split it, or list values with 'in'")])
        part = self.out.parts[-1] if self.out.parts else None
        if (part is None or part.nodes + nodes > PART_NODES
                or len(part.params) + len(params) + len(part.facts | facts) > PART_READS):
            part = Part(self.out.stage)
            self.out.parts.append(part)
        part.nodes += nodes
        part.definition[f"r{position}"] = {"all": [{"m": condition}], "pri": position + 1}
        part.params.update((alias, self.out.params[alias]) for alias in params)
        part.facts |= facts
        guard = _guard(condition, self.out.params)
        if guard is None or part.guard is None:
            part.guard = None
        else:
            for alias, values in guard.items():
                part.guard.setdefault(alias, set()).update(values)
        self.out.rules.append(rule)


_DURABLE_OPS = {"lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}


def _join(op: str, terms: list[dict]) -> dict:
    return terms[0] if len(terms) == 1 else {op: terms}


def _reads(condition: Any, params: set[str], facts: set[str]) -> None:
    """The message entries a compiled condition reads: parameters (``{"$m": alias}``) and facts
    (every other name it tests; ``k`` is in every message)."""
    if isinstance(condition, list):
        for item in condition:
            _reads(item, params, facts)
    elif isinstance(condition, dict):
        for name, value in condition.items():
            if name == "$m":
                params.add(value)
            elif not name.startswith("$") and name != "k":
                facts.add(name)
            _reads(value, params, facts)


def _paths(condition: dict, limit: int = PART_NODES + 1) -> list[int]:
    """The lengths of the paths durable_rules makes of a compiled condition: an ``$and`` chains
    its terms, an ``$or`` is a path per alternative (so an ``$and`` of ``$or``s multiplies them).
    Stops counting past ``limit`` nodes."""
    if "$and" in condition:
        paths = [0]
        for term in condition["$and"]:
            paths = [a + b for a in paths for b in _paths(term, limit)]
            if sum(paths) > limit:
                return paths
        return paths
    if "$or" in condition:
        paths = []
        for term in condition["$or"]:
            paths += _paths(term, limit)
            if sum(paths) > limit:
                return paths
        return paths
    return [1]


def _guard(condition: dict, params: Mapping[str, Any]) -> dict[str, set] | None:
    """Message entries of which one must hold for a compiled condition to match (entry → the
    values that would do), or None where that is not known: an equality with a value, or a fact
    (set membership, regex, presence, window) that must be true or false; of an ``$and``, its first
    term's that has one; of an ``$or``, all of its terms' together."""
    if "$and" in condition:
        return next((found for term in condition["$and"] if (found := _guard(term, params)) is not None), None)
    if "$or" in condition:
        merged: dict[str, set] = {}
        for term in condition["$or"]:
            found = _guard(term, params)
            if found is None:
                return None
            for alias, values in found.items():
                merged.setdefault(alias, set()).update(values)
        return merged
    [(name, value)] = condition.items()
    if name.startswith("$") or name == "k":   # (a comparison other than equality; ALWAYS)
        return None
    if isinstance(value, dict):   # {"$m": parameter}
        return {name: {params[value["$m"]]}} if "$m" in value else None
    return {name: {value}}


def check_sizes(rules: list[Rule]) -> None:
    """Every rule fits one part (RulesInvalid names the ones that do not, with file and line)."""
    errors = []
    for rule in rules:
        try:
            compile_stage(rule.stage, [rule])
        except RulesInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise RulesInvalid(errors)


def compile_stage(stage: str, rules: list[Rule]) -> CompiledStage:
    compiler = _StageCompiler(stage)
    for position, rule in enumerate(r for r in rules if r.stage == stage):
        compiler.rule(position, rule)
    return compiler.out


def typed_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as conditions compare them: numbers for impact/urgency/priority, else text."""
    return {k: (int(v) if k in INT_FIELDS else str(v)) for k, v in fields.items() if v is not None}
