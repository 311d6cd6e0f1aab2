from datetime import datetime, timezone

import msgspec
import pytest

from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import PayloadError, SourceContext
from alertgate.settings import DEFAULT_CI_LABELS
from alertgate.tickets.alert import AlertStatus

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
CTX = SourceContext(NOW, DEFAULT_CI_LABELS)
parse = SOURCES["alertmanager"]


def body(*alerts, **group) -> bytes:
    return msgspec.json.encode({"alerts": list(alerts), **group})


def alert(labels=None, starts="2026-11-22T03:00:00Z", **extra):
    return {"labels": labels or {"alertname": "HighCPU", "instance": "web1:9100"}, "startsAt": starts, **extra}


def test_full_version_4_payload_is_normalized():
    payload = body(
        alert(
            {"alertname": "HighCPU", "instance": "web1.example:9100", "job": "node", "severity": "critical"},
            status="firing",
            endsAt="0001-01-01T00:00:00Z",
            annotations={"summary": "CPU above 90%", "description": "for 10m", "runbook_url": "http://rb"},
            generatorURL="http://prom/graph",
            fingerprint="abc",
        ),
        version="4", groupKey='{}:{alertname="HighCPU"}', truncatedAlerts=0, status="firing",
        receiver="team\\ops", externalURL="http://am:9093", groupLabels={}, commonLabels={},
    )
    [a] = parse(payload, CTX)
    assert a.source == "alertmanager"
    assert a.ci == "web1.example"
    assert a.symptom == "HighCPU"
    assert a.status is AlertStatus.FIRING
    assert a.severity == "critical"
    assert a.title == "CPU above 90%"
    assert a.description == "for 10m"
    assert a.links == {"generator": "http://prom/graph", "runbook": "http://rb", "alertmanager": "http://am:9093"}
    assert a.observed_at == datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)
    assert a.received_at == NOW


def test_minimal_payload_without_optional_keys_is_accepted():
    [a] = parse(b'{"alerts":[{"labels":{"alertname":"X"},"startsAt":"2026-11-22T03:00:00Z"}]}', CTX)
    assert a.status is AlertStatus.FIRING
    assert a.ci == "unknown"


def test_group_mixing_firing_and_resolved_keeps_each_status():
    alerts = parse(body(
        alert(status="firing"),
        alert({"alertname": "Disk", "host": "db1"}, status="resolved", endsAt="2026-11-22T03:30:00Z"),
    ), CTX)
    assert [a.status for a in alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert alerts[1].observed_at == datetime(2026, 11, 22, 3, 30, tzinfo=timezone.utc)


def test_missing_per_alert_status_is_derived_from_ends_at():
    past, future = "2026-11-22T03:59:00Z", "2026-11-22T05:00:00Z"
    resolved, firing, zero = parse(body(
        alert(endsAt=past), alert(endsAt=future), alert(endsAt="0001-01-01T00:00:00Z")), CTX)
    assert resolved.status is AlertStatus.RESOLVED
    assert firing.status is AlertStatus.FIRING
    assert zero.status is AlertStatus.FIRING


def test_same_fingerprint_on_different_alerts_gives_different_occurrences():
    a, b = parse(body(
        alert({"alertname": "A", "host": "h"}, fingerprint="same"),
        alert({"alertname": "B", "host": "h"}, fingerprint="same"),
    ), CTX)
    assert a.occurrence_id != b.occurrence_id


def test_occurrence_is_labels_plus_starts_at_regardless_of_label_order():
    a, = parse(b'{"alerts":[{"labels":{"a":"1","b":"2"},"startsAt":"2026-11-22T03:00:00Z"}]}', CTX)
    b, = parse(b'{"alerts":[{"labels":{"b":"2","a":"1"},"startsAt":"2026-11-22T03:00:00Z"}]}', CTX)
    c, = parse(b'{"alerts":[{"labels":{"a":"1","b":"2"},"startsAt":"2026-11-22T03:05:00Z"}]}', CTX)
    assert a.occurrence_id == b.occurrence_id != c.occurrence_id


def test_firing_and_resolved_of_one_occurrence_are_different_deliveries():
    f, r = parse(body(alert(status="firing"), alert(status="resolved", endsAt="2026-11-22T03:30:00Z")), CTX)
    assert f.occurrence_id == r.occurrence_id
    assert f.delivery_id != r.delivery_id


@pytest.mark.parametrize("labels,ci", [
    ({"ci": "ERP", "host": "h"}, "ERP"),
    ({"configuration_item": "CRM", "instance": "i:1"}, "CRM"),
    ({"hostname": "hn", "instance": "i:1"}, "hn"),
    ({"instance": "10.0.0.5:9100"}, "10.0.0.5"),
    ({"instance": "[2001:db8::1]:9100"}, "2001:db8::1"),
    ({"instance": "2001:db8::1"}, "2001:db8::1"),
    ({"instance": "plain"}, "plain"),
    ({"nodename": "n1", "pod": "p"}, "n1"),
    ({"pod": "api-7d9", "service": "api"}, "api-7d9"),
    ({"service": "api", "job": "j"}, "api"),
    ({"job": "node"}, "node"),
    ({"host": "", "job": "node"}, "node"),
    ({"instance": ":9100", "job": "node"}, "node"),      # a port names no host
    ({"instance": "  :9100"}, "unknown"),
    ({"other": "x"}, "unknown"),
])
def test_ci_follows_label_precedence(labels, ci):
    [a] = parse(body(alert({"alertname": "X", **labels})), CTX)
    assert a.ci == ci


def test_extra_symptom_labels_split_one_alertname():
    ctx = SourceContext(NOW, DEFAULT_CI_LABELS, ("mountpoint",))
    a, b = parse(body(alert({"alertname": "DiskFull", "host": "h", "mountpoint": "/"}),
                      alert({"alertname": "DiskFull", "host": "h", "mountpoint": "/var"})), ctx)
    assert (a.symptom, b.symptom) == ("DiskFull{mountpoint=/}", "DiskFull{mountpoint=/var}")


def test_non_ascii_text_survives():
    [a] = parse(body(alert({"alertname": "磁盘空间不足", "host": "数据库-01"},
                           annotations={"summary": "剩余 5% — ünïcödé 🚨"})), CTX)
    assert (a.ci, a.symptom, a.title) == ("数据库-01", "磁盘空间不足", "剩余 5% — ünïcödé 🚨")


@pytest.mark.parametrize("raw,path", [
    (b'{"alerts": [', "$"),
    (b'[]', "$"),
    (b'{}', "$"),
    (b'{"alerts": [{"labels": {"a": 1}, "startsAt": "2026-11-22T03:00:00Z"}]}', "$.alerts[0].labels[...]"),
    (b'{"alerts": [{"labels": {}}]}', "$.alerts[0]"),
    (b'{"alerts": [{"labels": {}, "startsAt": "yesterday"}]}', "$.alerts[0].startsAt"),
    (b'{"alerts": [{"labels": {}, "startsAt": "2026-11-22T03:00:00Z", "status": "pending"}]}', "$.alerts[0].status"),
])
def test_unacceptable_payloads_name_the_path(raw, path):
    with pytest.raises(PayloadError) as info:
        parse(raw, CTX)
    assert info.value.detail[0].path == path
    assert info.value.detail[0].message
