"""The CI catalogue at intake (SPEC §11) on a real Redis: one machine named three ways by three
senders is one CI and one master; the ticket keeps what the sender said and carries the CI's
service; what the catalogue misses is counted; the API pushes, shows and removes CIs with the
roles SPEC §11 names, and refuses what would break the catalogue; a bad file keeps the last
good catalogue and names file and line."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ADMIN_SECRET, MANAGER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for, zabbix_event
from tests.integration.test_ticket_api import DESK, VIEW

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
MANAGER = {"Authorization": f"Bearer {MANAGER_SECRET}"}
def test_one_machine_named_three_ways_by_three_senders_is_one_ci_and_one_master(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        first = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                            json=am_body(am_alert("DiskFull", "db1.prod.example"))).json()["results"][0]
        zabbix = client.post("/api/v1/alerts/zabbix", headers=SOURCE,
                             json=zabbix_event(host="DB1", event_name="Disk full on /data")).json()["results"][0]
        finding = client.post("/api/v1/findings", headers=SOURCE, json={
            "ci": "database server 1", "title": "disk nearly full", "check": "DiskFull", "finding_id": "round-7"})
        assert first["outcome"] == "new"
        assert zabbix["outcome"] == "duplicate" and zabbix["master_id"] == first["ticket_id"]
        assert finding.json()["results"][0]["master_id"] == first["ticket_id"]
        ticket = client.get(f"/api/v1/tickets/{first['ticket_id']}", headers=VIEW).json()["ticket"]
        assert (ticket["ci"], ticket["ci_raw"], ticket["affected_service"]) == ("db1", "db1.prod.example", "erp")
        assert ticket["impact"] == 1   # the CI's criticality, no rule setting impact


def test_an_unknown_ci_passes_unchanged_and_is_counted(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        for starts in ("2026-12-05T01:00:00Z", "2026-12-05T01:05:00Z"):
            client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                        json=am_body(am_alert("DiskFull", "mystery-9", starts=starts)))
        client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("DiskFull", "srv-010")))
        [ticket] = client.get("/api/v1/tickets?ci=mystery-9&kind=master", headers=VIEW).json()["tickets"]
        assert ticket["ci"] == "mystery-9" and ticket.get("ci_raw") is None
        assert client.get("/api/v1/unknown-cis", headers=VIEW).json() == {"unknown": [{"ci": "mystery-9", "alerts": 2}]}
        metrics = client.get("/metrics", headers=VIEW).text
        assert 'alertgate_ci_unknown_total{source="alertmanager"} 2.0' in metrics
        assert client.delete("/api/v1/unknown-cis", headers=VIEW).status_code == 403
        assert client.delete("/api/v1/unknown-cis", headers=MANAGER).json() == {"unknown": []}


def test_the_unknown_count_keeps_the_most_seen_raw_cis_however_many_senders_invent(redis_url, monkeypatch):
    """A sender that names a new CI in every alert (a pod, an IP and port): the count kept in
    Redis stays at UNKNOWN_KEPT raw CIs, the most alerts first; the metric counts every alert."""
    import asyncio

    from redis.asyncio import Redis

    from alertgate.correlation import store as catalogue_store
    from alertgate.correlation.store import CatalogueStore

    monkeypatch.setattr(catalogue_store, "UNKNOWN_KEPT", 50)

    async def flushes():
        client = Redis.from_url(redis_url)
        try:
            store = CatalogueStore(client)
            await store.count_unknown({"db-often": 40, "web-often": 30})
            for flush in range(10):
                await store.count_unknown({f"pod-{flush}-{n}": 1 for n in range(30)})
            return await store.unknown(1000), await client.zcard(catalogue_store.CATALOGUE_UNKNOWN)
        finally:
            await client.aclose()
    kept, size = asyncio.run(flushes())
    assert size == 50 and kept[:2] == [("db-often", 40), ("web-often", 30)]


def test_with_no_catalogue_nothing_is_counted_as_unknown(redis_url):
    with client_for(redis_url) as client:
        client.post("/api/v1/alerts/alertmanager", headers=SOURCE, json=am_body(am_alert("DiskFull", "db1")))
        assert client.get("/api/v1/unknown-cis", headers=VIEW).json() == {"unknown": []}
        assert client.get("/api/v1/cis", headers=VIEW).json() == {"count": 0, "problems": [], "cis": [],
                                                                    "next_cursor": None}


def test_the_api_pushes_shows_and_removes_cis_and_refuses_what_would_break_the_catalogue(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        listed = client.get("/api/v1/cis", headers=VIEW).json()
        assert listed["count"] == 343 and listed["problems"] == []
        shown = client.get("/api/v1/cis/srv-001", headers=VIEW).json()
        assert shown["ancestors"] == ["acc-sw01", "core-sw1"] and shown["origin"].endswith("servers.csv:2")

        new = {"aliases": ["batch7.prod.example"], "service": "billing", "owner_group": "erp", "criticality": 2,
               "parents": ["acc-sw03"]}
        assert client.put("/api/v1/cis/batch7", headers=DESK, json=new).status_code == 403
        created = client.put("/api/v1/cis/batch7", headers=MANAGER, json=new)
        assert created.status_code == 201 and created.json()["origin"] == "api"
        assert client.put("/api/v1/cis/batch7", headers=ADMIN, json={**new, "criticality": 3}).status_code == 200
        result = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                             json=am_body(am_alert("LoadHigh", "BATCH7.prod.example"))).json()["results"][0]
        ticket = client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]
        assert (ticket["ci"], ticket["affected_service"], ticket["impact"]) == ("batch7", "billing", 3)

        refusals = [
            (client.put("/api/v1/cis/srv-002", headers=ADMIN, json={}), 409, "servers.csv"),
            (client.put("/api/v1/cis/x1", headers=ADMIN, json={"aliases": ["DB1"]}), 400, "already names CI 'db1'"),
            (client.put("/api/v1/cis/x2", headers=ADMIN, json={"parents": ["nowhere"]}), 400, "not in the catalogue"),
            (client.put("/api/v1/cis/x3", headers=ADMIN, json={"name": "x4"}), 400, "the path names"),
            (client.put("/api/v1/cis/x5", headers=ADMIN, json={"criticality": 0}), 400, ">= 1"),
            (client.put("/api/v1/cis/x6", headers=ADMIN, json={"colour": "red"}), 400, "unknown field"),
            (client.delete("/api/v1/cis/core-sw1", headers=ADMIN), 409, "network.yaml"),
            (client.delete("/api/v1/cis/nothing", headers=ADMIN), 404, "no CI"),
        ]
        for response, status, words in refusals:
            assert response.status_code == status, response.text
            assert words in response.text, response.text
        client.put("/api/v1/cis/batch7-app", headers=ADMIN, json={"parents": ["batch7"]})
        assert client.delete("/api/v1/cis/batch7", headers=ADMIN).status_code == 409   # a parent of batch7-app
        assert client.delete("/api/v1/cis/batch7-app", headers=ADMIN).json() == {"removed": "batch7-app"}
        assert client.delete("/api/v1/cis/batch7", headers=ADMIN).status_code == 200
        assert client.get("/api/v1/cis/batch7", headers=VIEW).status_code == 404


def test_the_list_pages_by_name_and_filters_by_origin(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        client.put("/api/v1/cis/zz-pushed", headers=ADMIN, json={"service": "crm"})
        first = client.get("/api/v1/cis", headers=VIEW).json()
        assert (first["count"], len(first["cis"]), first["next_cursor"]) == (344, 344, None)
        names, cursor = [], None
        while True:
            page = client.get("/api/v1/cis", headers=VIEW,
                              params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
            assert page["count"] == 344
            names += [listed["ci"]["name"] for listed in page["cis"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert names == sorted(listed["ci"]["name"] for listed in first["cis"]) and len(set(names)) == 344
        assert client.get("/api/v1/cis?origin=api", headers=VIEW).json()["cis"] == [
            {"ci": {"name": "zz-pushed", "service": "crm"}, "origin": "api"}]
        for query, where in (("limit=0", "limit"), ("limit=1001", "limit"), ("origin=cmdb", "origin")):
            answer = client.get(f"/api/v1/cis?{query}", headers=VIEW)
            assert answer.status_code == 400 and answer.json()["detail"][0]["path"] == where, answer.text


def test_a_ci_pushed_to_one_process_is_known_to_another(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as one, \
            client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as other:
        one.put("/api/v1/cis/late1", headers=ADMIN, json={"aliases": ["late1.example"], "service": "crm"})
        deadline = time.monotonic() + 5
        while other.get("/api/v1/cis/late1", headers=VIEW).status_code != 200:
            assert time.monotonic() < deadline, "the other process never saw the pushed CI"
            time.sleep(0.1)


def test_a_bad_catalogue_file_keeps_the_last_good_catalogue_and_names_file_and_line(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        (catalogue_config / "cmdb" / "zz-broken.yaml").write_text("- name: ok1\n- name: bad1\n  parents: [nowhere]\n")
        deadline = time.monotonic() + 5
        while not (listed := client.get("/api/v1/cis", headers=VIEW).json())["problems"]:
            assert time.monotonic() < deadline, "the broken file was never read"
            time.sleep(0.1)
        assert listed["count"] == 343   # the last good catalogue runs
        [problem] = listed["problems"]
        assert "zz-broken.yaml:2" in problem and "'nowhere'" in problem
        result = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                             json=am_body(am_alert("DiskFull", "srv-005.prod.example"))).json()["results"][0]
        assert client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]["ci"] == "srv-005"


@pytest.mark.parametrize("path,body,where", [
    ("/api/v1/cis/" + "x" * 300, {}, "name"),
    ("/api/v1/cis/many", {"aliases": [f"a{n}" for n in range(1001)]}, "$.aliases"),
    ("/api/v1/cis/long", {"service": "s" * 2000}, "$.service"),
    ("/api/v1/cis/blank", {"aliases": [""]}, "$.aliases[0]"),
    ("/api/v1/cis/blank", {"aliases": ["  "]}, "$.aliases[0]"),
    ("/api/v1/cis/%20%20", {}, "name"),
    ("/api/v1/cis/deep", {"parents": [[["x"]]]}, "$.parents[0]"),
    ("/api/v1/cis/crit", {"criticality": "1"}, "$.criticality"),
])
def test_a_ci_that_cannot_be_taken_is_a_400_naming_where(redis_url, path, body, where):
    with client_for(redis_url) as client:
        answer = client.put(path, headers=ADMIN, json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"][0]["path"] == where
        assert client.get("/api/v1/cis", headers=VIEW).json()["count"] == 0


def test_unicode_names_are_cis_like_any_other(redis_url):
    with client_for(redis_url) as client:
        pushed = client.put("/api/v1/cis/数据库-1", headers=ADMIN, json={"aliases": ["Straße-01"], "service": "财务"})
        assert pushed.status_code == 201, pushed.text
        result = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                             json=am_body(am_alert("DiskFull", "STRASSE-01"))).json()["results"][0]
        shown = client.get(f"/api/v1/tickets/{result['ticket_id']}", headers=VIEW).json()["ticket"]
        assert (shown["ci"], shown["affected_service"]) == ("数据库-1", "财务")
