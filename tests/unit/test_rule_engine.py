"""The rule engine on durable_rules: operators, first match, stages feeding stages, cache,
maintenance windows, and reloads that neither grow nor tear."""

from __future__ import annotations

import functools
import gc
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.rules.engine import RuleEngine
from alertgate.rules.patterns import PatternGroup, compile_pattern
from alertgate.rules.schema import load_rules
from alertgate.rules.tables import Tables
from alertgate.tickets.alert import Alert, AlertStatus

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


def alert(**kw) -> Alert:
    base = dict(source="alertmanager", occurrence_id="am:1", ci="web1", symptom="HighCPU",
                status=AlertStatus.FIRING, severity="warning", title="t", observed_at=NOW, received_at=NOW)
    return Alert(**{**base, **kw})


def engine_for(tmp_path: Path, text: str) -> RuleEngine:
    (tmp_path / "rules.yaml").write_text(text)
    engine = RuleEngine(Tables(), 1800.0)
    engine.load(load_rules(tmp_path), Tables(), 1800.0)
    return engine


def classify(engine: RuleEngine, **kw) -> str | None:
    return engine.evaluate(alert(**kw), NOW).matches[1].rule


@pytest.mark.parametrize("when,matching,not_matching", [
    ("{field: severity, equals: critical}", {"severity": "critical"}, {"severity": "warning"}),
    ("{field: severity, not_equals: critical}", {"severity": None}, {"severity": "critical"}),
    ("{field: ci, in: [a, b]}", {"ci": "b"}, {"ci": "c"}),
    ("{field: ci, regex: '^db-\\d+$'}", {"ci": "db-12"}, {"ci": "xdb-12"}),
    ("{label: env, equals: prod}", {"labels": {"env": "prod"}}, {"labels": {"env": "dev"}}),
    ("{label: env, exists: true}", {"labels": {"env": ""}}, {"labels": {}}),
    ("{label: env, exists: false}", {"labels": {}}, {"labels": {"env": "x"}}),
    ("{label: value, gt: 90}", {"labels": {"value": "95.5"}}, {"labels": {"value": "90"}}),
    ("{label: value, le: 90}", {"labels": {"value": "90"}}, {"labels": {"value": "not a number"}}),
    ("{tags_any: {env: prod, tier: db}}", {"labels": {"tier": "db"}}, {"labels": {"env": "dev"}}),
    ("{tags_all: {env: prod, tier: db}}", {"labels": {"env": "prod", "tier": "db"}}, {"labels": {"env": "prod"}}),
    ("{all: [{field: severity, equals: critical}, {label: env, equals: prod}]}",
     {"severity": "critical", "labels": {"env": "prod"}}, {"severity": "critical", "labels": {}}),
    ("{any: [{field: severity, equals: critical}, {label: env, equals: prod}]}",
     {"labels": {"env": "prod"}}, {"labels": {"env": "dev"}}),
    ("{not: {label: env, equals: prod}}", {"labels": {}}, {"labels": {"env": "prod"}}),
    ("{not: {label: value, gt: 90}}", {"labels": {"value": "1"}}, {"labels": {"value": "91"}}),
    ("{not: {any: [{field: ci, regex: '^db'}, {label: env, in: [prod, stage]}]}}",
     {"ci": "web", "labels": {"env": "dev"}}, {"ci": "web", "labels": {"env": "stage"}}),
    ("{label: 业务, equals: 财务}", {"labels": {"业务": "财务"}}, {"labels": {"业务": "人事"}}),
])
def test_operators(tmp_path, when, matching, not_matching):
    engine = engine_for(tmp_path, f"classify:\n  - name: hit\n    when: {when}\n    set: {{category: x}}\n")
    assert classify(engine, **matching) == "hit"
    assert classify(engine, **not_matching) is None


def test_first_match_wins_and_later_stages_see_earlier_results(tmp_path):
    engine = engine_for(tmp_path, """
classify:
  - {name: first, when: {field: ci, regex: '^db'}, set: {category: storage_and_backup}}
  - {name: second, when: {field: ci, regex: '^db'}, set: {category: servers}}
prioritise:
  - {name: crit, when: {field: severity, equals: critical}, set: {impact: 1, urgency: 2}}
route:
  - {name: p2-storage, when: {all: [{field: category, equals: storage_and_backup}, {field: priority, le: 2}]},
     set: {assignment_group: storage, dedup_window: 45m, channels: [webhook]}}
""")
    evaluation = engine.evaluate(alert(ci="db1", severity="critical"), NOW)
    assert [m.rule for m in evaluation.matches] == [None, "first", "crit", "p2-storage"]
    policy = evaluation.policy
    assert (policy.category, policy.impact, policy.urgency, policy.priority) == ("storage_and_backup", 1, 2, 2)
    assert (policy.assignment_group, policy.dedup_window, policy.channels) == ("storage", 2700, ("webhook",))
    default = engine.evaluate(alert(ci="web1"), NOW).policy
    assert (default.priority, default.assignment_group, default.channels, default.dedup_window) == (3, "service_desk", ("email",), 1800)


