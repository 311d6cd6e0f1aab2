"""Reconciliation with a real Alertmanager (SPEC §9, issue #22): a silenced alert that clears
sends no "resolved" (prometheus/alertmanager#2754), so its ticket would stay open forever; the
worker asks Alertmanager's API and resolves it after two consecutive answers that it is gone.
A silenced alert still firing stays open, and with Alertmanager stopped nothing is resolved."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from alertgate.runtime.connections import connect_state_sync
from alertgate.runtime.embedded_redis import free_port
from alertgate.settings import load_settings
from alertgate.workers.reconcile_sweep import ReconcileSweep
from alertgate.workers.worker import create_worker
from tests.conftest import BOOTSTRAP, ROOT, VIEWER_SECRET, serving, stop_process
from tests.e2e.test_alertmanager_prometheus import ALERTMANAGER, start_alertmanager, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not "
                                                  "installed (apt-get install prometheus-alertmanager)")]
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def config_with(tmp_path: Path, reconcile: dict, **blocks: dict) -> Path:
    """The shipped config with these ``reconcile`` settings, and ``blocks`` merged into the shipped
    blocks of those names (a block written again would be a key given twice: refused)."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    settings = yaml.safe_load((folder / "alertgate.yaml").read_text()) or {}
    # (these tests start their Alertmanager just before: no grace after its start unless asked)
    settings["reconcile"] = {"restart_grace": "0s", **reconcile}
    for name, block in blocks.items():
        settings[name] = {**(settings.get(name) or {}), **block}
    (folder / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    return folder


def ticket_of(gateway: str, symptom: str) -> dict | None:
    found = httpx.get(f"{gateway}/api/v1/tickets?alert_source=alertmanager&limit=100", headers=VIEW).json()["tickets"]
    return next((t for t in found if t["symptom"] == symptom and t["kind"] == "master"), None)


def reconciling(gateway_env: dict, redis_url: str, tmp_path: Path, cmdb: str | None = None, **reconcile):
    """The gateway's environment (on a free port, with a config that reconciles with a real
    Alertmanager calling that gateway: ``reconcile``, more of its settings; ``cmdb``, a catalogue
    file), the Alertmanager and its URL, and a state client and reconcile sweep in this process."""
    port = free_port()
    am, am_base = start_alertmanager(tmp_path, f"http://127.0.0.1:{port}")
    config = config_with(tmp_path, {"interval": "1s", "timeout": "2s",
                                    "alertmanager": [{"name": "main", "urls": [am_base]}], **reconcile})
    if cmdb is not None:
        (config / "cmdb" / "hosts.yaml").write_text(cmdb)
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))  # the worker's context, in this process
    env = gateway_env | {"ALERTGATE_PORT": str(port), "ALERTGATE_CONFIG_DIR": str(config)}
    return env, am, am_base, connect_state_sync(settings), ReconcileSweep()


def fire_disk_full(am_base: str, gateway: str, host: str) -> None:
    alert = {"labels": {"alertname": "DiskFull", "instance": f"{host}:9100", "severity": "critical"},
             "startsAt": datetime.now(timezone.utc).isoformat()}
    assert httpx.post(am_base + "/api/v2/alerts", json=[alert]).status_code == 200
    wait_until(lambda: ticket_of(gateway, "DiskFull"), 30, "the ticket")


def assert_kept_open(gateway: str, sweep: ReconcileSweep, state, checks: int) -> None:
    """Reconciled ``checks`` times (a second apart: one per interval), the DiskFull master stays open."""
    for _ in range(checks):
        time.sleep(1.0)
        assert sweep.run(state) == "reconcile: 0 resolved of 1 checked"
    assert ticket_of(gateway, "DiskFull")["status"] == "open"


