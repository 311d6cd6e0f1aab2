"""Storm grouping (SPEC §11) on a real Redis with a real RQ worker, over the fixture catalogue: N
new masters of one symptom on CIs of one service within M minutes open one major incident as
they are dispatched (one priority step up, the members linked, itself dispatched); later
masters of the storm join it; other services and symptoms count apart; a route rule sets its
own N and M; a dispatch run again counts nothing twice."""

from __future__ import annotations

import pytest
import redis

from alertgate.settings import load_settings
from alertgate.workers.worker import work_burst
from tests.conftest import BOOTSTRAP
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_ticket_api import VIEW

pytestmark = pytest.mark.integration
ERP = [f"srv-{n:03d}" for n in range(5, 75, 5)]     # 14 servers of the erp service
MAIL = ["srv-001", "srv-006", "srv-011"]
AM = "/api/v1/alerts/alertmanager"


def post(client, name: str, host: str) -> dict:
    answer = client.post(AM, headers=SOURCE, json=am_body(am_alert(name, host, starts="2026-12-05T03:00:00Z")))
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def majors(client) -> list[dict]:
    return client.get("/api/v1/tickets?kind=major", headers=VIEW).json()["tickets"]


def dispatch(redis_url: str, config) -> None:
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    work_burst(settings, redis.Redis.from_url(redis_url))


def test_ten_masters_of_one_symptom_on_one_service_open_one_major_incident(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        for host in MAIL:
            post(client, "HostDown", host)                        # another service: counted apart
        first = [post(client, "HostDown", host) for host in ERP[:9]]
        post(client, "DiskFull", ERP[0])                           # another symptom: counted apart
        dispatch(redis_url, catalogue_config)
        assert majors(client) == []
        tenth = post(client, "HostDown", ERP[9])
        dispatch(redis_url, catalogue_config)
        [major] = majors(client)
        members = [r["ticket_id"] for r in [*first, tenth]]
        shown = client.get(f"/api/v1/tickets/{major['id']}", headers=VIEW).json()
        assert sorted(shown["members"]) == sorted(members)
        assert shown["ticket"]["status"] == "assigned"             # dispatched like any master
        member = client.get(f"/api/v1/tickets/{first[0]['ticket_id']}", headers=VIEW).json()["ticket"]
        assert major["priority"] == max(1, member["priority"] - 1) and major["affected_service"] == "erp"
        assert member["major_id"] == major["id"] and major["title"].startswith("Major incident: HostDown on 10 CIs")
        later = post(client, "HostDown", ERP[10])                  # the storm goes on: it joins
        dispatch(redis_url, catalogue_config)
        assert client.get(f"/api/v1/tickets/{later['ticket_id']}", headers=VIEW).json()["ticket"]["major_id"] == major["id"]
        assert len(majors(client)) == 1


def test_a_route_rule_sets_its_own_storm_size(redis_url, catalogue_config):
    (catalogue_config / "rules" / "00-storms.yaml").write_text("""
route:
  - name: hosts-down-storm
    when: {field: symptom, equals: HostDown}
    set: {assignment_group: unix, storm_masters: 3, storm_window: 2m}
""")
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        for host in ERP[:2]:
            post(client, "HostDown", host)
        dispatch(redis_url, catalogue_config)
        assert majors(client) == []
        post(client, "HostDown", ERP[2])
        dispatch(redis_url, catalogue_config)
        [major] = majors(client)
        assert major["route_group"] == "unix"
