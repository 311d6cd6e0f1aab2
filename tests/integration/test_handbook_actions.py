# ruff: noqa: F811  (the workers' fixtures are imported, and the tests take them as arguments)
"""The handbook's remaining actions and notices (issue #26) through the HTTP API and a real RQ
worker on a real Redis, with real SMTP: re-prioritise, suspend until a time, the duty team lead's
verification and the audited edit, and who is told. Each test names the section of seed 001."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.conftest import DESK_SECRET, ENGINEER_SECRET, LEAD_SECRET, MANAGER_SECRET
from tests.integration.helpers import ALERTS_PERIOD, SOURCE, am_alert, am_body, client_for
from tests.integration.test_workers import burst, config, mailbox, sink, ticket  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}
ENG = {"Authorization": f"Bearer {ENGINEER_SECRET}"}
IM = {"Authorization": f"Bearer {MANAGER_SECRET}"}
LEAD = {"Authorization": f"Bearer {LEAD_SECRET}"}


@pytest.fixture
def people(config: Path) -> Path:
    """Addresses for the incident manager, the service desk, two groups and one engineer."""
    settings = yaml.safe_load((config / "alertgate.yaml").read_text())
    settings["notify"]["contacts"].update({
        "incident_manager": {"email": ["im@example.com"]}, "service_desk": {"email": ["desk@example.com"]},
        "storage": {"email": ["storage@example.com"]}, "database": {"email": ["dba@example.com"]},
        "li": {"email": ["li@example.com"]}})
    (config / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    return config


def open_ticket(client, name: str = "DiskFull", host: str = "db7") -> str:
    body = am_body(am_alert(name, host, severity="warning"))
    return client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"]


def act(client, tid: str, action: str, headers: dict, **body):
    return client.post(f"/api/v1/tickets/{tid}/actions/{action}", json=body, headers=headers)


def subjects(mailbox, address: str) -> list[str]:
    return [m["Subject"] for m in mailbox.to(address)]


def test_reprioritise_to_p1_replans_the_clocks_and_reports_to_the_incident_manager(redis_url, people, mailbox):
    """§3.1.3.4: priority may change during handling, with the reason recorded; §3.1.3.5: the new
    priority's targets; §3.1.3.7: a P1 is reported to the incident manager at once."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client)
        burst(redis_url, people)
        before = ticket(client, tid)
        assert before["priority"] != 1 and before["status"] == "assigned"
        refused = act(client, tid, "reprioritise", DESK, priority=1)
        assert refused.status_code == 400 and refused.json()["detail"][0]["path"] == "$.reason"
        assert act(client, tid, "reprioritise", DESK, priority=7, reason="x").status_code == 400
        done = act(client, tid, "reprioritise", DESK, impact=1, urgency=1, reason="the whole shop is down")
        assert done.status_code == 200, done.text
        after = done.json()
        assert (after["impact"], after["urgency"], after["priority"]) == (1, 1, 1)
        acceptance = next(e for e in after["sla"] if e["target"] == "acceptance")
        assert acceptance["minutes"] == 0.02   # the fast P1 table of this config
        entry = next(e for e in after["timeline"] if e["action"] == "reprioritise")
        assert f"P{before['priority']} → P1" in entry["note"] and "the whole shop is down" in entry["note"]
        burst(redis_url, people)
        reports = [s for s in subjects(mailbox, "im@example.com") if "Reported to the incident manager" in s]
        assert len(reports) == 1
        [mail] = [m for m in mailbox.to("im@example.com") if "Reported" in m["Subject"]]
        assert "Why: raised to P1: the whole shop is down" in mail.get_content()
        # the P1 table's acceptance (1.2 s) and first escalation (1 s) now apply (a loaded machine:
        # the timers planned by the replan job may take more than one burst to come due)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            burst(redis_url, people)
            breached = any("SLA acceptance target missed" in s for s in subjects(mailbox, "im@example.com"))
            if breached and ticket(client, tid)["escalation_level"] == 1:
                break
        assert ticket(client, tid)["escalation_level"] == 1
        assert any("SLA acceptance target missed" in s for s in subjects(mailbox, "im@example.com"))  # §3.1.3.6
        burst(redis_url, people)
        assert len([s for s in subjects(mailbox, "im@example.com") if "Reported" in s]) == 1   # once


