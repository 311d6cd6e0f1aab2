"""Topology correlation (SPEC §11) on a real Redis, over the fixture catalogue (core switches →
access switches → servers → applications): a storm in which the core switch's alarm comes first,
late, or not at all; a correlated ticket is not dispatched, and becomes a master (dispatched, its
SLA from then) when its parent's master is resolved while it still fires; the snapshot of
parents' masters reaches another process; a parent resolved before its child arrived is repaired
by the sweep."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import redis

from alertgate.settings import load_settings
from alertgate.workers.correlation_sweep import CorrelationSweep
from alertgate.workers.worker import create_worker
from tests.conftest import BOOTSTRAP
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_ticket_api import VIEW, act

pytestmark = pytest.mark.integration
AM = "/api/v1/alerts/alertmanager"
SERVERS = ["srv-001", "srv-002", "srv-003", "srv-004", "srv-005"]   # behind acc-sw01, behind core-sw1


def post(client, name: str, host: str, starts: str = "2026-12-05T03:00:00Z", status: str = "firing") -> dict:
    answer = client.post(AM, headers=SOURCE, json=am_body(am_alert(name, host, starts=starts, status=status)))
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def sweep(redis_url: str, config) -> str:
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    return CorrelationSweep().run()


def dispatch_jobs(redis_url: str) -> set[str]:
    """The work queued for the workers: RQ's dispatch jobs, and the intents of ingest."""
    from alertgate.keys import intents_keys

    state = redis.Redis.from_url(redis_url)
    queued = {job.decode() for job in state.lrange("rq:queue:alertgate-dispatch", 0, -1)}
    for stream in intents_keys():
        queued |= {f"{fields[b'work'].decode()}-{fields[b'ticket'].decode()}" for _, fields in state.xrange(stream)}
    return queued


def ticket(client, ticket_id: str) -> dict:
    return client.get(f"/api/v1/tickets/{ticket_id}", headers=VIEW).json()


def test_the_core_switch_first_its_children_are_correlated_then_promoted_when_it_is_resolved(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        core = post(client, "SwitchDown", "core-sw1")
        assert core["outcome"] == "new"
        switch = post(client, "SwitchDown", "acc-sw01")
        children = [post(client, "HostDown", host) for host in SERVERS]
        for child in [switch, *children]:
            assert (child["outcome"], child["master_id"]) == ("correlated", core["ticket_id"]), child
        shown = ticket(client, children[0]["ticket_id"])["ticket"]
        assert (shown["kind"], shown["caused_by"], shown["ci"]) == ("correlated", core["ticket_id"], "srv-001")
        assert sorted(ticket(client, core["ticket_id"])["correlated"]) == sorted(
            c["ticket_id"] for c in [switch, *children])
        jobs = dispatch_jobs(redis_url)
        assert any(core["ticket_id"] in job for job in jobs)
        assert not any(c["ticket_id"] in job for job in jobs for c in [switch, *children])   # not dispatched

        # a child's duplicates and recoveries work as for any ticket
        again = post(client, "HostDown", "srv-001", starts="2026-12-05T03:02:00Z")
        assert (again["outcome"], again["master_id"]) == ("duplicate", children[0]["ticket_id"])
        recovered = post(client, "HostDown", "srv-002", status="resolved")
        assert recovered["outcome"] == "resolved"
        assert ticket(client, children[1]["ticket_id"])["ticket"]["status"] == "resolved"
        assert not any(children[1]["ticket_id"] in job for job in dispatch_jobs(redis_url))   # no restoration

        assert sweep(redis_url, catalogue_config) == "correlation: 0 promoted, 1 no longer correlated"  # parent unresolved
        before = datetime.now(timezone.utc)
        assert act(client, core["ticket_id"], "resolve", resolution_code="resolved_by_workaround").status_code == 200
        assert sweep(redis_url, catalogue_config) == "correlation: 5 promoted, 0 no longer correlated"
        promoted = ticket(client, children[0]["ticket_id"])["ticket"]
        assert promoted["kind"] == "master" and promoted["caused_by"] == core["ticket_id"]
        assignment = datetime.fromisoformat(promoted["sla"][0]["due_at"].replace("Z", "+00:00"))
        assert (assignment - before).total_seconds() > 60   # its SLA runs from the promotion
        assert any(e["action"] == "promote" for e in ticket(client, children[0]["ticket_id"])["ticket"]["timeline"])
        jobs = dispatch_jobs(redis_url)
        assert all(any(f"{c['ticket_id']}-promoted" in job for job in jobs)
                   for c in [switch, children[0], *children[2:]])
        assert ticket(client, children[1]["ticket_id"])["ticket"]["kind"] == "correlated"   # it had recovered
        assert sweep(redis_url, catalogue_config) == "correlation: 0 promoted, 5 no longer correlated"


def test_the_core_switch_late_or_never_leaves_every_server_its_own_master(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        first = [post(client, "HostDown", host) for host in SERVERS]
        core = post(client, "SwitchDown", "core-sw1")   # late: the servers opened first
        assert [r["outcome"] for r in first] == ["new"] * 5 and core["outcome"] == "new"
        others = [post(client, "HostDown", host) for host in ("srv-200", "srv-201")]   # never: behind core-sw2
        assert [r["outcome"] for r in others] == ["new"] * 2
        unknown = post(client, "HostDown", "not-in-the-catalogue")
        assert unknown["outcome"] == "new"


def test_a_parent_master_opened_in_another_process_correlates_within_a_second(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as one, \
            client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as other:
        core = post(one, "SwitchDown", "core-sw2")
        deadline = time.monotonic() + 5
        host = iter(f"srv-{n:03d}" for n in range(151, 300))
        while (child := post(other, "HostDown", next(host)))["outcome"] != "correlated":
            assert time.monotonic() < deadline, "the other process never saw the parent's master"
            time.sleep(0.2)
        assert child["master_id"] == core["ticket_id"]


def test_a_child_correlated_to_a_parent_already_resolved_is_promoted_by_the_next_sweep(redis_url, catalogue_config):
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        core = post(client, "SwitchDown", "core-sw1")
        act(client, core["ticket_id"], "resolve", resolution_code="resolved_by_workaround")
        child = post(client, "HostDown", "srv-009")   # the snapshot still lists the parent's master
        assert child["outcome"] == "correlated"
        assert sweep(redis_url, catalogue_config) == "correlation: 1 promoted, 0 no longer correlated"
        assert ticket(client, child["ticket_id"])["ticket"]["kind"] == "master"


def test_without_parents_in_the_catalogue_nothing_is_correlated(redis_url):
    with client_for(redis_url) as client:
        post(client, "SwitchDown", "core-sw1")
        assert post(client, "HostDown", "srv-001")["outcome"] == "new"


def test_the_console_shows_a_masters_correlated_tickets_and_a_childs_cause(redis_url, catalogue_config):
    from tests.conftest import VIEWER_SECRET
    from tests.integration.test_console import sign_in

    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(catalogue_config)) as client:
        core = post(client, "SwitchDown", "core-sw1")
        child = post(client, "HostDown", "srv-003")
        sign_in(client, VIEWER_SECRET)
        page = client.get(f"/console/tickets/{core['ticket_id']}").text
        assert f'href="/console/tickets/{child["ticket_id"]}"' in page.split('id="correlated"')[1].split("</p>")[0]
        page = client.get(f"/console/tickets/{child['ticket_id']}").text
        assert f'id="caused-by" href="/console/tickets/{core["ticket_id"]}"' in page