def test_identical_relevant_input_is_answered_from_the_cache(tmp_path):
    engine = engine_for(tmp_path, "classify:\n  - {name: a, when: {field: ci, equals: db1}, set: {category: x}}\n")
    posts = []
    original = engine._host.post
    engine._host.post = lambda *a: (posts.append(a), original(*a))[1]
    for n in range(1000):  # a storm: same key, different occurrences and titles (not in any rule)
        engine.evaluate(alert(ci="db1", occurrence_id=f"am:{n}", title=f"t{n}"), NOW)
    assert len(posts) == 1  # one stage has rules; evaluated once
    assert engine.evaluate(alert(ci="db2"), NOW).matches[1].rule is None
    assert len(posts) == 1  # (db2 cannot match a rule that asks for db1: not posted at all)
    assert engine.evaluate(alert(ci="db1", labels={"x": "y"}), NOW).matches[1].rule == "a"


def test_a_stage_is_posted_again_only_when_what_its_rules_read_changes(tmp_path):
    engine = engine_for(tmp_path, """
classify:
  - {name: db, when: {field: ci, regex: '^db'}, set: {category: database}}
prioritise:
  - {name: seven, when: {field: ci, equals: db7}, set: {impact: 1, urgency: 1}}
route:
  - {name: dba, when: {field: category, equals: database}, set: {assignment_group: dba}}
""")
    posts = []
    original = engine._host.post
    engine._host.post = lambda stage, message: (posts.append(stage.split("_")[0]), original(stage, message))[1]
    for n in range(50):
        policy = engine.evaluate(alert(ci=f"db{n}"), NOW).policy
        assert (policy.assignment_group, policy.priority == 1) == ("dba", n == 7)
    # the regex on the CI enters as its result; the CI compared as it is enters as its value, and
    # only db7 can match the rule that asks for it: the other CIs are decided without a post
    assert (posts.count("classify"), posts.count("prioritise"), posts.count("route")) == (1, 1, 1)
    assert engine.evaluate(alert(ci="web1"), NOW).policy.assignment_group != "dba"


def test_cached_stages_answer_what_a_fresh_engine_answers():
    """The shipped rules over alerts that share some inputs and not others, in one engine with its
    caches, against an engine reloaded (fresh caches) before every alert."""
    config = Path(__file__).resolve().parents[2] / "config"
    from alertgate.rules.service import RulesService
    cached, fresh = RulesService(config, 1800.0), RulesService(config, 1800.0)
    assert not cached.reload()
    names = ["DiskFull", "InterfaceDown", "Watchdog", "BackupFailed", "HighCPULoad", "ServiceDown"]
    for n in range(120):
        labels = {"alertname": names[n % 6], "job": ["node", "snmp"][n % 2]}
        if n % 7 == 0:
            labels["maintenance"] = "true"
        if n % 5 == 0:
            labels["service"] = "billing"
        item = alert(ci=["db1", "sw-3", "web2", "fw-1"][n % 4], symptom=names[n % 6],
                     severity=["critical", "high", "warning", None][n % 4 - n % 3], title=names[(n + 1) % 6],
                     labels=labels)
        fresh.reload()
        assert cached.engine.evaluate(item, NOW) == fresh.engine.evaluate(item, NOW), n


def test_maintenance_window_mutes_only_inside_it(tmp_path):
    engine = engine_for(tmp_path, """
suppress:
  - name: upgrade
    when: {field: ci, regex: '^core-sw'}
    during: [{start: "2026-11-22T03:00:00Z", end: "2026-11-22T05:00:00Z"}]
""")
    inside = engine.evaluate(alert(ci="core-sw-1"), NOW)
    after = engine.evaluate(alert(ci="core-sw-1"), NOW + timedelta(hours=2))
    assert inside.policy.suppress and not after.policy.suppress  # cached per window state
    assert not engine.evaluate(alert(ci="web1"), NOW).policy.suppress


