from datetime import datetime, timezone

import pytest

from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import PayloadError, SourceContext
from alertgate.settings import DEFAULT_CI_LABELS
from alertgate.tickets.alert import AlertStatus

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
CTX = SourceContext(NOW, DEFAULT_CI_LABELS)
parse = SOURCES["finding"]


def test_single_finding_with_id():
    [a] = parse(b'{"finding_id": "F-1", "ci": "UPS-2", "title": "Battery swollen", "check": "ups-visual",'
                b' "severity": "high", "inspector": "Li", "location": "DC1 room 3"}', CTX)
    assert a.source == "finding"
    assert a.occurrence_id == "finding:F-1"
    assert (a.ci, a.symptom, a.title, a.severity) == ("UPS-2", "ups-visual", "Battery swollen", "high")
    assert a.labels == {"inspector": "Li", "location": "DC1 room 3"}
    assert a.status is AlertStatus.FIRING
    assert a.observed_at == NOW


def test_without_id_identity_is_ci_title_and_observed_at():
    raw = b'{"ci": "UPS-2", "title": "Fan noise", "observed_at": "2026-11-22T02:00:00Z"}'
    [a], [b] = parse(raw, CTX), parse(raw, CTX)
    [c] = parse(raw.replace(b"02:00", b"03:00"), CTX)
    assert a.occurrence_id == b.occurrence_id != c.occurrence_id
    assert a.symptom == "Fan noise"  # no check: the title


def test_a_numeric_finding_id_is_its_text():
    [a] = parse(b'{"finding_id": 12345, "ci": "UPS-2", "title": "Battery swollen"}', CTX)
    [b] = parse(b'{"finding_id": "12345", "ci": "UPS-2", "title": "Battery swollen"}', CTX)
    assert a.occurrence_id == b.occurrence_id == "finding:12345"


def test_a_zoneless_observed_at_is_utc_and_keeps_its_identity():
    [a] = parse(b'{"ci": "UPS-2", "title": "Fan noise", "observed_at": "2026-11-22T02:00:00"}', CTX)
    assert a.observed_at == datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


def test_array_of_findings_keeps_order():
    alerts = parse(b'[{"finding_id": "1", "ci": "a", "title": "t"}, {"finding_id": "2", "ci": "b", "title": "t"}]', CTX)
    assert [a.ci for a in alerts] == ["a", "b"]


@pytest.mark.parametrize("raw,path", [
    (b'{"title": "x", "finding_id": "1"}', "$"),
    (b'{"ci": "", "title": "x", "finding_id": "1"}', "$.ci"),
    (b'{"ci": "   ", "title": "x", "finding_id": "1"}', "$.ci"),
    (b'{"ci": "a", "title": "x"}', "$"),
    (b'[{"ci": "a", "title": "x", "finding_id": "1"}, {"ci": "a", "title": "y"}]', "$[1]"),
    (b'{"ci": 5, "title": "x"}', "$.ci"),
    (b'"just text"', "$"),
])
def test_unacceptable_findings_name_the_path(raw, path):
    with pytest.raises(PayloadError) as info:
        parse(raw, CTX)
    assert info.value.detail[0].path == path
