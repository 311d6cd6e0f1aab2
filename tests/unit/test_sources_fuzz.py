"""Any body, valid or not, gives alerts or a PayloadError with a path; never another exception."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import PayloadError, SourceContext
from alertgate.settings import DEFAULT_CI_LABELS

CTX = SourceContext(datetime(2026, 11, 22, tzinfo=timezone.utc), DEFAULT_CI_LABELS, ("mountpoint",))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=20)
label_maps = st.dictionaries(st.sampled_from(["alertname", "instance", "host", "ci", "severity", "x", "业务", ""]),
                             st.one_of(st.text(max_size=12), st.integers()), max_size=5)
am_alerts = st.fixed_dictionaries(
    {"labels": label_maps},
    optional={"startsAt": st.sampled_from(["2026-11-22T03:00:00Z", "0001-01-01T00:00:00Z", "nope", "2026-11-22"]),
              "endsAt": st.sampled_from(["2026-11-22T03:30:00Z", "0001-01-01T00:00:00Z", None, 5]),
              "status": st.sampled_from(["firing", "resolved", "pending", None]),
              "annotations": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
              "fingerprint": st.text(max_size=8)})
zabbix_values = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.sampled_from(["{EVENT.ID}", "*UNKNOWN*", "0", "1"]))
zabbix_events = st.dictionaries(
    st.sampled_from(["event_id", "event_value", "event_update_status", "event_nseverity", "event_timestamp",
                     "event_tags", "host", "host_name", "trigger_id", "event_name", "zabbix_url"]),
    zabbix_values, max_size=11)


def accept_or_refuse(source: str, body: bytes) -> None:
    try:
        alerts = SOURCES[source](body, CTX)
    except PayloadError as exc:
        assert exc.error and exc.detail and all(d.path.startswith("$") for d in exc.detail)
        return
    for alert in alerts:
        assert alert.ci and alert.symptom and alert.occurrence_id


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(sorted(SOURCES)), value=json_values)
def test_arbitrary_json_never_crashes_a_source(source, value):
    accept_or_refuse(source, msgspec.json.encode(value))


@settings(max_examples=300, deadline=None)
@given(alerts=st.lists(am_alerts, max_size=6))
def test_alertmanager_like_payloads(alerts):
    accept_or_refuse("alertmanager", msgspec.json.encode({"alerts": alerts, "version": "4"}))


@settings(max_examples=300, deadline=None)
@given(event=zabbix_events)
def test_zabbix_like_payloads(event):
    accept_or_refuse("zabbix", msgspec.json.encode(event))


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes(body):
    for source in SOURCES:
        accept_or_refuse(source, body)


def test_hostile_shapes():
    deep = b"[" * 10_000 + b"]" * 10_000
    for body in (deep, b'{"alerts": [{"labels": {"a": NaN}}]}', b'{"alerts": [], "alerts": 5}',
                 b'{"alerts": [{"labels": {"alertname": "x"}, "startsAt": "2026-11-22T03:00:00Z", "startsAt": 1}]}',
                 b'{"event_id": Infinity, "event_value": "1"}'):
        for source in SOURCES:
            accept_or_refuse(source, body)
    many = {"alerts": [{"labels": {"alertname": f"A{i}", "instance": f"h{i % 100}:1"},
                        "startsAt": "2026-11-22T03:00:00Z"} for i in range(10_000)]}
    assert len(SOURCES["alertmanager"](msgspec.json.encode(many), CTX)) == 10_000
    many_labels = {"alerts": [{"labels": {f"l{i}": "v" * 50 for i in range(256)}, "startsAt": "2026-11-22T03:00:00Z"}]}
    assert SOURCES["alertmanager"](msgspec.json.encode(many_labels), CTX)[0].ci == "unknown"


@pytest.mark.parametrize("source, body, path", [
    ("alertmanager", {"alerts": [{"labels": {f"l{i}": "v" for i in range(257)}, "startsAt": "2026-11-22T03:00:00Z"}]},
     "$.alerts[0].labels"),
    ("alertmanager", {"alerts": [{"labels": {"alertname": "a" * 4097}, "startsAt": "2026-11-22T03:00:00Z"}]},
     "$.alerts[0].labels[...]"),
    ("alertmanager", {"alerts": [{"labels": {"x" * 257: "v"}, "startsAt": "2026-11-22T03:00:00Z"}]},
     "$.alerts[0].labels"),
    ("alertmanager", {"alerts": [{"labels": {"alertname": "A"}, "annotations": {"description": "d" * 65537},
                                  "startsAt": "2026-11-22T03:00:00Z"}]}, "$.alerts[0].annotations[...]"),
    ("zabbix", {"event_id": "1", "event_value": "1", "host": "h" * 4097, "trigger_id": "1"}, "$.host"),
    ("zabbix", {"event_id": "1", "event_value": "1", "host": "h", "trigger_id": "1",
                "event_tags": [{"tag": "t", "value": "v" * 4097}]}, "$.event_tags[0].value"),
    ("finding", {"ci": "c", "title": "t" * 4097, "finding_id": "f"}, "$.title"),
    ("finding", {"ci": "c", "title": "t", "finding_id": "f", "description": "d" * 65537}, "$.description"),
])
def test_a_field_past_its_size_limit_is_a_400_naming_it(source, body, path):
    """Issue #20: no field had a size limit (a 4.5 MB alertname stalled a process for 4 s)."""
    with pytest.raises(PayloadError) as refused:
        SOURCES[source](msgspec.json.encode(body), CTX)
    assert refused.value.detail[0].path == path, refused.value.detail


