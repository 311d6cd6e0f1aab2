"""The rule engine: compiled stages on one durable_rules host, evaluated one alert at a time.

durable_rules 2.0.28 facts designed around:
- its ``Host`` starts two timer threads per instance and cannot unregister rulesets; we keep one
  host for the life of the process and start no timers (we only post synchronously);
- a ruleset allocates state on its first event and never frees it; rulesets are keyed by the
  *shape* of a stage's rules (values travel in each message), so a reload that changes values
  reuses the registered rulesets, and memory grows only with shapes never seen before;
- it has no locking: every post happens under ``self._lock``;
- it drops an event whose id it has seen (a 32-bit hash): every message gets a fresh id;
- ``post`` delivers an event to one rule: with ``pri`` = rule order that is first-match-wins;
  a stage of many rules is several rulesets (compile.py, "parts"), posted in order until one matches.
A reload compiles and registers first, then swaps one reference: an evaluation in flight keeps the
rule set it started with, so none sees a half-loaded set.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, Callable, Iterator

import msgspec
from durable.engine import Host, MessageNotHandledException

from alertgate.correlation.catalogue import CI
from alertgate.rules.compile import CompiledStage, compile_stage
from alertgate.rules.conditions import AllOf, AnyOf, Condition, Leaf, Not
from alertgate.rules.patterns import PatternGroup
from alertgate.rules.policy import DEFAULT_GROUP, Policy
from alertgate.rules.schema import STAGES, ClassifySet, PrioritiseSet, RouteSet, Rule, SuppressSet
from alertgate.rules.tables import Tables
from alertgate.tickets.alert import Alert

ALERT_FIELDS = ("source", "ci", "symptom", "status", "severity", "title", "description")
CACHE_LIMIT = 50_000  # entries per cache
KEY_CHARACTERS = 1_024  # text in a cache key kept (evaluations, decisions: at most ~50 MB of keys each)
_UNSEEN = object()


class _QuietHost(Host):
    """A durable_rules host without the background dispatch threads (we never use timers)."""

    def _run(self) -> None:
        pass


class _SecondDelivery(Exception):
    pass


class StageMatch(msgspec.Struct):
    stage: str
    rule: str | None


class Evaluation(msgspec.Struct, frozen=True):
    policy: Policy
    matches: list[StageMatch]


@dataclass(frozen=True)
class _Active:
    stages: tuple[CompiledStage, ...]
    tables: Tables
    default_window: float
    key_fields: tuple[str, ...]
    key_labels: tuple[str, ...]
    windows: tuple[tuple, ...]
    generation: int
    cache: dict = field(default_factory=dict)  # relevant input → Evaluation, for this set only
    # per stage: CompiledStage.decision_key → the rule that matched. A stage whose facts do not
    # change with the CI (suppress on alertname, prioritise on severity, route on category, a
    # regex on the CI that matches the same way) answers a new CI without posting to durable_rules.
    decisions: tuple[dict, ...] = ()
    # The alert's fields named in ``key_fields`` (one C call; a cache hit is the common case).
    fields_of: Callable[[Alert], Any] = field(default=lambda alert: None)
    # The same, a field the rules only search by regex given as which of their patterns it
    # matches (``_RegexOnly``), and the cache keyed so: a new CI or title that matches like one
    # seen before (a storm's new masters) is answered without evaluating the stages. None: no
    # field is read by regex only.
    matched_of: Callable[[Alert], tuple] | None = None
    by_matches: dict = field(default_factory=dict)


def _small(*values: Any) -> bool:
    """A cache key worth keeping: at most KEY_CHARACTERS of text among ``values`` (a description
    may hold 64 KiB, a title or label 4 KiB: 50,000 keys of those would hold gigabytes). A larger
    one is evaluated every time."""
    return sum(len(value) for value in values if isinstance(value, str)) <= KEY_CHARACTERS


def _remember(cache: dict, key: Any, value: Any) -> Any:
    """Store in a bounded cache (a full one starts again empty) and answer the value."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _leaves(cond: Condition | None) -> Iterator[Leaf]:
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, Not):
        yield from _leaves(cond.item)
    elif isinstance(cond, (AllOf, AnyOf)):
        for item in cond.items:
            yield from _leaves(item)


