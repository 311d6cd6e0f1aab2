"""Rule files (``config/rules/*.yaml``): their Structs, and loading with errors that name file,
line and reason. Declarative only: YAML is read with ``safe_load`` semantics and nothing in a
rule is ever executed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from alertgate.durations import parse_duration
from alertgate.rules.conditions import Condition, ConditionError, parse_condition
from alertgate.rules.policy import DEFAULT_ESCALATION, HeartbeatPing
from alertgate.rules.tables import Channel, Tables
from alertgate.text_files import Unreadable, compose_and_load, read_text
from alertgate.yaml_lines import error_path, line_index, line_of

STAGES = ("suppress", "classify", "prioritise", "route")
Level = Annotated[int, msgspec.Meta(ge=1, le=4)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Window(msgspec.Struct, forbid_unknown_fields=True):
    """A suppress rule's ``during``: times without a zone are UTC (compared with aware ones, they
    failed every alert's evaluation once the file loaded)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=timezone.utc)
        if self.end.tzinfo is None:
            self.end = self.end.replace(tzinfo=timezone.utc)


class SuppressSet(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None
    heartbeat: HeartbeatPing | None = None


class ClassifySet(msgspec.Struct, forbid_unknown_fields=True):
    category: str | None = None
    area: str | None = None
    subarea: str | None = None
    nature: str | None = None
    affected_service: str | None = None
    ci: str | None = None
    symptom: str | None = None   # one name for one fault whichever sender reports it (its dedup key)


class PrioritiseSet(msgspec.Struct, forbid_unknown_fields=True):
    impact: Level | None = None
    urgency: Level | None = None
    priority: Level | None = None


class RouteSet(msgspec.Struct, forbid_unknown_fields=True):
    assignment_group: str | None = None
    escalation: str | None = None
    channels: list[Channel] | None = None
    dedup_window: str | None = None
    stale_after: str | None = None   # sources without an API: resolve after this long without an occurrence
    # storm grouping (SPEC §11): this many new masters of one symptom on one service within the
    # window open a major incident (defaults: topology.storm_masters, topology.storm_window)
    storm_masters: Annotated[int, msgspec.Meta(ge=2, le=10_000)] | None = None
    storm_window: str | None = None


SET_TYPES: dict[str, type] = {"suppress": SuppressSet, "classify": ClassifySet,
                              "prioritise": PrioritiseSet, "route": RouteSet}


class RawRule(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    when: Any = None
    set: dict[str, Any] = {}
    during: list[Window] | None = None


class RawFile(msgspec.Struct, forbid_unknown_fields=True):
    suppress: list[RawRule] = []
    classify: list[RawRule] = []
    prioritise: list[RawRule] = []
    route: list[RawRule] = []


@dataclass(frozen=True)
class Rule:
    stage: str
    name: str
    when: Condition | None
    set: Any
    during: tuple[Window, ...] = ()
    file: str = ""
    line: int = 0
    dedup_window: float | None = None
    stale_after: float | None = None
    storm_window: float | None = None


@dataclass(frozen=True)
class RuleError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RulesInvalid(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _explain_file_error(message: str, path: tuple) -> str:
    unknown = re.search(r"unknown field `([^`]+)`", message)
    if unknown and len(path) <= 1:
        return f"unknown stage {unknown.group(1)!r} (one of {', '.join(STAGES)})"
    if unknown:
        return f"unknown key {unknown.group(1)!r} in a rule (a rule has name, when, set, during)"
    missing = re.search(r"missing required field `([^`]+)`", message)
    if missing and len(path) == 2:
        return f"rule {path[1] + 1} of {path[0]} has no {missing.group(1)!r}"
    return f"{'.'.join(map(str, path))}: {message}" if path else message


def load_file(path: Path) -> tuple[list[Rule], list[RuleError]]:
    """One rule file → its rules in order, or every error found in it."""
    name = str(path)
    try:
        node, data = compose_and_load(read_text(path))
    except Unreadable as exc:
        return [], [RuleError(name, exc.line, exc.reason)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [RuleError(name, (mark.line + 1) if mark else 1, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if node is None:
        return [], []
    index = line_index(node)
    try:
        raw = msgspec.convert(data, RawFile)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        path = error_path(where.rstrip("`"))
        unknown = re.search(r"unknown field `([^`]+)`", message)
        line = line_of(index, path + (unknown.group(1),) if unknown else path)
        return [], [RuleError(name, line, _explain_file_error(message, path))]
    rules, errors = [], []
    for stage in STAGES:
        for position, spec in enumerate(getattr(raw, stage)):
            at = (stage, position)
            try:
                rules.append(_build(stage, spec, name, index, at))
            except RulesInvalid as exc:
                errors += exc.errors
    return rules, errors


def _build(stage: str, spec: RawRule, file: str, index: dict, at: tuple) -> Rule:
    line = line_of(index, at)
    try:
        values = msgspec.convert(spec.set, SET_TYPES[stage])
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        path = error_path(where.rstrip("`"))
        unknown = re.search(r"unknown field `([^`]+)`", message)
        if unknown:
            allowed = ", ".join(SET_TYPES[stage].__struct_fields__)
            message = f"a {stage} rule cannot set {unknown.group(1)!r} (it sets: {allowed})"
        elif path:
            message = f"{path[0]}: {message}"
        raise RulesInvalid([RuleError(file, line_of(index, at + ("set",) + path),
                                      f"rule {spec.name}: set: {message}")]) from None
    if isinstance(values, SuppressSet) and values.heartbeat is not None:
        _check_heartbeat(values.heartbeat, file, line_of(index, at + ("set", "heartbeat")), spec.name)

    def seconds(name: str) -> float | None:
        """A route rule's duration setting in seconds; a bad one names its line."""
        text = getattr(values, name) if isinstance(values, RouteSet) else None
        try:
            return parse_duration(text).total_seconds() if text is not None else None
        except ValueError as exc:
            raise RulesInvalid([RuleError(file, line_of(index, at + ("set", name)), f"rule {spec.name}: {exc}")]) from None
    window, stale_after, storm_window = seconds("dedup_window"), seconds("stale_after"), seconds("storm_window")
    if spec.during is not None and stage != "suppress":
        raise RulesInvalid([RuleError(file, line_of(index, at + ("during",)),
                                      f"rule {spec.name}: 'during' (a maintenance window) belongs to suppress rules")])
    try:
        when = parse_condition(spec.when) if spec.when is not None else None
    except ConditionError as exc:
        raise RulesInvalid([RuleError(file, line_of(index, at + ("when",) + exc.path),
                                      f"rule {spec.name}: {exc.message}")]) from None
    return Rule(stage, spec.name, when, values, tuple(spec.during or ()), file, line, window, stale_after,
                storm_window)


def _check_heartbeat(ping: HeartbeatPing, file: str, line: int, rule: str) -> None:
    problem = None
    if not re.fullmatch(r"[A-Za-z0-9_.:@\-]{1,100}", ping.name):
        problem = "heartbeat name: letters, digits and _ . : @ - only"
    elif ping.timeout is not None:
        try:
            parse_duration(ping.timeout)
        except ValueError as exc:
            problem = f"heartbeat timeout: {exc}"
    if problem:
        raise RulesInvalid([RuleError(file, line, f"rule {rule}: {problem}")])


def load_rules(directory: Path) -> list[Rule]:
    """Every ``*.yaml`` of the directory in name order; RulesInvalid lists every error."""
    if not directory.is_dir():
        raise RulesInvalid([RuleError(str(directory), 0, "rule directory does not exist")])
    rules, errors = [], []
    for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
        found, problems = load_file(path)
        rules += found
        errors += problems
    seen: dict[tuple[str, str], Rule] = {}
    for rule in rules:
        key = (rule.stage, rule.name)
        if key in seen:
            first = seen[key]
            errors.append(RuleError(rule.file, rule.line, f"rule {rule.name}: a {rule.stage} rule of this name "
                                                          f"already exists at {first.file}:{first.line}"))
        seen[key] = rule
    if errors:
        raise RulesInvalid(errors)
    return rules


def check_against_tables(rules: list[Rule], tables: Tables) -> None:
    """A route rule's ``escalation:`` names a policy of ``tables.yaml`` (or ``default``, the
    escalation table): a name nothing defines would leave its tickets on the table unnoticed."""
    known = sorted(tables.escalation_policies)
    errors = [RuleError(rule.file, rule.line,
                        f"rule {rule.name}: escalation {rule.set.escalation!r} is not a policy of tables.yaml "
                        f"(escalation_policies: {', '.join(known) or 'none defined'}; or {DEFAULT_ESCALATION})")
              for rule in rules if isinstance(rule.set, RouteSet) and rule.set.escalation
              and rule.set.escalation != DEFAULT_ESCALATION and rule.set.escalation not in tables.escalation_policies]
    if errors:
        raise RulesInvalid(errors)
