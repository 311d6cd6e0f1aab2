"""A route rule's stale_after (SPEC §9): masters of a source without an API are resolved after
that long without an occurrence, by the worker's reconcile clock."""

from __future__ import annotations

import time

import pytest
import redis
import yaml

from alertgate.runtime.connections import connect_state_sync
from alertgate.settings import load_settings
from alertgate.workers.reconcile_sweep import ReconcileSweep
from alertgate.workers.worker import create_worker
from tests.conftest import BOOTSTRAP, VIEWER_SECRET
from tests.e2e.test_reconcile_alertmanager import config_with

pytestmark = pytest.mark.integration
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}



def test_a_route_rule_s_stale_after_resolves_a_silent_master_of_a_source_without_an_api(redis_url, tmp_path):
    """SPEC §9: an inspection finding has no API to ask; its rule's stale_after resolves it after
    that long without an occurrence (stale_timeout), and a new occurrence restarts the clock."""
    from tests.integration.helpers import SOURCE, client_for

    config = config_with(tmp_path, {"interval": "1s"})
    (config / "rules" / "35-stale.yaml").write_text(yaml.safe_dump({"route": [
        {"name": "stale-findings", "when": {"field": "source", "equals": "finding"}, "set": {"stale_after": "3s"}}]}))
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_REDIS_URL": redis_url,
                              "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP})
    create_worker(settings, redis.Redis.from_url(redis_url))
    sweep, state = ReconcileSweep(), connect_state_sync(settings)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        def post(finding: str) -> dict:
            return client.post("/api/v1/findings", headers=SOURCE,
                               json={"finding_id": finding, "ci": "UPS-2", "title": "Battery swollen"}).json()["results"][0]
        first = post("F-1")
        assert first["outcome"] == "new"
        time.sleep(2.0)
        assert sweep.run(state) == "reconcile: 0 resolved of 0 checked"  # 2 s: not yet stale
        assert post("F-2")["outcome"] == "duplicate"                     # an occurrence restarts the clock
        time.sleep(2.0)
        assert sweep.run(state) == "reconcile: 0 resolved of 0 checked"
        time.sleep(1.5)
        assert sweep.run(state) == "reconcile: 1 resolved of 1 checked"
        ticket = client.get(f"/api/v1/tickets/{first['ticket_id']}", headers=VIEW).json()["ticket"]
        assert ticket["status"] == "resolved" and ticket["resolution_code"] == "stale_timeout"
        assert "stale_after" in ticket["timeline"][-1]["note"]