class _RegexOnly:
    """An alert's key fields with each field the rules read only through regexes (no equality,
    number, presence or set of its own) replaced by the tuple of which of those patterns it
    matches: every stage sees such a field only as those answers, so two alerts with the same
    tuple are evaluated alike. One RE2 Set pass per such field (``PatternGroup``)."""

    def __init__(self, key_fields: tuple[str, ...], leaves: list[Leaf]) -> None:
        plain = {leaf.name for leaf in leaves if leaf.kind == "field" and leaf.op != "regex"}
        patterns: dict[str, list] = {}
        for leaf in leaves:
            if leaf.kind == "field" and leaf.op == "regex" and leaf.name not in plain:
                patterns.setdefault(leaf.name, []).append(leaf.pattern)
        # (status is an enum the stages read by its value: few values, kept as it is)
        self.groups = tuple(PatternGroup(patterns[name]) if name in patterns and name != "status" else None
                            for name in key_fields)
        self._fields = key_fields

    def __bool__(self) -> bool:
        return any(self.groups)

    def __call__(self, alert: Alert) -> tuple:
        key = []
        for name, group in zip(self._fields, self.groups):
            value = getattr(alert, name)
            if group is None:
                key.append(value)
            else:
                key.append(group.none if value is None else group.found(str(value).encode()))
        return tuple(key)


