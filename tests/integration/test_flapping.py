"""A flapping alert (workers/flapping.py), on a real Redis with a real RQ worker and real SMTP: a
recovery the monitoring reports is announced once it has held ``notify.restoration_hold``; a
master that fires again sooner announces neither its restoration nor its reopening; one that
fires again after its restoration went out is announced again. Before, each flap sent an
incident and a restoration notice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import yaml
from rq.registry import ScheduledJobRegistry

from alertgate.work_queue import NOTIFY, queue
from tests.conftest import DESK_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for
from tests.integration.test_lost_jobs import recover
from tests.integration.test_workers import burst, config, mailbox, sink, ticket  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
HOLD = 2.0
AM = "/api/v1/alerts/alertmanager"


@pytest.fixture
def held(config: Path) -> Path:  # noqa: F811
    settings = yaml.safe_load((config / "alertgate.yaml").read_text())
    settings["notify"]["restoration_hold"] = f"{HOLD}s"
    (config / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    return config


def send(client, starts: str, status: str = "firing") -> dict:
    body = am_body(am_alert("LinkDown", host="edge-sw-3", starts=starts, status=status, severity="critical"))
    answer = client.post(AM, json=body, headers=SOURCE)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def told(box, kind: str) -> list[str]:
    return [m["Subject"] for m in box.to("net@example.com") if m["Subject"].startswith(f"[P1] {kind}")]


def test_a_flapping_master_tells_nobody_until_its_recovery_holds(redis_url, held, mailbox):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(held)) as client:
        tid = send(client, "2026-12-07T03:00:00Z")["ticket_id"]
        burst(redis_url, held)
        assert len(told(mailbox, "Incident")) == 1

        starts = ["2026-12-07T03:00:00Z", "2026-12-07T03:01:00Z", "2026-12-07T03:02:00Z", "2026-12-07T03:03:00Z"]
        for now, then in zip(starts, starts[1:]):   # it comes and goes: resolved, firing again within the hold
            assert send(client, now, "resolved")["outcome"] == "resolved"
            burst(redis_url, held)
            assert send(client, then)["outcome"] == "reopened"
            burst(redis_url, held)
        assert send(client, starts[-1], "resolved")["outcome"] == "resolved"
        burst(redis_url, held)
        assert len(told(mailbox, "Incident")) == 1 and told(mailbox, "Restored") == []
        shown = ticket(client, tid)
        assert (shown["status"], shown["reopen_count"], shown["assignment_group"]) == ("resolved", 3, "network")
        waiting = ScheduledJobRegistry(queue=queue(NOTIFY, redis.Redis.from_url(redis_url))).get_job_ids()
        assert waiting and all(job.startswith(f"restoration-{tid}-") and job.endswith("-held") for job in waiting)
        assert recover(redis_url, held) == "nothing owed"   # (a held notice is not lost work)

        time.sleep(HOLD + 0.5)
        burst(redis_url, held)
        assert len(told(mailbox, "Restored")) == 1   # the recoveries' jobs end as one notice
        burst(redis_url, held)
        assert len(told(mailbox, "Restored")) == 1

        # after its restoration went out, it fires again: that is news
        assert send(client, "2026-12-07T03:20:00Z")["outcome"] == "reopened"
        burst(redis_url, held)
        assert len(told(mailbox, "Incident")) == 2


def test_a_resolution_by_a_person_is_announced_at_once(redis_url, held, mailbox):  # noqa: F811
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(held)) as client:
        tid = send(client, "2026-12-07T04:00:00Z")["ticket_id"]
        burst(redis_url, held)
        resolved = client.post(f"/api/v1/tickets/{tid}/actions/resolve", headers={"Authorization": f"Bearer {DESK_SECRET}"},
                               json={"resolution_code": "resolved_by_workaround", "solution": "rerouted"})
        assert resolved.status_code == 200, resolved.text
        burst(redis_url, held)
        assert len(told(mailbox, "Restored")) == 1
