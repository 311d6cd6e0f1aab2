"""The shipped media type imported into a real Zabbix 6.0 server, which then sends a problem, an
acknowledgement by a second user and a recovery to a running gateway (issue #19: the export tag
`max_attempts` made the import fail, and only a real server could tell); and a problem closed by
hand with no recovery webhook, which reconciliation resolves through the API (issue #22)."""

from __future__ import annotations

import secrets
from typing import Iterator

import httpx
import pytest

from tests.conftest import ROOT, SOURCE_SECRET, VIEWER_SECRET
from tests.e2e.test_alertmanager_prometheus import wait_until as wait_for
from tests.e2e.zabbix_server import ZabbixApi, ZabbixServer, missing_parts

MEDIA_TYPE = ROOT / "config" / "zabbix" / "media_alertgate.yaml"
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
HOST, KEY = "db-01", "alertgate.e2e"
SENT, FAILED = "1", "2"

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(missing_parts() is not None,
                                                  reason=f"a real Zabbix needs: {missing_parts()}")]


@pytest.fixture(scope="module")
def zabbix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZabbixServer]:
    server = ZabbixServer(tmp_path_factory.mktemp("zabbix"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def wait_until(check, timeout: float, what: str, server: ZabbixServer | None = None):
    """As the Alertmanager tests wait, with the Zabbix server's log when it times out."""
    try:
        return wait_for(check, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{server.log_tail() if server else ''}") from None


def import_media_type(api: ZabbixApi, gateway: str) -> str:
    """What the README tells a Zabbix administrator to do: import, then fill in the two parameters."""
    api.call("configuration.import", {"format": "yaml", "source": MEDIA_TYPE.read_text(),
                                      "rules": {"mediaTypes": {"createMissing": True, "updateExisting": True}}})
    media = api.call("mediatype.get", {"output": "extend", "filter": {"name": "alertgate"}})[0]
    parameters = [{"name": p["name"], "value": {"alertgate_url": gateway, "alertgate_token": SOURCE_SECRET}
                   .get(p["name"], p["value"])} for p in media["parameters"]]
    api.call("mediatype.update", {"mediatypeid": media["mediatypeid"], "status": "0", "parameters": parameters})
    return media["mediatypeid"]


def monitored_host(api: ZabbixApi, media_id: str) -> dict[str, str]:
    """A host with a trapper item and a High trigger, an action that notifies Admin through the
    media type on problem, recovery and update, and a second user who acknowledges (Zabbix
    never notifies a user of their own update)."""
    for host in api.call("host.get", {"output": ["hostid"], "filter": {"host": "Zabbix server"}}):
        api.call("host.update", {"hostid": host["hostid"], "status": "1"})  # its agent is not running
    group = api.call("hostgroup.create", {"name": "alertgate e2e"})["groupids"][0]
    host = api.call("host.create", {"host": HOST, "name": "数据库 01", "groups": [{"groupid": group}],
                                    "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.1",
                                                    "dns": "", "port": "10050"}]})["hostids"][0]
    api.call("item.create", {"hostid": host, "name": "e2e value", "key_": KEY, "type": 2, "value_type": 3})
    trigger = api.call("trigger.create", {"description": "Free disk space is low on {HOST.NAME}",
                                          "expression": f"last(/{HOST}/{KEY})>0", "priority": 4,
                                          "comments": "Raised by the alertgate e2e test.", "manual_close": 1,
                                          })["triggerids"][0]
    admin = api.call("user.get", {"output": ["userid"], "filter": {"username": "Admin"}})[0]["userid"]
    api.call("user.update", {"userid": admin, "medias": [{"mediatypeid": media_id, "sendto": "alertgate",
                                                          "active": 0, "severity": 63,
                                                          "period": "1-7,00:00-24:00"}]})
    operation = {"operationtype": 0, "opmessage": {"default_msg": 1, "mediatypeid": media_id},
                 "opmessage_usr": [{"userid": admin}]}
    action = api.call("action.create", {
        "name": "alertgate", "eventsource": 0, "status": 0, "esc_period": "1h",
        "filter": {"evaltype": 0, "conditions": [{"conditiontype": 0, "operator": 0, "value": group}]},
        "operations": [operation], "recovery_operations": [operation],
        "update_operations": [operation]})["actionids"][0]
    password = secrets.token_urlsafe(18)
    role = api.call("role.get", {"output": ["roleid"], "filter": {"type": 3}, "limit": 1})[0]["roleid"]
    admins = api.call("usergroup.get", {"output": ["usrgrpid"], "filter": {"name": "Zabbix administrators"}})[0]
    api.call("user.create", {"username": "operator", "name": "Wang", "surname": "Fang", "passwd": password,
                             "roleid": role, "usrgrps": [{"usrgrpid": admins["usrgrpid"]}]})
    return {"trigger": trigger, "action": action, "operator_password": password}


def delivered(api: ZabbixApi, action: str, event: str, count: int) -> list[dict] | None:
    """alert.get's deliveries for the event once `count` of them are final (sent or failed)."""
    alerts = api.call("alert.get", {"output": "extend", "actionids": [action], "eventids": [event]})
    final = [a for a in alerts if a["status"] in (SENT, FAILED)]
    return final if len(final) >= count else None


def master(gateway: str) -> dict | None:
    found = httpx.get(f"{gateway}/api/v1/tickets?ci={HOST}", headers=VIEW).json()["tickets"]
    return httpx.get(f"{gateway}/api/v1/tickets/{found[0]['id']}", headers=VIEW).json()["ticket"] if found else None


@pytest.fixture(scope="module")
def monitored(zabbix: ZabbixServer) -> dict:
    """The media type, the host, its trigger and the action, once per server (each test then
    points the media type at its own gateway)."""
    api = ZabbixApi(zabbix.api_url).login("Admin", "zabbix")
    media_id = import_media_type(api, "http://127.0.0.1:9/unused")
    return {"api": api, "media": media_id, **monitored_host(api, media_id)}


def test_real_zabbix_problem_ack_and_recovery_reach_the_ticket(zabbix: ZabbixServer, monitored: dict, gateway: str):
    api, ids = monitored["api"], monitored
    import_media_type(api, gateway)
    zabbix.reload_cache()

    zabbix.send(HOST, KEY, "1")
    event = wait_until(lambda: api.call("event.get", {"output": ["eventid"], "objectids": [ids["trigger"]],
                                                      "value": 1}), 60, "the problem event", zabbix)[0]["eventid"]
    wait_until(lambda: delivered(api, ids["action"], event, 1), 90, "the problem's delivery", zabbix)
    ticket = wait_until(lambda: master(gateway), 10, "the ticket")
    assert ticket["kind"] == "master" and ticket["ci"] == HOST     # the technical name, not 数据库 01
    assert ticket["alert_source"] == "zabbix" and ticket["priority"] == 2   # High: impact 2 × urgency 2
    assert ticket["status"] in ("open", "assigned")                  # the worker may not have dispatched it

    operator = ZabbixApi(zabbix.api_url).login("operator", ids["operator_password"])
    operator.call("event.acknowledge", {"eventids": [event], "action": 6, "message": "checking the disk now"})
    wait_until(lambda: delivered(api, ids["action"], event, 2), 90, "the update's delivery", zabbix)
    notes = [entry.get("note") or "" for entry in master(gateway)["timeline"]]
    assert any("checking the disk now" in note for note in notes), notes

    zabbix.send(HOST, KEY, "0")
    wait_until(lambda: api.call("event.get", {"output": ["r_eventid"], "eventids": [event]})[0]["r_eventid"] != "0",
               60, "the recovery event", zabbix)
    recovery = api.call("event.get", {"output": ["r_eventid"], "eventids": [event]})[0]["r_eventid"]
    wait_until(lambda: delivered(api, ids["action"], recovery, 1) or
               (len(delivered(api, ids["action"], event, 3) or []) >= 3), 90, "the recovery's delivery", zabbix)
    resolved = master(gateway)
    assert resolved["status"] == "resolved" and resolved["resolution_code"] == "monitoring_recovered"
    assert resolved["outage_end"] is not None

    deliveries = api.call("alert.get", {"output": "extend", "actionids": [ids["action"]]})
    assert len(deliveries) == 3
    assert all(d["status"] == SENT for d in deliveries), [(d["status"], d["error"]) for d in deliveries]


def test_a_problem_closed_by_hand_without_a_recovery_webhook_is_reconciled(zabbix: ZabbixServer, monitored: dict,
                                                                           gateway: str, redis_url: str, tmp_path):
    """The operator closes the problem in Zabbix while the action is off, so no recovery webhook
    comes; the worker asks problem.get with an API token and resolves the ticket after two checks."""
    import time

    from alertgate.workers.reconcile_sweep import ReconcileSweep

    api, ids = monitored["api"], monitored
    import_media_type(api, gateway)
    api.call("action.update", {"actionid": ids["action"], "status": "0"})
    zabbix.reload_cache()
    zabbix.send(HOST, KEY, "1")
    event = wait_until(lambda: [e for e in api.call("event.get", {"output": ["eventid"], "objectids": [ids["trigger"]],
                                                                  "value": 1, "sortfield": "eventid", "sortorder": "DESC"})
                                if master_of_event(gateway, e["eventid"])], 90, "the new problem's ticket", zabbix)[0]["eventid"]
    ticket = master_of_event(gateway, event)
    assert ticket["status"] in ("open", "assigned")

    admin = api.call("user.get", {"output": ["userid"], "filter": {"username": "Admin"}})[0]["userid"]
    state = reconciling_as(zabbix, api, admin, f"alertgate-{event}", redis_url, tmp_path)

    def reconcile() -> str:  # a new worker each time: what one check learnt is in Redis
        time.sleep(1.0)
        return ReconcileSweep().run(state)

    assert reconcile() == "reconcile: 0 resolved of 1 checked"  # still a problem in Zabbix
    api.call("action.update", {"actionid": ids["action"], "status": "1"})  # no webhook for what follows
    zabbix.reload_cache()
    api.call("event.acknowledge", {"eventids": [event], "action": 1, "message": ""})  # closed by hand
    wait_until(lambda: not api.call("problem.get", {"eventids": [event], "output": ["eventid"]}), 60,
               "Zabbix to close the problem", zabbix)
    time.sleep(3)
    assert master_of_event(gateway, event)["status"] in ("open", "assigned")  # no webhook came
    assert reconcile() == "reconcile: 0 resolved of 1 checked"  # gone once
    assert reconcile() == "reconcile: 1 resolved of 1 checked"  # gone twice
    resolved = master_of_event(gateway, event)
    assert resolved["status"] == "resolved" and resolved["resolution_code"] == "monitoring_reconciled"
    assert "Zabbix zbx-e2e no longer has it" in resolved["timeline"][-1]["note"]


def reconciling_as(zabbix: ZabbixServer, api: ZabbixApi, user: str, name: str, redis_url: str, tmp_path):
    """A worker's context in this process that reconciles with this Zabbix through an API token
    of ``user`` (named ``name``); the state Redis client its sweeps take."""
    import redis

    from alertgate.runtime.connections import connect_state_sync
    from alertgate.settings import load_settings
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP
    from tests.e2e.test_reconcile_alertmanager import config_with

    token_id = api.call("token.create", {"name": name, "userid": user})["tokenids"][0]
    token = api.call("token.generate", [token_id])[0]["token"]
    config = config_with(tmp_path, {"interval": "1s", "timeout": "5s",
                                    "zabbix": [{"name": "zbx-e2e", "url": zabbix.api_url, "token": token}]})
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    return connect_state_sync(settings)


def fresh_problem(zabbix: ZabbixServer, api: ZabbixApi, ids: dict) -> str:
    """A new problem of the trigger whose webhook Zabbix sent: the action was just enabled again,
    and Zabbix's configuration reload is asynchronous, so a problem raised before it lands
    notifies no one; then the trigger recovers and fires again."""
    for _ in range(4):
        zabbix.send(HOST, KEY, "0")
        wait_until(lambda: not api.call("problem.get", {"objectids": [ids["trigger"]], "output": ["eventid"]}), 60,
                   "the trigger to be OK", zabbix)
        zabbix.send(HOST, KEY, "1")
        [problem] = wait_until(lambda: api.call("problem.get", {"objectids": [ids["trigger"]], "output": ["eventid"]}),
                               60, "a new problem", zabbix)
        try:
            wait_until(lambda: api.call("alert.get", {"output": ["alertid"], "eventids": [problem["eventid"]]}), 15,
                       "the webhook to be sent")
            return problem["eventid"]
        except AssertionError:
            continue
    raise AssertionError("no problem of the trigger was notified")


def test_a_problem_the_token_s_user_cannot_see_is_never_taken_for_closed(zabbix: ZabbixServer, monitored: dict,
                                                                          gateway: str, redis_url: str, tmp_path):
    """problem.get leaves out a problem on a host its user may not read, as it leaves out a closed
    one: with a token of a user without rights on the host's group, every check said "gone" and
    the open problem's ticket was resolved at the second. event.get confirms a closure (its
    recovery event); a problem it does not show either is unknown, and nothing is resolved."""
    import secrets
    import time

    from alertgate.workers.reconcile_sweep import ReconcileSweep

    api, ids = monitored["api"], monitored
    import_media_type(api, gateway)
    api.call("action.update", {"actionid": ids["action"], "status": "0"})
    zabbix.reload_cache()
    event = fresh_problem(zabbix, api, ids)
    wait_until(lambda: master_of_event(gateway, event), 90, "the new problem's ticket", zabbix)

    role = api.call("role.get", {"output": ["roleid"], "filter": {"type": 1}, "limit": 1})[0]["roleid"]
    group = api.call("usergroup.create", {"name": f"no rights {event}"})["usrgrpids"][0]
    blind = api.call("user.create", {"username": f"blind-{event}", "passwd": secrets.token_urlsafe(18), "roleid": role,
                                     "usrgrps": [{"usrgrpid": group}]})["userids"][0]
    state = reconciling_as(zabbix, api, blind, f"blind-{event}", redis_url, tmp_path)
    for _ in range(3):
        time.sleep(1.0)
        assert ReconcileSweep().run(state) == "reconcile: 0 resolved of 1 checked"
    assert master_of_event(gateway, event)["status"] in ("open", "assigned")


def master_of_event(gateway: str, event: str) -> dict | None:
    found = httpx.get(f"{gateway}/api/v1/tickets?ci={HOST}&limit=100", headers=VIEW).json()["tickets"]
    for ticket in found:
        detail = httpx.get(f"{gateway}/api/v1/tickets/{ticket['id']}", headers=VIEW).json()["ticket"]
        if detail.get("occurrence_id") == f"zabbix:{event}" and detail["kind"] == "master":
            return detail
    return None



def test_a_maintenance_window_is_pushed_to_zabbix_and_removed_when_it_ends(zabbix: ZabbixServer, monitored: dict,
                                                                           gateway: str, redis_url: str, tmp_path):
    """SPEC §10 push (issue #23): a window on ci db-01 becomes a Zabbix maintenance of that host,
    visible through maintenance.get; ended early, it is deleted there."""
    from datetime import datetime, timedelta, timezone

    import redis

    from alertgate.settings import load_settings
    from alertgate.workers.maintenance_push import MaintenancePush
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP, DESK_SECRET
    from tests.e2e.test_reconcile_alertmanager import config_with

    api = monitored["api"]
    admin = api.call("user.get", {"output": ["userid"], "filter": {"username": "Admin"}})[0]["userid"]
    token_id = api.call("token.create", {"name": "alertgate-push", "userid": admin})["tokenids"][0]
    token = api.call("token.generate", [token_id])[0]["token"]
    config = config_with(tmp_path, {"zabbix": [{"name": "zbx-e2e", "url": zabbix.api_url, "token": token}]},
                         maintenance={"push_zabbix": True})
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    desk = {"Authorization": f"Bearer {DESK_SECRET}"}
    now = datetime.now(timezone.utc)
    window = httpx.post(f"{gateway}/api/v1/maintenance", headers=desk, json={
        "title": "db-01 disk swap", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat(),
        "change_id": "CHG-9", "matchers": [{"field": "ci", "op": "in", "value": [HOST]}]}).json()["window"]
    assert MaintenancePush().run() == "maintenance push: 1 changed"
    state = httpx.get(f"{gateway}/api/v1/maintenance/{window['id']}", headers=VIEW).json()["window"]["pushes"]["zabbix:zbx-e2e"]
    assert state["status"] == "pushed", state
    [found] = api.call("maintenance.get", {"output": "extend", "selectHosts": ["host"], "maintenanceids": [state["remote_id"]]})
    assert [h["host"] for h in found["hosts"]] == [HOST] and "CHG-9" in found["description"]
    assert int(found["active_till"]) - int(found["active_since"]) >= 2 * 3600 - 60

    httpx.delete(f"{gateway}/api/v1/maintenance/{window['id']}", headers=desk)
    assert MaintenancePush().run() == "maintenance push: 1 changed"
    assert api.call("maintenance.get", {"output": ["maintenanceid"], "maintenanceids": [state["remote_id"]]}) == []


def test_accepting_a_ticket_acknowledges_its_zabbix_event_and_the_echo_does_not_loop(zabbix: ZabbixServer,
                                                                                    monitored: dict, gateway: str,
                                                                                    redis_url: str, tmp_path):
    """SPEC §10 sync (issue #23): the accept writes "INC-… accepted by … (via alertgate)" on the
    event and acknowledges it; Zabbix's update webhook for that comes back, is answered repeat and
    writes nothing on the ticket; a second sync of the same accept sends nothing."""
    import time

    import redis

    from alertgate.settings import load_settings
    from alertgate.workers import jobs
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP, DESK_SECRET, ENGINEER_SECRET
    from tests.e2e.test_reconcile_alertmanager import config_with

    api, ids = monitored["api"], monitored
    import_media_type(api, gateway)
    api.call("action.update", {"actionid": ids["action"], "status": "0"})
    zabbix.reload_cache()
    zabbix.send(HOST, KEY, "0")
    time.sleep(2)
    zabbix.send(HOST, KEY, "1")
    event = wait_until(lambda: [e for e in api.call("event.get", {"output": ["eventid"], "objectids": [ids["trigger"]],
                                                                  "value": 1, "sortfield": "eventid", "sortorder": "DESC"})
                                if master_of_event(gateway, e["eventid"])], 90, "the problem's ticket", zabbix)[0]["eventid"]
    ticket = master_of_event(gateway, event)
    desk, engineer = ({"Authorization": f"Bearer {secret}"} for secret in (DESK_SECRET, ENGINEER_SECRET))
    if ticket["status"] == "open":
        assert httpx.post(f"{gateway}/api/v1/tickets/{ticket['id']}/actions/assign", headers=desk,
                          json={"group": "database"}).status_code == 200
    assert httpx.post(f"{gateway}/api/v1/tickets/{ticket['id']}/actions/accept", headers=engineer,
                      json={}).status_code == 200

    # alertgate's API user must not be the one notified: Zabbix tells nobody of their own updates
    operator = api.call("user.get", {"output": ["userid"], "filter": {"username": "operator"}})[0]["userid"]
    token_id = api.call("token.create", {"name": "alertgate-sync", "userid": operator})["tokenids"][0]
    token = api.call("token.generate", [token_id])[0]["token"]
    config = config_with(tmp_path, {"zabbix": [{"name": "zbx-e2e", "url": zabbix.api_url, "token": token}]},
                         sync={"zabbix_acknowledge": True})
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    assert jobs.sync_source(ticket["id"], "accept") == "zabbix zbx-e2e"   # what the worker runs after the accept
    assert jobs.sync_source(ticket["id"], "accept") == "nothing to tell"  # its retry sends nothing twice

    [problem] = api.call("problem.get", {"eventids": [event], "output": "extend", "selectAcknowledges": "extend"})
    assert problem["acknowledged"] == "1"
    assert any(f"{ticket['id']} accepted by bootstrap-engineer (via alertgate)" in a["message"]
               for a in problem["acknowledges"])
    wait_until(lambda: delivered(api, ids["action"], event, 2), 90, "the update webhook of our acknowledgement", zabbix)
    time.sleep(5)  # no loop: nothing more is delivered
    assert len(api.call("alert.get", {"output": ["alertid"], "actionids": [ids["action"]], "eventids": [event]})) == 2
    notes = [entry.get("note") or "" for entry in master_of_event(gateway, event)["timeline"]]
    assert not any("via alertgate" in note for note in notes), notes

TEMPLATE = ROOT / "config" / "zabbix" / "template_alertgate_heartbeat.yaml"


def test_the_shipped_heartbeat_template_pings_and_a_silent_zabbix_opens_a_ticket(zabbix: ZabbixServer, monitored: dict,
                                                                                 gateway: str, redis_url: str):
    """SPEC §9 for Zabbix (issue #22): the shipped template's script item pings the heartbeat
    zabbix:<host> from the Zabbix server itself; the server stopped, the heartbeat expires and a
    ticket opens through the pipeline. (Last in this module: it stops the server.)"""
    import redis

    from alertgate.settings import load_settings
    from alertgate.workers.heartbeat_sweep import HeartbeatSweep
    from alertgate.workers.worker import create_worker
    from tests.conftest import BOOTSTRAP

    api = monitored["api"]
    api.call("configuration.import", {"format": "yaml", "source": TEMPLATE.read_text(), "rules": {
        "groups": {"createMissing": True}, "templates": {"createMissing": True, "updateExisting": True},
        "items": {"createMissing": True, "updateExisting": True},
        "triggers": {"createMissing": True, "updateExisting": True}}})
    template = api.call("template.get", {"output": ["templateid"], "filter": {"host": "alertgate heartbeat"}})[0]
    host = api.call("host.get", {"output": ["hostid", "groups"], "selectGroups": ["groupid"],
                                 "filter": {"host": HOST}})[0]
    # (and a host named as Zabbix names its own, "Zabbix server": a space, which no heartbeat name
    # and no URL may hold; the template used to fail there with curl's "URL using bad/illegal format")
    spaced = api.call("host.create", {"host": "e2e zabbix server", "groups": host["groups"]})["hostids"][0]
    for hostid in (host["hostid"], spaced):
        api.call("host.update", {"hostid": hostid, "templates": [{"templateid": template["templateid"]}], "macros": [
            {"macro": "{$ALERTGATE.URL}", "value": gateway}, {"macro": "{$ALERTGATE.TOKEN}", "value": SOURCE_SECRET},
            {"macro": "{$ALERTGATE.HEARTBEAT.INTERVAL}", "value": "2s"},
            {"macro": "{$ALERTGATE.HEARTBEAT.TIMEOUT}", "value": "8s"}]})
    zabbix.reload_cache()
    name = f"zabbix:{HOST}"

    def heartbeat() -> dict | None:
        answer = httpx.get(f"{gateway}/api/v1/heartbeats/{name}", headers=VIEW)
        return answer.json() if answer.status_code == 200 else None

    seen = wait_until(heartbeat, 90, "the template's first ping", zabbix)
    assert (seen["ci"], seen["timeout"], seen["status"]) == (HOST, 8.0, "ok")
    wait_until(lambda: heartbeat()["last_seen"] != seen["last_seen"], 30, "the next ping", zabbix)
    own = httpx.get(f"{gateway}/api/v1/heartbeats/zabbix:e2e_zabbix_server", headers=VIEW)
    assert own.status_code == 200 and own.json()["ci"] == "e2e zabbix server", own.text

    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    sweep = HeartbeatSweep()
    zabbix.stop_server()

    def expired_ticket() -> list[dict]:
        sweep.run()
        found = httpx.get(f"{gateway}/api/v1/tickets?alert_source=heartbeat", headers=VIEW).json()["tickets"]
        return [t for t in found if t["symptom"] == f"heartbeat_missing:{name}"]

    [ticket] = wait_until(expired_ticket, 60, "the silent Zabbix server's ticket")
    assert ticket["ci"] == HOST and ticket["status"] == "open"
    assert heartbeat()["status"] == "expired"