@pytest.mark.parametrize("start,end", [("2026-11-22T03:00:00", "2026-11-22T05:00:00"),
                                       ("2026-11-22 03:00:00", "2026-11-22T13:00:00+08:00")])
def test_a_window_s_times_without_a_zone_are_utc(tmp_path, start, end):
    """Loaded as given, a zoneless time failed every alert's evaluation (500) from then on."""
    engine = engine_for(tmp_path, f"""
suppress:
  - name: upgrade
    when: {{field: ci, regex: '^core-sw'}}
    during: [{{start: "{start}", end: "{end}"}}]
""")
    assert engine.evaluate(alert(ci="core-sw-1"), NOW).policy.suppress
    assert not engine.evaluate(alert(ci="core-sw-1"), NOW + timedelta(hours=2)).policy.suppress
    assert not engine.evaluate(alert(ci="web1"), NOW).policy.suppress


def _threads() -> int:
    return threading.active_count()


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def test_two_hundred_reloads_keep_threads_and_memory_bounded(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    engine = RuleEngine(Tables(), 1800.0)
    threads = _threads()

    def write(n: int) -> None:
        (rules_dir / "r.yaml").write_text(f"""
classify:
  - {{name: a, when: {{field: ci, equals: host{n}}}, set: {{category: c{n}}}}}
  - {{name: b, when: {{label: env, in: [e{n}, f{n}]}}, set: {{category: d{n}}}}}
route:
  - {{name: r, when: {{field: category, equals: c{n}}}, set: {{assignment_group: g{n}}}}}
""")

    for n in range(20):  # warm up allocators
        write(n)
        engine.load(load_rules(rules_dir), Tables(), 1800.0)
        engine.evaluate(alert(ci=f"host{n}"), NOW)
    gc.collect()
    before = _rss_kib()
    for n in range(20, 220):
        write(n)
        engine.load(load_rules(rules_dir), Tables(), 1800.0)
        assert engine.evaluate(alert(ci=f"host{n}"), NOW).policy.assignment_group == f"g{n}"
    gc.collect()
    assert _threads() == threads  # the host starts no timer threads
    assert engine.registered_rulesets() == 2  # one per stage shape, reused by every reload
    assert _rss_kib() - before < 8 * 1024  # KiB


def test_evaluations_during_reloads_never_see_a_half_loaded_set(tmp_path):
    sets = {}
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "r.yaml").write_text(f"""
classify:
  - {{name: c-{name}, when: {{field: ci, regex: '.'}}, set: {{category: cat-{name}}}}}
route:
  - {{name: r-{name}, when: {{field: category, equals: cat-{name}}}, set: {{assignment_group: group-{name}}}}}
""")
        sets[name] = load_rules(folder)
    engine = RuleEngine(Tables(), 1800.0)
    engine.load(sets["a"], Tables(), 1800.0)
    stop, seen, problems = threading.Event(), set(), []

    def evaluate() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            policy = engine.evaluate(alert(ci=f"h{n}"), NOW).policy
            pair = (policy.category, policy.assignment_group)
            seen.add(pair)
            if pair not in {("cat-a", "group-a"), ("cat-b", "group-b")}:
                problems.append(pair)

    workers = [threading.Thread(target=evaluate) for _ in range(3)]
    for w in workers:
        w.start()
    # At least 300 reloads, and on until the evaluating threads have met both sets (a loaded
    # machine may not schedule them during the first 300); bounded all the same.
    for n in range(100_000):
        engine.load(sets["ab"[n % 2]], Tables(), 1800.0)
        if n >= 300 and len(seen) == 2:
            break
    stop.set()
    for w in workers:
        w.join()
    assert problems == []
    assert seen == {("cat-a", "group-a"), ("cat-b", "group-b")}


def test_a_catastrophic_regex_cannot_stall_the_evaluation(tmp_path):
    """Issue #20: `^(a+)+$` against 28 a's and a `!` stalled Python's `re` for 9 s, and it doubles
    with each `a`. RE2 runs it in linear time; with 60 a's `re` would never finish (the alarm
    turns a hang into a failure)."""
    import signal

    engine = engine_for(tmp_path, "classify:\n  - name: evil\n    when: {field: symptom, regex: '^(a+)+$'}\n"
                                  "    set: {category: x}\n")

    def hung(*_):
        raise TimeoutError("the rule's regex did not finish")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        assert classify(engine, symptom="a" * 60 + "!") is None
        assert classify(engine, symptom="a" * 60) == "evil"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


