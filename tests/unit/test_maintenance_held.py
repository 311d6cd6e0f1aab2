"""A held alert (SPEC §10) comes back from its packed form as it went in, with the release's
moment as ``received_at`` (a held occurrence: its key's copy with its own fields), and an
unreadable one is a ValueError; the windows in force hold
what they match, a window of all alerts every firing alert."""

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from alertgate.maintenance import held
from alertgate.maintenance.active import ActiveWindows
from alertgate.maintenance.model import Matcher, Window
from alertgate.rules.policy import Policy
from alertgate.tickets.alert import Alert, AlertStatus

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def alert(**changes) -> Alert:
    base = Alert(source="alertmanager", occurrence_id="am:1", ci="db1", symptom="DiskFull",
                 status=AlertStatus.FIRING, severity="critical", title="磁盘满 <b>", description="x",
                 labels={"alertname": "DiskFull", "instance": "db1:9100"}, observed_at=NOW - timedelta(minutes=3),
                 received_at=NOW - timedelta(minutes=2), links={"generator": "http://p"},
                 delivery_id="am:1:firing", receiver="ops")
    return msgspec.structs.replace(base, **changes)


def test_a_held_alert_round_trips_with_the_release_moment():
    later = NOW + timedelta(hours=2)
    assert held.unpack(held.pack(alert()), later) == alert(received_at=later)


@pytest.mark.parametrize("raw", [b"", b"\x91\x01", b"\xc1", b"\x81\xa2id\x01"])
def test_an_unreadable_record_is_a_value_error(raw):
    with pytest.raises(ValueError):
        held.unpack(raw, NOW)


def test_a_held_occurrence_is_its_keys_copy_with_its_own_id_delivery_and_outage_start():
    later, observed = NOW + timedelta(hours=2), NOW - timedelta(minutes=1)
    ref = msgspec.msgpack.encode(["db1DiskFull", "am:2", "am:2:firing", repr(observed.timestamp())])
    assert held.tag_of(ref) == "db1DiskFull"
    assert held.unpack_ref(held.pack(alert()), ref, later) == alert(
        occurrence_id="am:2", delivery_id="am:2:firing", observed_at=observed, received_at=later)


@pytest.mark.parametrize("ref", [b"", b"\x93\xa1a\xa1b\xa1c", msgspec.msgpack.encode(["t", "o", "d", "nan"]),
                                 msgspec.msgpack.encode(["t", "o", "d", "1e300"]), msgspec.msgpack.encode(["t", "o", "d", 1])])
def test_an_unreadable_reference_is_a_value_error(ref):
    with pytest.raises(ValueError):
        held.unpack_ref(held.pack(alert()), ref, NOW)


def window(id_: str, **changes) -> Window:
    return Window(id=id_, title="t", starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1),
                  created_by="desk", created_at=NOW, **changes)


def test_windows_in_force_hold_the_firing_alerts_they_match():
    windows = ActiveWindows()
    windows.load([window("MW-1", matchers=[Matcher(field="ci", op="eq", value="db2")]),
                  window("MW-2", matchers=[Matcher(field="label.instance", op="re", value="db1:.*")])])
    alerts = [alert(), alert(ci="db2"), alert(ci="web1", labels={}), alert(status=AlertStatus.RESOLVED)]
    assert windows.holding(alerts, [Policy()] * 4, NOW) == ["MW-2", "MW-1", None, None]
    assert windows.holding(alerts, [Policy()] * 4, NOW + timedelta(hours=2)) is None


def test_the_first_window_in_force_holds_whether_it_names_its_cis_or_not():
    """Windows naming CIs (ci eq / in) are looked up by the alert's CI, the others tried on every
    alert; the first of them all in their order still wins, and every matcher must hold."""
    ci_in = Matcher(field="ci", op="in", value=["db1", "db2"])
    windows = ActiveWindows()
    windows.load([window("MW-1", matchers=[Matcher(field="ci", op="eq", value="db2")]),
                  window("MW-2", matchers=[Matcher(field="symptom", op="eq", value="DiskFull")]),
                  window("MW-3", matchers=[ci_in]),
                  window("MW-4", matchers=[ci_in, Matcher(field="symptom", op="eq", value="Down")]),
                  window("MW-5", matchers=[Matcher(field="ci", op="re", value="web.*")])])
    alerts = [alert(ci="db2"), alert(), alert(symptom="Down"), alert(ci="db2", symptom="Down"),
              alert(ci="web1", symptom="Down"), alert(ci="db3", symptom="Down")]
    assert windows.holding(alerts, [Policy()] * 6, NOW) == ["MW-1", "MW-2", "MW-3", "MW-1", "MW-5", None]


def test_a_thousand_per_host_windows_are_found_by_the_alerts_ci():
    windows = ActiveWindows()
    windows.load([window(f"MW-{n}", matchers=[Matcher(field="ci", op="eq", value=f"host-{n}")]) for n in range(1000)])
    alerts = [alert(ci="host-999"), alert(ci="host-0"), alert(ci="host-1000")]
    assert windows.holding(alerts, [Policy()] * 3, NOW) == ["MW-999", "MW-0", None]
    assert windows._general == []   # (no window is tried on every alert)


def test_a_window_of_all_alerts_holds_every_firing_one_and_no_update():
    windows = ActiveWindows()
    windows.load([window("MW-3", all=True)])
    alerts = [alert(), alert(ci="x"), alert(update=True), alert(status=AlertStatus.RESOLVED)]
    assert windows.holding(alerts, [Policy()] * 4, NOW) == ["MW-3", "MW-3", None, None]