def test_a_silenced_alert_that_cleared_is_reconciled_and_nothing_is_resolved_while_alertmanager_is_down(
        gateway_env, redis_url, tmp_path):
    env, am, am_base, state, sweep = reconciling(gateway_env, redis_url, tmp_path)

    def reconcile() -> str:
        time.sleep(1.0)  # (one reconcile per interval among the workers)
        return sweep.run(state)

    try:
        with serving(env, tmp_path) as gateway:
            now = datetime.now(timezone.utc)
            alerts = [{"labels": {"alertname": name, "instance": "db9:9100", "severity": "critical"},
                       "startsAt": now.isoformat()} for name in ("DiskFull", "LoadHigh")]
            assert httpx.post(am_base + "/api/v2/alerts", json=alerts).status_code == 200
            wait_until(lambda: ticket_of(gateway, "DiskFull") and ticket_of(gateway, "LoadHigh"), 30, "two tickets")
            silence = {"matchers": [{"name": "instance", "value": "db9:9100", "isRegex": False, "isEqual": True}],
                       "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                       "createdBy": "e2e", "comment": "planned work on db9"}
            assert httpx.post(am_base + "/api/v2/silences", json=silence).status_code == 200
            # DiskFull clears while silenced: Alertmanager sends no "resolved"
            ended = dict(alerts[0], endsAt=(datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat())
            assert httpx.post(am_base + "/api/v2/alerts", json=[ended]).status_code == 200
            time.sleep(4)
            assert ticket_of(gateway, "DiskFull")["status"] == "open"

            assert reconcile() == "reconcile: 0 resolved of 2 checked"   # gone once: remembered
            assert ticket_of(gateway, "DiskFull")["status"] == "open"
            sweep = ReconcileSweep()  # a worker restarted between the two checks: the first is in Redis
            assert reconcile() == "reconcile: 1 resolved of 2 checked"   # gone twice: resolved
            resolved = ticket_of(gateway, "DiskFull")
            assert resolved["status"] == "resolved" and resolved["resolution_code"] == "monitoring_reconciled"
            detail = httpx.get(f"{gateway}/api/v1/tickets/{resolved['id']}", headers=VIEW).json()["ticket"]
            assert "Alertmanager main no longer has it" in detail["timeline"][-1]["note"]
            # LoadHigh is silenced but still firing: present, left alone
            assert ticket_of(gateway, "LoadHigh")["status"] == "open"

            stop_process(am)  # Alertmanager down: every check is an error, nothing resolves
            am = None
            for _ in range(3):
                assert reconcile() == "reconcile: 0 resolved of 1 checked"
            assert ticket_of(gateway, "LoadHigh")["status"] == "open"
            metrics = httpx.get(f"{gateway}/metrics", headers=VIEW)  # (the worker's counts are in this process)
            assert metrics.status_code == 200
        from alertgate.workers.context import context
        counts = {tuple(s.labels.values()): s.value for m in context().metrics.reconciled.collect() for s in m.samples
                  if s.name.endswith("_total")}
        assert counts[("alertmanager", "resolved")] == 1 and counts[("alertmanager", "error")] == 3
    finally:
        if am is not None:
            stop_process(am)



def test_a_master_whose_ci_the_catalogue_renamed_is_still_found_in_alertmanager(gateway_env, redis_url, tmp_path):
    """SPEC §9 with §11: Alertmanager's API answers the sender's CI (``db9``), the master holds
    the catalogue's (``db9.prod.example``); reconciliation asks back through the same catalogue,
    so a firing alert is never taken for a gone one."""
    env, am, am_base, state, sweep = reconciling(
        gateway_env, redis_url, tmp_path, cmdb="- {name: db9.prod.example, aliases: [db9], service: billing}\n")
    try:
        with serving(env, tmp_path) as gateway:
            fire_disk_full(am_base, gateway, "db9")
            assert ticket_of(gateway, "DiskFull")["ci"] == "db9.prod.example"
            assert_kept_open(gateway, sweep, state, checks=2)
    finally:
        stop_process(am)


def test_an_alertmanager_just_restarted_resolves_nothing(gateway_env, redis_url, tmp_path):
    """Alertmanager keeps its alerts in memory: restarted, it answers none until Prometheus sends
    them again, and two checks in that gap took every open master for gone. Within
    `reconcile.restart_grace` of its start it resolves nothing."""
    env, am, am_base, state, sweep = reconciling(gateway_env, redis_url, tmp_path, restart_grace="5m")
    try:
        with serving(env, tmp_path) as gateway:
            fire_disk_full(am_base, gateway, "db7")
            stop_process(am)
            am, _ = start_alertmanager(tmp_path, gateway, int(am_base.rsplit(":", 1)[1]))
            assert httpx.get(am_base + "/api/v2/alerts").json() == []   # (what it answers now)
            assert_kept_open(gateway, sweep, state, checks=3)
    finally:
        stop_process(am)
