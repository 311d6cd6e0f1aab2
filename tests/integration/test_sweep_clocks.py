"""A slow part of the sweep does not hold back the heartbeats (workers/sweeper.py), with a real
gateway, worker and Redis: the reconciliation waits on an Alertmanager that does not answer (up to
``reconcile.timeout``, here a minute), and meanwhile a heartbeat that fell silent still opens its
ticket within about one ``sweep_interval`` of its deadline. When the parts ran one after another,
the heartbeats waited for the reconciliation's answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from alertgate.runtime.embedded_redis import free_port
from tests.conftest import SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.e2e.test_alertmanager_prometheus import wait_until
from tests.e2e.test_reconcile_alertmanager import config_with

SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
VIEW = {"Authorization": f"Bearer {VIEWER_SECRET}"}
HOLD = 60.0   # s: how long the Alertmanager keeps a question unanswered, unless let go


class SilentAlertmanager:
    """Takes ``GET /api/v2/alerts`` and answers only when let go (an empty list)."""

    def __init__(self) -> None:
        self.asked, self.let_go = threading.Event(), threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stub.asked.set()
                stub.let_go.wait(HOLD)
                body = b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator["SilentAlertmanager"]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.let_go.set()
            self.server.shutdown()
            self.server.server_close()


def heartbeat_tickets(base: str, name: str) -> list[dict]:
    found = httpx.get(f"{base}/api/v1/tickets?alert_source=heartbeat&limit=100", headers=VIEW).json()["tickets"]
    return [t for t in found if t["symptom"] == f"heartbeat_missing:{name}"]


def test_a_reconciliation_waiting_on_its_alertmanager_does_not_hold_back_a_heartbeats_expiry(gateway_env, tmp_path):
    with SilentAlertmanager().running() as alertmanager:
        config = config_with(tmp_path, {"interval": "1s", "timeout": f"{HOLD:g}s",
                                        "alertmanager": [{"name": "main", "urls": [alertmanager.url]}]})
        env = gateway_env | {"ALERTGATE_CONFIG_DIR": str(config), "ALERTGATE_SWEEP_INTERVAL": "1s"}
        base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
        gateway = start_alertgate(["serve"], env, tmp_path, tmp_path / "serve.log")
        worker = None
        try:
            wait_for_http(base + "/healthz", process=gateway)
            # An Alertmanager master to reconcile: the sweep asks the Alertmanager, which holds on.
            alert = {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1:9100"},
                     "startsAt": datetime.now(UTC).isoformat()}
            answer = httpx.post(f"{base}/api/v1/alerts/alertmanager", headers=SOURCE,
                                json={"version": "4", "status": "firing", "alerts": [alert]})
            assert answer.status_code == 200, answer.text
            worker = start_alertgate(["worker"], env, tmp_path, tmp_path / "worker.log")
            assert alertmanager.asked.wait(30), "the reconciliation did not ask the Alertmanager"

            # A heartbeat falls silent while the reconciliation waits for its answer.
            ping = httpx.post(f"{base}/api/v1/heartbeats/backup", headers=SOURCE, json={"timeout": "2s"})
            assert ping.status_code == 200, ping.text
            deadline = datetime.fromisoformat(ping.json()["expires_at"])
            [ticket] = wait_until(lambda: heartbeat_tickets(base, "backup"), 20, "the silent heartbeat's ticket")
            seen = datetime.now(UTC)
            assert not alertmanager.let_go.is_set()   # (the reconciliation still waits)
            assert (seen - deadline).total_seconds() < 10, "the expiry waited for the reconciliation"
            assert datetime.fromisoformat(ticket["outage_start"]) == deadline   # (SPEC §9: the expiry time)
        finally:
            if worker is not None:
                stop_process(worker)
            stop_process(gateway)
