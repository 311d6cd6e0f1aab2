"""Rule files: one small invalid file per error kind, each with the exact message and line."""

from pathlib import Path

import pytest

from alertgate.rules.schema import RulesInvalid, load_rules

INVALID = Path(__file__).resolve().parents[1] / "rules_invalid"
ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "bad_yaml.yaml": (4, "not valid YAML: did not find expected ',' or ']'"),   # (libyaml's words)
    "unknown_stage.yaml": (1, "unknown stage 'clasify' (one of suppress, classify, prioritise, route)"),
    "unknown_rule_key.yaml": (3, "unknown key 'colour' in a rule (a rule has name, when, set, during)"),
    "missing_name.yaml": (2, "rule 1 of classify has no 'name'"),
    "unknown_field.yaml": (3, "rule a: unknown field 'colour' (one of affected_service, area, category, ci, "
                              "ci.criticality, ci.group, ci.known, ci.service, description, impact, nature, priority, severity, source, status, subarea, symptom, "
                              "title, urgency)"),
    "unknown_operator.yaml": (5, "rule a: unknown operator 'like' (one of equals, not_equals, in, regex, exists, "
                                 "lt, le, gt, ge)"),
    "two_operators.yaml": (3, "rule a: a condition has exactly one operator (one of equals, not_equals, in, regex, "
                              "exists, lt, le, gt, ge)"),
    "bad_regex.yaml": (3, "rule a: invalid regular expression 'web[0-9': missing ]: [0-9 (rules use RE2 syntax: "
                          "no backreferences or lookaround)"),
    "backreference_regex.yaml": (4, "rule doubled: invalid regular expression '^(web)\\\\1$': invalid escape "
                                    "sequence: \\1 (rules use RE2 syntax: no backreferences or lookaround)"),
    "in_not_a_list.yaml": (3, "rule a: 'in' takes a non-empty list of values"),
    "numeric_needs_number.yaml": (3, "rule a: 'gt' takes a number"),
    "empty_any.yaml": (4, "rule a: 'any' takes a non-empty list of conditions"),
    "impact_out_of_range.yaml": (4, "rule a: set: impact: Expected `int` <= 4"),
    "set_key_of_another_stage.yaml": (3, "rule a: set: a classify rule cannot set 'priority' "
                                         "(it sets: category, area, subarea, nature, affected_service, ci, symptom)"),
    "unknown_channel.yaml": (3, "rule a: set: channels: Invalid enum value 'pigeon'"),
    "bad_dedup_window.yaml": (3, "rule a: 'soon' is not a duration such as 30m, 45s or 1h30m"),
    "during_outside_suppress.yaml": (3, "rule a: 'during' (a maintenance window) belongs to suppress rules"),
    "duplicate_name.yaml": (4, "rule a: a route rule of this name already exists at {dir}/duplicate_name.yaml:2"),
}