def test_assign_and_reassign_tell_the_group_and_the_assignee_and_report_across_groups(redis_url, people, mailbox):
    """§3.1.3.2: the group and the person a ticket is assigned to are told; §3.1.3.3: a
    reassignment across groups is reported to the incident manager, and a third escalates."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client, "LoadHigh", "app3")
        assert act(client, tid, "assign", DESK, group="storage", assignee="li").status_code == 200
        burst(redis_url, people)
        assert any("Assigned to you" in s for s in subjects(mailbox, "storage@example.com"))
        assert any("Assigned to you" in s for s in subjects(mailbox, "li@example.com"))
        assert not subjects(mailbox, "im@example.com")
        assert act(client, tid, "reassign", ENG, group="database", reason="a query, not the disk").status_code == 200
        burst(redis_url, people)
        assert any("Assigned to you" in s for s in subjects(mailbox, "dba@example.com"))
        [report] = [m for m in mailbox.to("im@example.com") if "Reported" in m["Subject"]]
        assert "Why: reassigned across groups: storage → database" in report.get_content()
        for group in ("database", "database"):
            assert act(client, tid, "reassign", ENG, group=group).status_code == 200
        burst(redis_url, people)
        reports = [m.get_content() for m in mailbox.to("im@example.com") if "Reported" in m["Subject"]]
        assert any("Why: reassigned 3 times" in text for text in reports)
        burst(redis_url, people)
        assert len([s for s in subjects(mailbox, "dba@example.com") if "Assigned" in s]) == 3   # nothing twice


def test_suspend_until_leaves_the_queue_and_a_timer_resumes_it(redis_url, people, mailbox):
    """§3.1.4.1 (status "暂停"): suspended for a period, the record is out of the backlog, and comes
    back by itself when the period ends; the SLA clocks stand still meanwhile."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client)
        burst(redis_url, people)
        assert act(client, tid, "accept", ENG).status_code == 200
        due = next(e for e in ticket(client, tid)["sla"] if e["target"] == "resolution")["due_at"]
        past = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
        assert act(client, tid, "suspend", ENG, until=past).status_code == 400
        until = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
        assert act(client, tid, "suspend", ENG, until=until, note="the user is travelling").status_code == 200
        burst(redis_url, people)
        queue = client.get("/api/v1/queue", headers=DESK).json()["tickets"]
        assert tid not in [t["id"] for t in queue]
        assert tid in [t["id"] for t in client.get("/api/v1/queue?status=suspended", headers=DESK).json()["tickets"]]
        time.sleep(2.5)
        burst(redis_url, people)
        resumed = ticket(client, tid)
        assert resumed["status"] == "in_progress" and resumed["suspended_until"] is None
        assert resumed["timeline"][-1]["note"] == "the suspension's time is up"
        moved = next(e for e in resumed["sla"] if e["target"] == "resolution")["due_at"]
        assert datetime.fromisoformat(moved) - datetime.fromisoformat(due) >= timedelta(seconds=2)
        assert tid in [t["id"] for t in client.get("/api/v1/queue", headers=DESK).json()["tickets"]]


