"""A recurring maintenance window with a real Alertmanager (SPEC §10, issue #23): pushed as a
silence (visible in Alertmanager's API, expired with the occurrence), an alert during it held
(suppressed, no ticket), its end opening the ticket of what still fires with the alert's own
outage start; the next occurrence pushed ahead, and removed when the window is ended early."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import redis

from alertgate.runtime.embedded_redis import free_port
from alertgate.settings import load_settings
from alertgate.workers.maintenance_push import MaintenancePush
from alertgate.workers.maintenance_release import MaintenanceRelease
from alertgate.workers.worker import create_worker
from tests.conftest import BOOTSTRAP, DESK_SECRET, SOURCE_SECRET, VIEWER_SECRET, serving, stop_process
from tests.e2e.test_alertmanager_prometheus import ALERTMANAGER, start_alertmanager
from tests.e2e.test_reconcile_alertmanager import config_with

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not "
                                                  "installed (apt-get install prometheus-alertmanager)")]
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
DESK = {"Authorization": f"Bearer {DESK_SECRET}"}


def stack(tmp_path, redis_url: str, **blocks: dict):
    """A real Alertmanager, a config that lists it with ``blocks`` merged in, and this process as
    the worker (its context); the gateway's port, Alertmanager, its URL, the config folder."""
    port = free_port()
    am, am_base = start_alertmanager(tmp_path, f"http://127.0.0.1:{port}")
    config = config_with(tmp_path, {"alertmanager": [{"name": "main", "urls": [am_base]}]}, **blocks)
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    return port, am, am_base, config


def silences(am: str) -> list[dict]:
    return [s for s in httpx.get(am + "/api/v2/silences").json() if s["createdBy"] == "alertgate"]


def test_a_recurring_window_is_a_silence_holds_alerts_and_its_end_opens_what_still_fires(gateway_env, redis_url, tmp_path):
    port, am, am_base, config = stack(tmp_path, redis_url, maintenance={"push_alertmanager": True})
    push, release = MaintenancePush(), MaintenanceRelease()
    try:
        with serving(gateway_env | {"ALERTGATE_PORT": str(port), "ALERTGATE_CONFIG_DIR": str(config)}, tmp_path) as gateway:
            now = datetime.now(timezone.utc).replace(microsecond=0)
            first = now - timedelta(days=1, seconds=5)   # daily, 20 s long: today's is in force now
            created = httpx.post(f"{gateway}/api/v1/maintenance", headers=DESK, json={
                "title": "db9 firmware", "starts_at": first.isoformat(), "ends_at": (first + timedelta(seconds=20)).isoformat(),
                "recurrence": "FREQ=DAILY;COUNT=3", "change_id": "CHG-77",
                "matchers": [{"field": "label.instance", "op": "eq", "value": "db9:9100"}]}).json()
            window_id, ends = created["window"]["id"], datetime.fromisoformat(created["current"][1])
            assert created["active"]

            assert push.run() == "maintenance push: 1 changed"
            [silence] = silences(am_base)
            assert silence["status"]["state"] == "active" and "CHG-77" in silence["comment"]
            assert [(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]] == [("instance", "db9:9100", False)]
            shown = httpx.get(f"{gateway}/api/v1/maintenance/{window_id}", headers=VIEW).json()["window"]
            assert shown["pushes"]["alertmanager:main"]["status"] == "pushed"
            assert shown["pushes"]["alertmanager:main"]["remote_id"] == silence["id"]

            starts = (now - timedelta(minutes=3)).isoformat()
            alert = {"labels": {"alertname": "DiskFull", "instance": "db9:9100", "severity": "critical"}, "startsAt": starts}
            body = {"version": "4", "status": "firing", "receiver": "alertgate", "alerts": [alert]}
            result = httpx.post(f"{gateway}/api/v1/alerts/alertmanager", json=body,
                                headers={"Authorization": f"Bearer {SOURCE_SECRET}"}).json()["results"][0]
            assert result["outcome"] == "suppressed" and result["maintenance_id"] == window_id
            assert httpx.get(f"{gateway}/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"] == []

            time.sleep(max(0.0, (ends - datetime.now(timezone.utc)).total_seconds()) + 1.5)
            assert release.run() == "maintenance: 1 released, 0 recovered or gone"
            [ticket] = httpx.get(f"{gateway}/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"]
            assert ticket["symptom"] == "DiskFull" and datetime.fromisoformat(ticket["outage_start"]) == \
                datetime.fromisoformat(starts)
            assert httpx.get(f"{am_base}/api/v2/silence/{silence['id']}").json()["status"]["state"] == "expired"

            assert push.run() == "maintenance push: 1 changed"   # tomorrow's occurrence, ahead of time
            pending = [s for s in silences(am_base) if s["status"]["state"] == "pending"]
            assert len(pending) == 1 and datetime.fromisoformat(pending[0]["startsAt"].replace("Z", "+00:00")) > now
            httpx.delete(f"{gateway}/api/v1/maintenance/{window_id}", headers=DESK)
            assert push.run() == "maintenance push: 1 changed"
            assert all(s["status"]["state"] == "expired" for s in silences(am_base))
            shown = httpx.get(f"{gateway}/api/v1/maintenance/{window_id}", headers=VIEW).json()["window"]
            assert shown["pushes"]["alertmanager:main"]["status"] == "removed"
    finally:
        stop_process(am)


