"""Builders for the integration tests: an in-process app on a real Redis, and payloads."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

from litestar.testing import TestClient

from alertgate.gateway.app import create_app
from alertgate.runtime.connections import connect_state
from alertgate.settings import load_settings
from tests.conftest import BOOTSTRAP, ROOT, SOURCE_SECRET

SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@contextmanager
def client_for(redis_url: str, **env: str) -> Iterator[TestClient]:
    settings = load_settings({
        "ALERTGATE_CONFIG_DIR": str(ROOT / "config"),
        "ALERTGATE_REDIS_URL": redis_url,
        "ALERTGATE_BOOTSTRAP_TOKENS": BOOTSTRAP,
        "ALERTGATE_REDIS_TIMEOUT": "1s",
        **env,
    })
    app = create_app(settings, connect_state(settings))
    with TestClient(app) as client:
        yield client


# A KPI period that holds am_alert's fixed outage start on any day the tests run: the reports'
# default, the last 30 days, stops holding it on 2026-12-22.
ALERTS_PERIOD = {"from": "2026-11-01", "to": "2030-01-01"}


def am_alert(name: str = "HighCPU", host: str = "web1", starts: str = "2026-11-22T03:00:00Z",
             status: str = "firing", summary: str | None = None, **labels: str) -> dict:
    alert = {"labels": {"alertname": name, "instance": f"{host}:9100", **labels}, "startsAt": starts,
             "status": status}
    if summary:
        alert["annotations"] = {"summary": summary}
    if status == "resolved":
        alert["endsAt"] = "2026-11-22T03:30:00Z"
    return alert


def am_body(*alerts: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "alertgate", "alerts": list(alerts)}


def zabbix_event(event_id: str = "9001", value: str = "1", update: str = "0", **extra: str) -> dict:
    return {"event_id": event_id, "event_value": value, "event_update_status": update,
            "event_nseverity": "4", "event_name": "Disk full", "host": "db1", "trigger_id": "3001",
            "event_timestamp": "1795318364", **extra}