def test_json_nested_deep_inside_an_ignored_key_is_a_400():
    """Issue #20: `{"x": [[[…]]], "alerts": []}` raised RecursionError (a 500) on every route."""
    body = b'{"x":' + b"[" * 1000 + b"]" * 1000 + b',"alerts":[], "event_id": "1", "ci": "c", "title": "t"}'
    for source in SOURCES:
        with pytest.raises(PayloadError) as refused:
            SOURCES[source](body, CTX)
        assert refused.value.error == "malformed JSON" and "nested" in refused.value.detail[0].message


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}")
wall_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
rfc3339 = st.builds(lambda moment, zone: moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + zone, wall_times,
                    st.one_of(offsets, st.just("Z")))
epochs = st.one_of(st.integers(min_value=-10**13, max_value=10**13), st.floats(allow_nan=False, allow_infinity=True))


def readable_after_storing(alert) -> None:
    """What a source accepts is stored as epoch seconds and must read back (issue #20)."""
    from alertgate.tickets.codec import from_hash, to_field

    for moment in (alert.observed_at, alert.received_at):
        raw = {b"created_at": to_field("created_at", moment).encode(), b"updated_at": b"1700000000"}
        ticket = from_hash(raw, ticket_id="INC-ABC-1")
        assert ticket.created_at == moment and not ticket.timeline


@settings(max_examples=300, deadline=None)
@given(starts=rfc3339, ends=st.one_of(st.none(), rfc3339), observed=rfc3339, epoch=epochs)
def test_any_time_is_refused_by_its_path_or_reads_back_after_storing(starts, ends, observed, epoch):
    bodies = [("alertmanager", {"alerts": [{"labels": {"alertname": "T"}, "startsAt": starts,
                                            **({"endsAt": ends, "status": "resolved"} if ends else {})}]}),
              ("finding", {"ci": "c", "title": "t", "observed_at": observed}),
              ("zabbix", {"event_id": "1", "event_value": "1", "host": "h", "trigger_id": "1",
                          "event_timestamp": str(epoch)})]
    for source, body in bodies:
        try:
            alerts = SOURCES[source](msgspec.json.encode(body), CTX)
        except PayloadError as exc:
            assert exc.detail[0].path.startswith("$")
            continue
        for alert in alerts:
            readable_after_storing(alert)