def test_a_window_alertmanager_cannot_express_is_reported_and_a_failed_push_is_retried(gateway_env, redis_url, tmp_path):
    port, am, am_base, config = stack(tmp_path, redis_url, maintenance={"push_alertmanager": True})
    try:
        with serving(gateway_env | {"ALERTGATE_PORT": str(port), "ALERTGATE_CONFIG_DIR": str(config)}, tmp_path) as gateway:
            now = datetime.now(timezone.utc)
            window_id = httpx.post(f"{gateway}/api/v1/maintenance", headers=DESK, json={
                "title": "by CI", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
                "matchers": [{"field": "ci", "op": "eq", "value": "db9"}]}).json()["window"]["id"]
            MaintenancePush().run()
            push = httpx.get(f"{gateway}/api/v1/maintenance/{window_id}", headers=VIEW).json()["window"]["pushes"]
            assert push["alertmanager:main"]["status"] == "not_expressible"
            assert "labels only" in push["alertmanager:main"]["error"]
            assert silences(am_base) == []
            stop_process(am)   # a push that fails is retried every sweep, and shown on the window
            am = None
            other = httpx.post(f"{gateway}/api/v1/maintenance", headers=DESK, json={
                "title": "by label", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
                "matchers": [{"field": "label.instance", "op": "in", "value": ["db9:9100", "db10:9100"]}]}).json()
            for attempt in (1, 2):
                MaintenancePush().run()
                state = httpx.get(f"{gateway}/api/v1/maintenance/{other['window']['id']}",
                                  headers=VIEW).json()["window"]["pushes"]["alertmanager:main"]
                assert state["status"] == "failed" and state["attempts"] == attempt and "ConnectError" in state["error"]
    finally:
        if am is not None:
            stop_process(am)


def test_a_master_in_progress_holds_a_silence_of_its_alert_until_resolved(gateway_env, redis_url, tmp_path):
    """SPEC §10 sync: accepted, an Alertmanager master silences its alert (every label equal), so
    other receivers stop repeating it; resolved, the silence is expired."""
    from alertgate.workers import jobs
    from tests.conftest import ENGINEER_SECRET

    port, am, am_base, config = stack(tmp_path, redis_url, sync={"alertmanager_silence": True})
    engineer = {"Authorization": f"Bearer {ENGINEER_SECRET}"}
    try:
        with serving(gateway_env | {"ALERTGATE_PORT": str(port), "ALERTGATE_CONFIG_DIR": str(config)}, tmp_path) as gateway:
            labels = {"alertname": "DiskFull", "instance": "db9:9100", "severity": "critical"}
            assert httpx.post(am_base + "/api/v2/alerts", json=[{"labels": labels}]).status_code == 200
            found = []
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline:
                found = httpx.get(f"{gateway}/api/v1/tickets?ci=db9", headers=VIEW).json()["tickets"]
                time.sleep(0.25)
            tid = found[0]["id"]
            httpx.post(f"{gateway}/api/v1/tickets/{tid}/actions/assign", headers=DESK, json={"group": "database"})
            assert httpx.post(f"{gateway}/api/v1/tickets/{tid}/actions/accept", headers=engineer, json={}).status_code == 200
            assert jobs.sync_source(tid, "accept") == "alertmanager silence"
            [silence] = silences(am_base)
            assert silence["status"]["state"] == "active" and tid in silence["comment"]
            assert {m["name"]: m["value"] for m in silence["matchers"]} == labels
            assert jobs.sync_source(tid, "accept") == "nothing to tell"   # one silence, whatever the retries
            assert httpx.post(f"{gateway}/api/v1/tickets/{tid}/actions/resolve", headers=engineer,
                              json={"resolution_code": "resolved_by_workaround"}).status_code == 200
            assert jobs.sync_source(tid, "resolve") == "alertmanager silence expired"
            assert httpx.get(f"{am_base}/api/v2/silence/{silence['id']}").json()["status"]["state"] == "expired"
    finally:
        stop_process(am)
