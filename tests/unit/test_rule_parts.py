"""A stage of many rules runs as several durable_rules rulesets ("parts", rules/compile.py): each
message within durable_rules' 255 entries, each part within its branch limits, parts posted in
order and skipped when none of their rules can match. Whatever the split, the answer is the first
matching rule in file order, as a plain reading of the rules gives it."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alertgate.rules.compile import PART_NODES, PART_READS
from alertgate.rules.engine import RuleEngine
from alertgate.rules.schema import RulesInvalid, load_rules
from alertgate.rules.tables import Tables
from alertgate.tickets.alert import Alert, AlertStatus

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
CIS = [f"h{n}" for n in range(12)]
ENVS = ["prod", "dev"]


def alert(ci: str, severity: str | None, env: str | None) -> Alert:
    return Alert(source="alertmanager", occurrence_id=f"am:{ci}", ci=ci, symptom="X", status=AlertStatus.FIRING,
                 severity=severity, title="t", observed_at=NOW, received_at=NOW,
                 labels={} if env is None else {"env": env})


leaf = st.one_of(
    st.builds(lambda v: {"field": "ci", "equals": v}, st.sampled_from(CIS)),
    st.builds(lambda v: {"field": "ci", "not_equals": v}, st.sampled_from(CIS)),
    st.builds(lambda vs: {"field": "ci", "in": vs}, st.lists(st.sampled_from(CIS), min_size=1, max_size=4)),
    st.builds(lambda v: {"field": "ci", "regex": f"^{v}"}, st.sampled_from(CIS)),
    st.builds(lambda v: {"field": "severity", "equals": v}, st.sampled_from(["critical", "warning"])),
    st.builds(lambda v: {"label": "env", "equals": v}, st.sampled_from(ENVS)),
    st.builds(lambda v: {"label": "env", "exists": v}, st.booleans()),
)
condition = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda item: {"not": item}, inner)), max_leaves=4)


def holds(cond: dict, facts: dict) -> bool:
    """The rule language read plainly (README, "For an operator: rules")."""
    if "all" in cond:
        return all(holds(c, facts) for c in cond["all"])
    if "any" in cond:
        return any(holds(c, facts) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"], facts)
    value = facts.get(cond.get("field") or "label:" + cond["label"])
    if "equals" in cond:
        return value == cond["equals"]
    if "not_equals" in cond:
        return value != cond["not_equals"]
    if "in" in cond:
        return value in cond["in"]
    if "regex" in cond:
        return value is not None and re.search(cond["regex"], value) is not None
    return (value is not None) == cond["exists"]


def engine_of(tmp_path, classify: list[dict]) -> RuleEngine:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"classify": classify}))
    engine = RuleEngine(Tables(), 1800.0)
    engine.load(load_rules(tmp_path), Tables(), 1800.0)
    return engine


@settings(max_examples=40, deadline=None)
@given(conditions=st.lists(condition, min_size=61, max_size=140))
def test_the_first_matching_rule_in_file_order_answers_however_the_stage_is_split(tmp_path_factory, conditions):
    rules = [{"name": f"r{n}", "when": c, "set": {"category": f"c{n}"}} for n, c in enumerate(conditions)]
    try:
        engine = engine_of(tmp_path_factory.mktemp("rules"), rules)
    except RulesInvalid:   # (a rule whose alternatives multiply past a part: refused, as tested below)
        assume(False)
    [classify] = [stage for stage in engine._active.stages if stage.stage == "classify"]
    assert len(classify.parts) >= 2
    for ci in CIS + ["other"]:
        for severity in ("critical", "warning", None):
            for env in ENVS + [None]:
                facts = {"ci": ci, "severity": severity, "label:env": env}
                expected = next((r["name"] for r in rules if holds(r["when"], facts)), None)
                assert engine.evaluate(alert(ci, severity, env), NOW).matches[1].rule == expected, facts


def test_every_part_stays_within_durable_rules_limits(tmp_path):
    hosts = [{"name": f"host-{n}", "when": {"all": [{"field": "ci", "equals": f"h{n}"}, {"label": "env", "equals": "prod"}]},
              "set": {"category": "x"}} for n in range(1000)]
    regexes = [{"name": f"re-{n}", "when": {"field": "title", "regex": f"disk {n}$"}, "set": {"category": "y"}}
               for n in range(600)]
    engine = engine_of(tmp_path, hosts + regexes)
    [classify] = [stage for stage in engine._active.stages if stage.stage == "classify"]
    for part in classify.parts:
        assert part.nodes <= PART_NODES and len(part.params) + len(part.facts) <= PART_READS
    assert engine.evaluate(alert("h999", None, "prod"), NOW).matches[1].rule == "host-999"
    titled = Alert(source="alertmanager", occurrence_id="x", ci="zz", symptom="X", status=AlertStatus.FIRING,
                   title="disk 599", observed_at=NOW, received_at=NOW)
    assert engine.evaluate(titled, NOW).matches[1].rule == "re-599"


def test_a_rule_larger_than_a_message_is_refused_with_its_line(tmp_path):
    from alertgate.rules.compile import check_sizes
    tags = {f"t{n}": "v" for n in range(PART_READS + 1)}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"classify": [
        {"name": "listed", "when": {"field": "ci", "in": [f"h{n}" for n in range(5000)]}, "set": {"category": "x"}},
        {"name": "huge", "when": {"tags_any": tags}, "set": {"category": "y"}}]}, sort_keys=False))
    rules = load_rules(tmp_path)
    with pytest.raises(RulesInvalid) as refused:
        check_sizes(rules)
    [error] = refused.value.errors
    assert error.line == rules[1].line and "rule huge has more than 60 conditions" in error.message