def test_the_duty_team_lead_returns_a_closed_record_the_desk_corrects_it_and_it_is_checked(redis_url, people, mailbox):
    """§3.1.3.10 (2): after closure the duty team lead verifies the record; §3.1.4.1 fields 8, 10,
    11: the outage times and ci_operational are corrected, audited. Unverified records are counted."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client)
        assert act(client, tid, "resolve", DESK, resolution_code="resolved_by_workaround").status_code == 200
        assert act(client, tid, "verify", LEAD, verdict="checked").status_code == 409   # not closed yet
        assert act(client, tid, "close", DESK, closure_code="completed").status_code == 200
        assert client.get("/api/v1/kpi", params=ALERTS_PERIOD, headers=DESK).json()["overall"]["awaiting_verification"]["count"] == 1
        assert act(client, tid, "verify", DESK, verdict="checked").status_code == 403
        assert act(client, tid, "verify", LEAD, verdict="returned").status_code == 400   # a note says why
        back = act(client, tid, "verify", LEAD, verdict="returned", note="the outage began at 01:10")
        assert back.status_code == 200 and back.json()["verification"] == "returned"
        burst(redis_url, people)
        [mail] = [m for m in mailbox.to("desk@example.com") if "Record returned" in m["Subject"]]
        assert "Why: the outage began at 01:10" in mail.get_content()
        start = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
        future = act(client, tid, "edit", DESK, outage_end=(datetime.now(timezone.utc) + timedelta(days=1)).isoformat())
        assert future.status_code == 400 and future.json()["detail"][0]["path"] == "$.outage_end"
        assert act(client, tid, "edit", DESK, outage_start="2026-12-05T01:10:00").status_code == 400   # no zone
        edited = act(client, tid, "edit", DESK, outage_start=start.isoformat(), ci_operational=False)
        assert edited.status_code == 200
        shown = edited.json()
        assert datetime.fromisoformat(shown["outage_start"].replace("Z", "+00:00")) == start
        assert shown["ci_operational"] is False and shown["status"] == "closed"
        assert shown["timeline"][-1]["action"] == "edit" and "outage_start:" in shown["timeline"][-1]["note"]
        assert act(client, tid, "verify", LEAD, verdict="checked").status_code == 200
        assert client.get("/api/v1/kpi", params=ALERTS_PERIOD, headers=DESK).json()["overall"]["awaiting_verification"]["count"] == 0
        checked = ticket(client, tid)
        assert (checked["verification"], checked["verified_by"]) == ("checked", "bootstrap-duty_lead")


def test_the_group_is_warned_before_a_target_is_missed(redis_url, people, mailbox):
    """§3.1.3.5–3.1.3.6 (issue #26, item 9): a notice at ``notify.warn_at`` of each SLA target, once."""
    settings = yaml.safe_load((people / "alertgate.yaml").read_text())
    settings["notify"]["warn_at"] = 0.01   # (due at once: ahead of the breach even on a loaded machine)
    (people / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        body = am_body(am_alert("InterfaceDown", host="core-sw-4", severity="critical"))   # P1, network
        client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        burst(redis_url, people)   # assigned: acceptance due in 1.2 s, its warning at once
        deadline = time.monotonic() + 15   # (a loaded machine: the timer may take more than one burst)
        while time.monotonic() < deadline and not any("due soon" in s for s in subjects(mailbox, "net@example.com")):
            time.sleep(0.5)
            burst(redis_url, people)
        burst(redis_url, people)
        warned = [s for s in subjects(mailbox, "net@example.com") if "target due soon" in s]
        assert warned and all("SLA acceptance" in s for s in warned) and len(warned) == 1


def test_a_route_rule_s_escalation_policy_is_what_the_worker_escalates_by(redis_url, people, mailbox):
    """§3.1.3.6 (issue #26, item 5): a route rule's ``escalation:`` names a policy of tables.yaml,
    and the ticket's escalation timers follow its tiers, times and recipients, not the table's."""
    tables = yaml.safe_load((people / "tables.yaml").read_text())
    tables["escalation_policies"] = {"storage_fast": [{"after": "1s", "notify": "database"}]}
    (people / "tables.yaml").write_text(yaml.safe_dump(tables))
    route = people / "rules" / "30-route.yaml"
    route.write_text(route.read_text().replace("set: {assignment_group: storage}",
                                               "set: {assignment_group: storage, escalation: storage_fast}"))
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client)   # DiskFull: storage
        deadline = time.monotonic() + 15   # (a loaded machine: the timer may take more than one burst)
        while time.monotonic() < deadline and not subjects(mailbox, "dba@example.com"):
            burst(redis_url, people)
            time.sleep(0.5)
        [escalation] = subjects(mailbox, "dba@example.com")
        assert f"Escalation 1 of {tid}" in escalation
        shown = ticket(client, tid)
        assert (shown["escalation_policy"], shown["escalation_level"]) == ("storage_fast", 1)
        assert "level 1: database" in [e["note"] for e in shown["timeline"] if e["action"] == "escalate"][0]


def report_ticket(client, **fields) -> dict:
    body = {"title": "ERP answers slowly", "ci": "erp-db", "contact": "zhang@example.com", **fields}
    created = client.post("/api/v1/tickets", json=body, headers=DESK)
    assert created.status_code == 201, created.text
    return created.json()


def test_a_user_report_of_a_known_fault_is_suggested_linked_and_resolved_with_its_master(redis_url, people, mailbox):
    """§3.1.3.8 (issue #26, item 4): a user's report of a fault already open is shown the open
    master, the desk marks it a duplicate, and it is resolved and closed with its master. §3.1.3.7
    (item 8): the reporting user is told it was registered, joined the known incident, and restored."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        tid = open_ticket(client, host="erp-db")
        burst(redis_url, people)
        created = report_ticket(client)
        rid = created["id"]
        assert created["suggested_masters"] == [tid]
        assert f"may duplicate {tid}" in created["timeline"][0]["note"]
        burst(redis_url, people)
        assert any(f"Your report is registered as {rid}" in s for s in subjects(mailbox, "zhang@example.com"))
        assert act(client, rid, "mark_duplicate", ENG, master_id=tid).status_code == 403
        assert act(client, rid, "mark_duplicate", DESK, master_id="INC-NOPE-1").status_code == 400
        assert act(client, tid, "mark_duplicate", DESK, master_id=rid).status_code == 400   # (an alert's ticket)
        linked = act(client, rid, "mark_duplicate", DESK, master_id=tid, note="same slowness")
        assert linked.status_code == 200, linked.text
        assert (linked.json()["kind"], linked.json()["master_id"]) == ("duplicate", tid)
        assert linked.json()["title"] == "ERP answers slowly"   # (the user's own words are kept)
        assert client.get(f"/api/v1/tickets/{tid}", headers=DESK).json()["reports"] == [rid]
        assert rid not in [t["id"] for t in client.get("/api/v1/queue", headers=DESK).json()["tickets"]]
        burst(redis_url, people)
        assert any(f"joins known incident {tid}" in s for s in subjects(mailbox, "zhang@example.com"))

        recovery = am_body(am_alert("DiskFull", "erp-db", status="resolved", severity="warning"))
        assert client.post("/api/v1/alerts/alertmanager", json=recovery, headers=SOURCE).json()["results"][0][
            "outcome"] == "resolved"
        burst(redis_url, people)
        shown = ticket(client, rid)
        assert (shown["status"], shown["resolution_code"]) == ("resolved", "monitoring_recovered")
        [restored] = [m for m in mailbox.to("zhang@example.com") if "Restored" in m["Subject"]]
        assert rid in restored["Subject"] and f"Why: with incident {tid}" in restored.get_content()
        assert act(client, tid, "close", DESK, closure_code="completed").status_code == 200
        burst(redis_url, people)
        assert ticket(client, rid)["status"] == "closed"


def test_the_reporting_user_is_told_when_their_report_is_suspended(redis_url, people, mailbox):
    """§3.1.3.7, the notification matrix's user column: 挂起 (suspended) is told to the user."""
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        rid = report_ticket(client, ci="printer-3", title="Printer jams")["id"]
        burst(redis_url, people)
        assert act(client, rid, "suspend", DESK, note="waiting for the spare part").status_code == 200
        burst(redis_url, people)
        [suspended] = [m for m in mailbox.to("zhang@example.com") if "is suspended" in m["Subject"]]
        assert "Why: waiting for the spare part" in suspended.get_content()


def test_the_handbook_s_reports_by_staff_ci_and_requester_and_third_party_time(redis_url, people, mailbox):
    """§3.4 (issue #26, item 12): KPIs 13/14/16/17 per person, reports by CI and requester, KPI 8 by
    resolver role and KPI 9 from the third party's engagement: from the API and `alertgate report`."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    today = datetime.now(timezone.utc).date()
    period = {"from": f"{today - timedelta(days=1)}T00:00:00Z", "to": f"{today + timedelta(days=1)}T00:00:00Z"}
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")   # (occurred in the period)
        body = am_body(am_alert("DiskFull", "san-2", starts=now, severity="warning"))
        tid = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"]
        rid = report_ticket(client, ci="printer-9", title="Printer offline")["id"]
        burst(redis_url, people)
        assert act(client, tid, "accept", ENG).status_code == 200
        assert act(client, tid, "engage_third_party", ENG).status_code == 400   # (names the vendor)
        engaged = act(client, tid, "engage_third_party", ENG, third_party="NetApp", note="case 77")
        assert engaged.status_code == 200 and engaged.json()["third_party"] == "NetApp"
        resolved = act(client, tid, "resolve", ENG, resolution_code="resolved_by_change")
        assert resolved.json()["resolved_by"] == "bootstrap-engineer"
        kpi = client.get("/api/v1/kpi", params={**period, "by": "staff"}, headers=DESK).json()
        staff = {person: (v["registered"]["count"], v["worked_on"]["count"], v["resolved"]["count"])
                 for person, v in kpi["staff"].items()}
        assert staff["bootstrap-service_desk"] == (1, 1, 0) and staff["bootstrap-engineer"] == (0, 1, 1)
        assert staff["alertmanager"] == (1, 0, 0)
        overall = kpi["overall"]
        assert overall["third_party_mean_resolution_seconds"] is not None
        assert overall["mean_resolution_seconds_by_role"]["third_party"] is not None
        by_ci = client.get("/api/v1/kpi", params={**period, "by": "ci"}, headers=DESK).json()["by_key"]
        assert by_ci["printer-9"]["incidents"] == 1 and by_ci["san-2"]["incidents"] == 1
        by_requester = client.get("/api/v1/kpi", params={**period, "by": "requester"}, headers=DESK).json()["by_key"]
        assert set(by_requester) == {"zhang@example.com", "alertmanager"}
        bad = client.get("/api/v1/kpi", params={**period, "by": "moon"}, headers=DESK)
        assert bad.status_code == 400 and bad.json()["detail"][0]["path"] == "by"
        assert rid
    env = {"ALERTGATE_REDIS_URL": redis_url, "ALERTGATE_CONFIG_DIR": str(ROOT / "config"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "alertgate", "report", "--from", str(today - timedelta(days=1)),
                           "--to", str(today + timedelta(days=1)), "--by", "staff", "--format", "csv"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "staff,bootstrap-engineer,resolved,1," in done.stdout


def test_an_sla_clock_on_a_business_calendar_waits_for_working_time(redis_url, people, mailbox):
    """§3.1.3.5 (issue #26, item 10; seed 002's working days): a priority on a calendar counts its
    targets in working time only; P1 stays 24×7. Today and tomorrow are holidays here, so a P3's
    assignment is due 15 minutes into the day after tomorrow."""
    today = datetime.now(timezone.utc).date()
    tables = yaml.safe_load((people / "tables.yaml").read_text())
    tables["calendars"] = {"office": {"timezone": "UTC", "hours": "00:00-24:00",
                                      "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                      "holidays": [str(today), str(today + timedelta(days=1))]}}
    tables["sla_calendars"] = {"priority": {3: "office"}}
    (people / "tables.yaml").write_text(yaml.safe_dump(tables))
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(people)) as client:
        created = report_ticket(client, ci="printer-5", title="Printer offline")   # impact 3 × urgency 3: P3
        assert created["priority"] == 3
        assignment = next(e for e in created["sla"] if e["target"] == "assignment")
        expected = datetime.combine(today + timedelta(days=2), datetime.min.time(), timezone.utc) + timedelta(minutes=15)
        assert datetime.fromisoformat(assignment["due_at"].replace("Z", "+00:00")) == expected
        body = am_body(am_alert("InterfaceDown", host="core-sw-9", severity="critical"))   # P1: around the clock
        tid = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE).json()["results"][0]["ticket_id"]
        p1 = ticket(client, tid)
        due = datetime.fromisoformat(p1["sla"][0]["due_at"].replace("Z", "+00:00"))
        assert p1["priority"] == 1 and due - datetime.fromisoformat(p1["created_at"].replace("Z", "+00:00")) == timedelta(minutes=0.5)
