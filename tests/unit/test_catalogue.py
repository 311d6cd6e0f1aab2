"""The CI catalogue (SPEC §11), pure: a raw CI resolves by exact name or alias, then
case-insensitively; a catalogue with a name or alias of two CIs, a missing parent or a loop is
refused whole, naming where; files (YAML, CSV from a CMDB export) name file and line; the rules
see the CI's facts, and its service and criticality are the defaults of affected service and impact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertgate.correlation.catalogue import CI, Catalogue, CatalogueInvalid, Entry
from alertgate.correlation.files import load_directory
from alertgate.rules.engine import RuleEngine
from alertgate.rules.schema import load_rules
from alertgate.rules.tables import Tables
from alertgate.tickets.alert import Alert, AlertStatus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cmdb"
NOW = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def catalogue(*cis: CI) -> Catalogue:
    return Catalogue(Entry(ci, f"f.yaml:{n}") for n, ci in enumerate(cis, 1))


DB1 = CI(name="db1", aliases=["db1.prod.example", "10.0.0.21", "database server 1"], service="erp",
         owner_group="dba", criticality=1, parents=["acc-sw01"])
SWITCH = CI(name="acc-sw01", parents=["core-sw1"])
CORE = CI(name="core-sw1")


@pytest.mark.parametrize("raw", ["db1", "DB1", "db1.prod.example", "DB1.PROD.EXAMPLE", "10.0.0.21",
                                 "Database Server 1"])
def test_every_name_of_one_machine_resolves_to_its_ci(raw):
    assert catalogue(DB1, SWITCH, CORE).resolve(raw) is DB1


@pytest.mark.parametrize("raw", ["db2", "db1:9100", "", "db1.prod", "ＤＢ１"])
def test_an_unknown_name_resolves_to_nothing(raw):
    assert catalogue(DB1, SWITCH, CORE).resolve(raw) is None


def test_unicode_names_fold_as_unicode_does():
    ci = CI(name="Straße-01", aliases=["数据库-1"])
    assert catalogue(ci).resolve("STRASSE-01") is ci and catalogue(ci).resolve("数据库-1") is ci


def _alert(ci: str) -> Alert:
    return Alert(source="alertmanager", occurrence_id="o1", ci=ci, symptom="DiskFull", status=AlertStatus.FIRING,
                 title="t", observed_at=NOW, received_at=NOW)


@pytest.mark.parametrize("raw, ci, kept", [("DB1.prod.example", "db1", "DB1.prod.example"), ("db1", "db1", None),
                                           ("db2", "db2", None)])
def test_an_alert_takes_the_canonical_name_and_keeps_the_sender_s(raw, ci, kept):
    """SPEC §11: the master keeps the sender's name as ``ci_raw``; an unknown CI passes unchanged."""
    alert, found = catalogue(DB1, SWITCH, CORE).canonical(_alert(raw))
    assert (alert.ci, alert.ci_raw, found) == (ci, kept, DB1 if ci == "db1" else None)


def test_ancestors_are_nearest_first_and_bounded():
    found = catalogue(DB1, SWITCH, CORE)
    assert found.ancestors("db1", 3) == ["acc-sw01", "core-sw1"]
    assert found.ancestors("db1", 1) == ["acc-sw01"]
    assert found.ancestors("core-sw1", 3) == [] and found.ancestors("nothing", 3) == []


@pytest.mark.parametrize("cis,problem", [
    ((DB1, SWITCH, CORE, CI(name="DB1")), "f.yaml:4: 'DB1' of CI 'DB1' already names CI 'db1' (f.yaml:1)"),
    ((DB1, SWITCH, CORE, CI(name="db9", aliases=["10.0.0.21"])), "'10.0.0.21' of CI 'db9' already names CI 'db1'"),
    ((DB1, SWITCH, CORE, CI(name="db1")), "f.yaml:4: CI 'db1' is defined twice (also f.yaml:1)"),
    ((DB1, CORE), "f.yaml:1: CI 'db1' names parent 'acc-sw01', which is not in the catalogue"),
    ((CI(name="a", parents=["b"]), CI(name="b", parents=["a"])), "f.yaml:1: CI 'a' depends on itself"),
    ((CI(name="a", parents=["a"]),), "CI 'a' depends on itself"),
])
def test_a_catalogue_that_cannot_hold_is_refused_whole_naming_where(cis, problem):
    with pytest.raises(CatalogueInvalid) as refused:
        catalogue(*cis)
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_the_fixture_files_load_a_few_hundred_cis_with_their_topology():
    entries, problems = load_directory(FIXTURES)
    assert problems == []
    found = Catalogue(entries)
    assert len(found) > 300
    server = found.resolve("srv-017.prod.example")
    assert server.name == "srv-017" and server.service and server.parents == ("acc-sw02",)
    assert found.resolve("srv-017:9100") is server   # an alias as host:port too
    assert found.ancestors("erp-app1", 3) == ["srv-001", "srv-002", "acc-sw01", "core-sw1"]
    assert next(e for e in entries if e.ci.name == "srv-001").origin == f"{FIXTURES / 'servers.csv'}:2"