SHIPPED_TITLE_PATTERNS = ["(?i)virus|malware|intrusion|brute.?force|ddos", "(?i)interface|link ?down|packet ?loss|bgp|ospf",
                          "(?i)cpu|load|memory|latency|slow|saturat|throttl|queue", "(?i)down|unavailable|error|5xx|probe"]
PATTERNS = ["(?i)^(core|dist|access)-sw|^sw-|^fw-", "(?i)disk.?(full|space)|filesystem", r"^\w+$", "数据库|服务器",
            r"(?i)straße", r"^.{3}$", r"\bdown\b", ""]


@settings(max_examples=300, deadline=None)
@given(text=st.text(), pattern=st.sampled_from(PATTERNS))
def test_a_rule_regex_answers_the_same_on_the_utf8_bytes_it_is_searched_in(text, pattern):
    """``CompiledStage.message`` searches a value's UTF-8 bytes (re2 encodes a str the same way)."""
    compiled = compile_pattern(pattern)
    assert (compiled.search(text) is None) == (compiled.search(text.encode()) is None)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), chosen=st.lists(st.sampled_from(PATTERNS + SHIPPED_TITLE_PATTERNS), min_size=1, max_size=10))
def test_patterns_searched_together_answer_as_each_searched_alone(text, chosen):
    """A value's patterns go through one RE2 Set pass (rules/patterns.PatternGroup): the same
    answer for each as its own search, in order, repeated patterns included."""
    compiled = [compile_pattern(p) for p in chosen]
    group = PatternGroup(compiled)
    assert group._set is not None
    assert group.found(text.encode()) == tuple(p.search(text.encode()) is not None for p in compiled)


def test_patterns_too_large_together_are_searched_one_at_a_time(monkeypatch):
    """A Set whose DFA could not start would find nothing in any text, silently: groups past
    ``SET_PROGRAM_LIMIT`` instructions are searched pattern by pattern."""
    from alertgate.rules import patterns

    big = [compile_pattern("(?i)" + "|".join(f"word{n}x{m}" for n in range(500))) for m in range(4)]
    assert sum(p.programsize for p in big) > patterns.SET_PROGRAM_LIMIT
    group = PatternGroup(big)
    assert group._set is None
    assert group.found(b"a WORD7X2 here") == (False, False, True, False)
    monkeypatch.setattr(patterns, "SET_PROGRAM_LIMIT", 10 ** 9)
    assert PatternGroup(big).found(b"a WORD7X2 here") == (False, False, True, False)   # (the Set agrees)


def test_a_regex_result_remembered_for_a_value_is_the_same_and_the_memory_stays_bounded(tmp_path, monkeypatch):
    """A storm's symptom on a new CI is answered from the stage's remembered results; a full
    memory starts again empty."""
    from alertgate.rules import compile as compiled

    monkeypatch.setattr(compiled, "SEARCHED_LIMIT", 5)
    engine = engine_for(tmp_path, "classify:\n  - name: hit\n    when: {field: symptom, regex: '(?i)^disk'}\n"
                                  "    set: {category: x}\n")
    answers = [classify(engine, ci=f"host{n}", symptom=symptom)
               for n in range(12) for symptom in ("DiskFull", "HighCPU", f"disk{n}", f"cpu{n}")]
    assert answers == [rule for n in range(12) for rule in ("hit", None, "hit", None)]
    stage = next(s for s in engine._active.stages if s.regexes)
    assert 0 < len(stage.searched) <= 5
    stage.searched.clear()   # a long value (a description can hold 64 KiB) is searched, not remembered
    long_value = "disk " + "x" * compiled.SEARCHED_LENGTH
    assert classify(engine, symptom=long_value) == "hit" and classify(engine, symptom=long_value[1:]) is None
    assert stage.searched == {}