class RuleEngine:
    def __init__(self, tables: Tables, default_window: float,
                 on_match: Callable[[str, str], None] | None = None) -> None:
        self._host = _QuietHost()
        self._lock = threading.Lock()
        self._registered: set[str] = set()
        self._ids = itertools.count(1)
        self._hit: list[int] = []
        self._on_match = on_match
        self._generations = itertools.count(1)
        self._active = self._activate([], tables, default_window)

    @property
    def generation(self) -> int:
        return self._active.generation

    @property
    def rule_count(self) -> int:
        return sum(len(s.rules) for s in self._active.stages)

    @property
    def tables(self) -> Tables:
        return self._active.tables

    def registered_rulesets(self) -> int:
        return len(self._registered)

    def load(self, rules: list[Rule], tables: Tables, default_window: float) -> None:
        """Compile, register what is new, then swap: in-flight evaluations keep the old set."""
        self._active = self._activate(rules, tables, default_window)

    def _activate(self, rules: list[Rule], tables: Tables, default_window: float) -> _Active:
        stages = tuple(compile_stage(stage, rules) for stage in STAGES)
        with self._lock:
            for part in (part for stage in stages for part in stage.parts):
                if part.name not in self._registered:
                    self._host.register_rulesets({part.name: self._with_actions(part.definition)})
                    self._registered.add(part.name)
        leaves = [leaf for rule in rules for leaf in _leaves(rule.when)]
        subjects = {leaf.subject() for leaf in leaves}
        key_fields = tuple(sorted(n for k, n in subjects if k == "field" and n in ALERT_FIELDS))
        key_labels = tuple(sorted(n for k, n in subjects if k == "label"))
        windows = tuple(w for s in stages for _, w in s.windows)
        regex_only = _RegexOnly(key_fields, leaves)
        return _Active(stages, tables, default_window, key_fields, key_labels, windows, next(self._generations),
                       decisions=tuple({} for _ in stages),
                       fields_of=attrgetter(*key_fields) if key_fields else (lambda alert: None),
                       matched_of=regex_only if regex_only else None)

    def _with_actions(self, definition: dict) -> dict:
        def record(position: int) -> Callable[[Any], None]:
            def run(_c: Any) -> None:
                self._hit.append(position)
                if len(self._hit) > 1:
                    # One event, one rule: a second delivery would be an engine fault; stop it.
                    raise _SecondDelivery()
            return run
        return {name: {**rule, "run": record(int(name[1:]))} for name, rule in definition.items()}

    def evaluate(self, alert: Alert, now: datetime, ci: CI | None = None) -> Evaluation:
        """Every stage in order, first match wins in each; cached for identical relevant input.
        ``ci``: the catalogue's CI of the alert (its service, group and criticality are facts, and
        the defaults of ``affected_service`` and impact)."""
        active = self._active
        key = (
            active.fields_of(alert),
            tuple(map(alert.labels.get, active.key_labels)),
            tuple(any(w.start <= now < w.end for w in ws) for ws in active.windows) if active.windows else None,
            ci and (ci.service, ci.owner_group, ci.criticality),
        )
        found = active.cache.get(key)
        if found is None:
            found = self._evaluate_new(active, alert, now, ci, key)
            fields = key[0] if isinstance(key[0], tuple) else (key[0],)
            if _small(*fields, *key[1]):
                _remember(active.cache, key, found)
        if self._on_match is not None:
            for match in found.matches:
                if match.rule is not None:
                    self._on_match(match.stage, match.rule)
        return found

    def _evaluate_new(self, active: _Active, alert: Alert, now: datetime, ci: CI | None, key: tuple) -> Evaluation:
        """An input not seen as it is: answered from an alert that matched the rules' regexes
        alike if there was one, else evaluated."""
        if active.matched_of is None:
            return self._evaluate(active, alert, now, ci)
        matched = (active.matched_of(alert), *key[1:])
        found = active.by_matches.get(matched)
        if found is None:
            found = self._evaluate(active, alert, now, ci)
            if _small(*matched[0], *matched[1]):
                _remember(active.by_matches, matched, found)
        return found

    def _match(self, stage: CompiledStage, decisions: dict, fields: dict[str, Any], labels: dict[str, str],
               now: datetime) -> Rule | None:
        if not stage.rules:
            return None
        facts = stage.facts_of(fields, labels, now)
        key = stage.decision_key(facts)
        found = decisions.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._post(stage, facts)
            if _small(*key):
                _remember(decisions, key, found)
        return found

    def _post(self, stage: CompiledStage, facts: dict[str, Any]) -> Rule | None:
        """The stage's first matching rule, decided by durable_rules: its parts in order, the
        first with a match answers."""
        for part in stage.parts:
            if not part.may_match(facts):
                continue
            message = part.message(facts)
            with self._lock:
                message["id"] = next(self._ids)
                self._hit.clear()
                try:
                    self._host.post(part.name, message)
                except MessageNotHandledException:
                    continue
                except _SecondDelivery:
                    pass
                if self._hit:
                    return stage.rules[self._hit[0]]
        return None

    def _evaluate(self, active: _Active, alert: Alert, now: datetime, ci: CI | None) -> Evaluation:
        fields: dict[str, Any] = {f: (getattr(alert, f).value if f == "status" else getattr(alert, f))
                                  for f in ALERT_FIELDS}
        fields.update(ci_known="true" if ci else "false", ci_service=ci and ci.service,
                      ci_group=ci and ci.owner_group, ci_criticality=ci and ci.criticality,
                      affected_service=ci and ci.service)
        values: dict[str, Any] = {}
        matches = []
        for stage, decisions in zip(active.stages, active.decisions):
            if stage.stage == "prioritise":
                fields.update(impact=(ci and ci.criticality) or 3, urgency=3)
            rule = self._match(stage, decisions, fields, alert.labels, now)
            matches.append(StageMatch(stage.stage, rule.name if rule else None))
            if rule is not None:
                self._apply(rule, fields, values)
            if stage.stage == "prioritise":
                impact, urgency = fields["impact"], fields["urgency"]
                fields["priority"] = values.get("priority") or active.tables.priority(impact, urgency)
        priority = fields["priority"]
        policy = Policy(
            suppress=values.get("suppress", False), suppress_reason=values.get("suppress_reason"),
            heartbeat=values.get("heartbeat"),
            ci=values.get("ci"), symptom=values.get("symptom"), category=fields.get("category"), area=fields.get("area"),
            subarea=fields.get("subarea"), nature=fields.get("nature"),
            affected_service=fields.get("affected_service"), impact=fields["impact"],
            urgency=fields["urgency"], priority=priority,
            sla_minutes=tuple(active.tables.sla_minutes[priority]),
            sla_calendar=active.tables.calendar_for(priority, values.get("assignment_group") or DEFAULT_GROUP),
            assignment_group=values.get("assignment_group") or DEFAULT_GROUP,
            escalation=values.get("escalation") or "default",
            channels=tuple(values.get("channels") or active.tables.notification.channels.get(priority, ["log"])),
            dedup_window=values.get("dedup_window") or active.default_window,
            stale_after=values.get("stale_after"),
            storm_masters=values.get("storm_masters"), storm_window=values.get("storm_window"),
        )
        return Evaluation(policy, matches)

    @staticmethod
    def _apply(rule: Rule, fields: dict[str, Any], values: dict[str, Any]) -> None:
        chosen = rule.set
        if isinstance(chosen, SuppressSet):
            values.update(suppress=True, suppress_reason=chosen.reason or f"rule {rule.name}",
                          heartbeat=chosen.heartbeat)
        elif isinstance(chosen, ClassifySet):
            for name in ("category", "area", "subarea", "nature", "affected_service"):
                if getattr(chosen, name) is not None:
                    fields[name] = getattr(chosen, name)
            if chosen.ci:
                fields["ci"] = values["ci"] = chosen.ci
            if chosen.symptom:
                fields["symptom"] = values["symptom"] = chosen.symptom
        elif isinstance(chosen, PrioritiseSet):
            for name in ("impact", "urgency"):
                if getattr(chosen, name) is not None:
                    fields[name] = getattr(chosen, name)
            if chosen.priority is not None:
                values["priority"] = chosen.priority
        elif isinstance(chosen, RouteSet):
            values.update(assignment_group=chosen.assignment_group, escalation=chosen.escalation,
                          channels=chosen.channels, dedup_window=rule.dedup_window, stale_after=rule.stale_after,
                          storm_masters=chosen.storm_masters, storm_window=rule.storm_window)