@pytest.mark.parametrize("name,text,expected", [
    ("a.yaml", "- name: x\n  criticality: high\n", "a.yaml:2: Expected `int | null`, got `str`"),
    ("a.yaml", "cis:\n  - name: x\n  - nmae: y\n", "a.yaml:3: Object contains unknown field `nmae`"),
    ("a.yaml", "- name: x\n  - broken: [\n", "a.yaml:2: not valid YAML"),
    ("a.yaml", "name: x\n", "a.yaml:1: a catalogue file is a list of CIs"),
    ("a.csv", "name,criticality\nx,9\n", "a.csv:2: Expected `int` <= 4"),
    ("a.csv", "host,service\nx,erp\n", "a.csv:1: the header has no `name` column"),
    ("a.csv", b"name\n\xff\n", "a.csv:2: not UTF-8 text"),
])
def test_a_bad_file_names_file_and_line(tmp_path, name, text, expected):
    (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    entries, problems = load_directory(tmp_path)
    assert any(p.startswith(str(tmp_path / expected.split(":")[0])) and expected.split(":", 1)[1] in p
               for p in problems), problems


def alert(ci: str) -> Alert:
    return Alert(source="zabbix", occurrence_id="z:1", ci=ci, symptom="Disk full", status=AlertStatus.FIRING,
                 title="t", observed_at=NOW, received_at=NOW)


def test_rules_see_the_cis_facts_and_its_service_and_criticality_are_the_defaults(tmp_path):
    (tmp_path / "r.yaml").write_text("""
classify:
  - name: erp-disk
    when: {all: [{field: ci.service, equals: erp}, {field: ci.group, equals: dba}, {field: ci.known, equals: true}]}
    set: {category: database, symptom: DiskFull}
prioritise:
  - name: critical-ci
    when: {field: ci.criticality, le: 1}
    set: {urgency: 1}
""")
    engine = RuleEngine(Tables(), 1800.0)
    engine.load(load_rules(tmp_path), Tables(), 1800.0)
    policy = engine.evaluate(alert("db1"), NOW, DB1).policy
    assert (policy.category, policy.symptom, policy.affected_service, policy.impact, policy.urgency) == (
        "database", "DiskFull", "erp", 1, 1)
    unknown = engine.evaluate(alert("db1"), NOW).policy   # the same alert without its CI: cached apart
    assert (unknown.category, unknown.symptom, unknown.affected_service, unknown.impact, unknown.urgency) == (
        None, None, None, 3, 3)
    other = engine.evaluate(alert("db1"), NOW, CI(name="db1", service="mail", criticality=4)).policy
    assert (other.category, other.affected_service, other.impact) == (None, "mail", 4)


def test_pages_walk_every_ci_once_by_name_and_filter_by_origin():
    entries = [Entry(CI(name=f"ci-{n:03}"), "api" if n % 3 == 0 else f"f.yaml:{n}") for n in range(250, 0, -1)]
    whole = Catalogue(entries)
    seen, cursor = [], None
    while True:
        page, cursor, count = whole.page(cursor, 40)
        assert count == 250 and len(page) <= 40
        seen += [entry.ci.name for entry in page]
        if cursor is None:
            break
    assert seen == sorted(f"ci-{n:03}" for n in range(1, 251))
    api, cursor, count = whole.page(None, 1000, "api")
    assert count == len(api) == 83 and cursor is None and all(entry.origin == "api" for entry in api)
    assert whole.page(None, 1000, "files")[2] == 167
    # a cursor is a name: one that is gone, or any text, starts the page after where it would sort
    assert [e.ci.name for e in whole.page("ci-100x", 2)[0]] == ["ci-101", "ci-102"]
    assert whole.page("zzz", 10) == ([], None, 250)
    # a page that ends on the last CI says so
    last, cursor, _ = whole.page("ci-240", 10)
    assert len(last) == 10 and cursor is None


def test_a_csv_excel_saved_in_gbk_is_named_at_its_line_with_the_fix(tmp_path):
    cmdb = tmp_path / "cmdb"
    cmdb.mkdir()
    (cmdb / "bom.csv").write_bytes("\ufeffname,service\r\nweb1,商城\r\n".encode("utf-8"))   # Excel's "CSV UTF-8"
    (cmdb / "gbk.csv").write_bytes("name,service\r\nweb2,ok\r\nweb3,商城\r\n".encode("gbk"))
    entries, problems = load_directory(cmdb)
    assert [e.ci.name for e in entries] == ["web1"]
    [problem] = problems
    assert problem.startswith(f"{cmdb / 'gbk.csv'}:3: not UTF-8") and "CSV UTF-8" in problem