def test_an_alert_whose_fields_hold_much_text_is_evaluated_but_not_kept(tmp_path):
    """A sender can fill a description with 64 KiB: the evaluation cache keeps only small keys."""
    from alertgate.rules.engine import KEY_CHARACTERS

    engine = engine_for(tmp_path, "classify:\n  - name: hit\n    when: {field: description, regex: '^disk'}\n"
                                  "    set: {category: x}\n")
    long_ones = [f"disk {n} " + "x" * KEY_CHARACTERS for n in range(20)]
    assert all(classify(engine, description=text) == "hit" for text in long_ones)
    assert classify(engine, description="cpu " + "x" * KEY_CHARACTERS) is None
    assert len(engine._active.cache) == 0
    assert classify(engine, description="disk full") == "hit" and len(engine._active.cache) == 1
    compared = engine_for(tmp_path, "classify:\n  - name: hit\n    when: {field: description, equals: a}\n"
                                    "    set: {category: x}\n")   # (the value itself in the stage's decision key)
    assert all(classify(compared, description=text) is None for text in long_ones)
    assert all(len(decisions) == 0 for decisions in compared._active.decisions)
    listed = engine_for(tmp_path, "classify:\n  - name: hit\n    when: {field: description, in: [a, b]}\n"
                                  "    set: {category: x}\n")   # (only whether it is listed: one decision)
    assert all(classify(listed, description=text) is None for text in long_ones)
    assert classify(listed, description="b") == "hit"
    assert sorted(len(decisions) for decisions in listed._active.decisions) == [0, 0, 0, 2]


_FRAGMENTS = ["disk full", "fan", "sw-", "core-sw1", "Backup", "login", "cpu", "down", "BGP", "ddos", "web", "db",
              "磁盘", "", " ", "x"]


@functools.cache
def shipped_engine() -> RuleEngine:
    from alertgate.rules.service import RulesService
    service = RulesService(Path(__file__).resolve().parents[2] / "config", 1800.0)
    assert not service.reload()
    return service.engine


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[st.lists(st.sampled_from(_FRAGMENTS), max_size=3).map("".join)] * 3,
                          st.sampled_from(["critical", "warning", None])), min_size=1, max_size=12))
def test_a_new_input_answered_from_one_that_matched_the_regexes_alike_is_what_every_stage_answers(inputs):
    """The shipped rules read the CI and the title through regexes only: a new CI or title is
    answered from an earlier alert whose values matched every such pattern alike. The answer is
    the one every stage gives, evaluated with no cache."""
    engine = shipped_engine()
    active = engine._active
    assert active.matched_of is not None
    for cache in (active.cache, active.by_matches, *active.decisions):
        cache.clear()
    for ci, title, symptom, severity in inputs:
        item = alert(ci=ci or "c", title=title, symptom=symptom or "s", severity=severity)
        found = engine.evaluate(item, NOW)
        decisions = [dict(d) for d in active.decisions]
        for cache in active.decisions:
            cache.clear()
        assert found == engine._evaluate(active, item, NOW, None), (ci, title, symptom, severity)
        for cache, kept in zip(active.decisions, decisions):
            cache.update(kept)


def test_a_new_ci_that_matches_the_regexes_alike_evaluates_no_stage(tmp_path, monkeypatch):
    engine = engine_for(tmp_path, """
classify:
  - {name: db, when: {all: [{field: ci, regex: '^db'}, {field: title, regex: 'disk'}]}, set: {category: database}}
route:
  - {name: dba, when: {field: category, equals: database}, set: {assignment_group: dba}}
""")
    evaluated = []
    original = engine._evaluate
    monkeypatch.setattr(engine, "_evaluate", lambda *a: (evaluated.append(a[1].ci), original(*a))[1])
    for n in range(100):   # a storm's new masters: a new CI and title each, matching alike
        policy = engine.evaluate(alert(ci=f"db{n}", title=f"disk {n} full"), NOW).policy
        assert policy.assignment_group == "dba"
    assert evaluated == ["db0"]
    assert engine.evaluate(alert(ci="web1", title="disk full"), NOW).policy.assignment_group != "dba"
    assert engine.evaluate(alert(ci="db9", title="cpu"), NOW).policy.assignment_group != "dba"
    assert evaluated == ["db0", "web1", "db9"]


def test_a_field_also_compared_as_it_is_keeps_its_value_in_the_key(tmp_path, monkeypatch):
    """The CI in a regex and in an equality: each new CI is evaluated (its value decides)."""
    engine = engine_for(tmp_path, """
classify:
  - {name: db, when: {field: ci, regex: '^db'}, set: {category: database}}
prioritise:
  - {name: seven, when: {field: ci, equals: db7}, set: {impact: 1, urgency: 1}}
""")
    assert engine._active.matched_of is None
    assert [engine.evaluate(alert(ci=f"db{n}"), NOW).policy.priority == 1 for n in range(9)] == [n == 7 for n in range(9)]