def test_every_invalid_file_has_an_expectation():
    assert {p.name for p in INVALID.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_is_refused_with_file_line_and_reason(tmp_path, name):
    (tmp_path / name).write_bytes((INVALID / name).read_bytes())
    with pytest.raises(RulesInvalid) as info:
        load_rules(tmp_path)
    [error] = info.value.errors
    line, message = EXPECTED[name]
    assert error.file == str(tmp_path / name)
    assert (error.line, error.message) == (line, message.format(dir=tmp_path))


def test_every_error_of_every_file_is_listed(tmp_path):
    for name in ("bad_regex.yaml", "unknown_field.yaml", "impact_out_of_range.yaml"):
        (tmp_path / name).write_bytes((INVALID / name).read_bytes())
    with pytest.raises(RulesInvalid) as info:
        load_rules(tmp_path)
    assert len(info.value.errors) == 3


def test_shipped_rules_load():
    rules = load_rules(ROOT / "config" / "rules")
    assert {r.stage for r in rules} == {"suppress", "classify", "prioritise", "route"}
    assert all(r.dedup_window is None for r in rules)  # the shipped files set no window of their own


def test_yaml_cannot_construct_objects(tmp_path):
    (tmp_path / "evil.yaml").write_text("classify:\n  - name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(RulesInvalid) as info:
        load_rules(tmp_path)
    assert "not valid YAML" in info.value.errors[0].message


def test_a_file_not_in_utf8_is_named_at_its_line_with_the_fix(tmp_path):
    """A rule file saved in GBK (a Chinese Windows editor's default) said only "'utf-8' codec can't
    decode byte 0xca in position 57"."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cn.yaml").write_bytes("classify:\n  - name: cn\n    when: {field: ci, equals: 数据库}\n"
                                    "    set: {category: db}\n".encode("gbk"))
    with pytest.raises(RulesInvalid) as info:
        load_rules(rules)
    [error] = info.value.errors
    assert (error.line, "not UTF-8" in error.message, "iconv" in error.message) == (3, True, True)


def test_settings_and_tables_not_in_utf8_name_file_line_and_fix(tmp_path):
    from alertgate.rules.tables import TablesInvalid, load_tables
    from alertgate.settings import SettingsError, load_settings

    (tmp_path / "alertgate.yaml").write_bytes("port: 8080\n# 值班表\n".encode("gbk"))
    (tmp_path / "tables.yaml").write_bytes("# 值班表\n".encode("gbk"))
    with pytest.raises(SettingsError, match=r"alertgate\.yaml:2: not UTF-8"):
        load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path)})
    with pytest.raises(TablesInvalid, match=r"tables\.yaml:1: not UTF-8"):
        load_tables(tmp_path)


def test_a_key_given_twice_is_an_error_not_the_last_silently(tmp_path):
    """PyYAML keeps the last of a repeated key: a rule's second `set:` dropped its first, a CI's
    second `service:` its first, and `rules check` said ok."""
    from alertgate.correlation.files import load_directory
    from alertgate.rules.tables import TablesInvalid, load_tables
    from alertgate.settings import SettingsError, load_settings

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text("classify:\n  - name: db\n    when: {field: ci, equals: db1}\n"
                                  "    set: {category: database}\n    set: {area: storage}\n")
    with pytest.raises(RulesInvalid) as info:
        load_rules(rules)
    [error] = info.value.errors
    assert error.line == 5 and "'set' given twice" in error.message and "line 4" in error.message
    cmdb = tmp_path / "cmdb"
    cmdb.mkdir()
    (cmdb / "a.yaml").write_text("- name: web1\n  service: shop\n  service: erp\n")
    entries, problems = load_directory(cmdb)
    assert entries == [] and problems[0].startswith(f"{cmdb / 'a.yaml'}:3:")
    (tmp_path / "alertgate.yaml").write_text("port: 8080\nport: 9090\n")
    with pytest.raises(SettingsError, match="'port' given twice"):
        load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path)})
    (tmp_path / "tables.yaml").write_text("priority_matrix: {}\npriority_matrix: {}\n")
    with pytest.raises(TablesInvalid, match="given twice"):
        load_tables(tmp_path)
    (rules / "r.yaml").write_text("base: &b {category: x}\nclassify:\n  - name: db\n    when: {field: ci, equals: db1}\n"
                                  "    set: {<<: *b, area: storage}\n")   # (a merge key is no repeat)
    with pytest.raises(RulesInvalid) as merged:
        load_rules(rules)
    assert "given twice" not in str(merged.value.errors)


@pytest.mark.parametrize("value,says", [("1.10", "the number 1.1"), ("yes", "as true"), ("off", "as false"),
                                        ("[v1, 2.0]", "the number 2.0")])
def test_an_unquoted_value_yaml_reads_as_no_text_is_named(tmp_path, value, says):
    """`equals: 1.10` compared with "1.1" and `equals: yes` with "true": never a match for the label
    text they look like, and rules check said ok. Quoted, or a whole number, they are text."""
    rules = tmp_path / "rules"
    rules.mkdir()
    op = "in" if value.startswith("[") else "equals"
    (rules / "r.yaml").write_text(f"classify:\n  - name: v\n    when: {{label: version, {op}: {value}}}\n"
                                  "    set: {category: old}\n")
    with pytest.raises(RulesInvalid) as info:
        load_rules(rules)
    [error] = info.value.errors
    assert error.line == 3 and says in error.message and "quote" in error.message
    (rules / "r.yaml").write_text("classify:\n  - name: v\n    when: {all: [{label: version, equals: '1.10'}, "
                                  "{label: code, equals: 200}, {field: ci.known, equals: true}]}\n    set: {category: old}\n")
    [rule] = load_rules(rules)
    assert [leaf.value for leaf in rule.when.items] == ["1.10", "200", "true"]
