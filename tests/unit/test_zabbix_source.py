from datetime import datetime, timezone

import msgspec
import pytest

from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import PayloadError, SourceContext
from alertgate.settings import DEFAULT_CI_LABELS
from alertgate.tickets.alert import AlertStatus

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
CTX = SourceContext(NOW, DEFAULT_CI_LABELS)
parse = SOURCES["zabbix"]


def event(**overrides) -> bytes:
    """A body as the shipped media type posts it: every value a string."""
    base = {
        "event_id": "12345", "event_value": "1", "event_update_status": "0",
        "event_nseverity": "4", "event_severity": "High", "event_name": "High CPU on web1",
        "event_timestamp": "1795318364", "event_tags": [{"tag": "service", "value": "erp"}],
        "event_opdata": "97 %", "host": "web1", "host_name": "Web server 1", "host_ip": "10.0.0.1",
        "trigger_id": "20001", "trigger_name": "High CPU on {HOST.NAME}",
        "trigger_description": "CPU has been above 90% for 5 minutes", "zabbix_url": "https://zbx",
        "event_update_action": "{EVENT.UPDATE.ACTION}", "event_update_message": "{EVENT.UPDATE.MESSAGE}",
        "event_update_user": "{USER.FULLNAME}",
    }
    base.update(overrides)
    return msgspec.json.encode(base)


def test_problem_event_is_a_firing_alert():
    [a] = parse(event(), CTX)
    assert a.source == "zabbix"
    assert a.occurrence_id == "zabbix:12345"
    assert a.status is AlertStatus.FIRING and not a.update
    assert a.ci == "web1"  # the technical host name, not the visible one
    assert a.symptom == "20001"
    assert a.severity == "high"
    assert a.title == "High CPU on web1"
    assert a.description == "CPU has been above 90% for 5 minutes"  # the trigger's comment
    assert a.labels == {"service": "erp"}
    assert a.observed_at == datetime.fromtimestamp(1795318364, tz=timezone.utc)
    assert a.links == {"zabbix": "https://zbx/tr_events.php?triggerid=20001&eventid=12345"}


def test_recovery_carries_the_problem_event_id():
    problem, = parse(event(), CTX)
    recovery, = parse(event(event_value="0"), CTX)
    assert recovery.status is AlertStatus.RESOLVED
    assert recovery.occurrence_id == problem.occurrence_id
    assert recovery.delivery_id != problem.delivery_id


def test_update_is_marked_and_each_update_is_its_own_delivery():
    ack, = parse(event(event_update_status="1", event_update_action="acknowledged",
                       event_update_message="on it", event_update_user="Ann"), CTX)
    comment, = parse(event(event_update_status="1", event_update_action="commented",
                           event_update_message="rebooting", event_update_user="Ann"), CTX)
    again, = parse(event(event_update_status="1", event_update_action="acknowledged",
                         event_update_message="on it", event_update_user="Ann"), CTX)
    assert ack.update and comment.update
    assert ack.occurrence_id == comment.occurrence_id == "zabbix:12345"
    assert ack.delivery_id != comment.delivery_id
    assert ack.delivery_id == again.delivery_id  # a retry of the same update


def test_unresolved_macros_are_treated_as_absent():
    [a] = parse(event(host="{HOST.HOST}", host_name="Web 1", trigger_id="{TRIGGER.ID}",
                      event_timestamp="{EVENT.TIMESTAMP}", event_tags="{EVENT.TAGSJSON}",
                      trigger_description="{TRIGGER.DESCRIPTION}", zabbix_url="{$ZABBIX.URL}",
                      event_nseverity="*UNKNOWN*", event_severity="Average"), CTX)
    assert a.ci == "Web 1"
    assert a.symptom == "High CPU on web1"
    assert a.observed_at == NOW  # no timestamp: the gateway's receive time
    assert a.labels == {}
    assert a.description == ""
    assert a.links == {}
    assert a.severity == "average"


def test_without_host_or_trigger_falls_back_to_unknown():
    [a] = parse(event(host="", host_name="{HOST.NAME}", trigger_id="", event_name="{EVENT.NAME}",
                      trigger_name="{TRIGGER.NAME}"), CTX)
    assert (a.ci, a.symptom, a.title) == ("unknown", "unknown", "unknown")


def test_tags_as_json_text_and_repeated_tags():
    [a] = parse(event(event_tags='[{"tag":"scope","value":"availability"},{"tag":"scope","value":"performance"},{"tag":"app"}]'), CTX)
    assert a.labels == {"scope": "availability,performance", "app": ""}


def test_tags_as_event_tags_text_from_a_media_type_of_one_s_own():
    """{EVENT.TAGS} instead of {EVENT.TAGSJSON}: every alert of that media type was a 400."""
    [a] = parse(event(event_tags="scope:availability, app, scope:performance, url:http://x:8080/a"), CTX)
    assert a.labels == {"scope": "availability,performance", "app": "", "url": "http://x:8080/a"}
    with pytest.raises(PayloadError) as info:
        parse(event(event_tags=", ".join(f"t{n}:v" for n in range(300))), CTX)
    assert info.value.detail[0].path == "$.event_tags"


def test_numbers_instead_of_strings_are_accepted():
    [a] = parse(event(event_id=777, event_value=1, event_nseverity=5, event_timestamp=1795318364), CTX)
    assert a.occurrence_id == "zabbix:777"
    assert a.severity == "disaster"


def test_non_ascii_text_survives():
    [a] = parse(event(host="数据库-01", event_name="磁盘空间不足 ü", event_tags=[{"tag": "业务", "value": "财务"}]), CTX)
    assert (a.ci, a.title, a.labels) == ("数据库-01", "磁盘空间不足 ü", {"业务": "财务"})


@pytest.mark.parametrize("overrides,path", [
    ({"event_id": "{EVENT.ID}"}, "$.event_id"),
    ({"event_id": None}, "$.event_id"),
    ({"event_value": "2"}, "$.event_value"),
    ({"event_value": "{EVENT.VALUE}"}, "$.event_value"),
    ({"event_timestamp": "yesterday"}, "$.event_timestamp"),
    ({"event_tags": "[not json"}, "$.event_tags"),
    ({"host": ["web1"]}, "$.host"),
])
def test_unacceptable_events_name_the_field(overrides, path):
    with pytest.raises(PayloadError) as info:
        parse(event(**overrides), CTX)
    assert info.value.detail[0].path == path


def test_malformed_json_is_a_payload_error():
    with pytest.raises(PayloadError) as info:
        parse(b'{"event_id": "1",', CTX)
    assert info.value.error == "malformed JSON"
