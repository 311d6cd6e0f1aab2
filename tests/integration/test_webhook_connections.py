"""The webhook channel keeps its connections (one ``httpx.Client`` per process, keep-alive):
notices to one endpoint share a connection; a forked process makes a client of its own."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from alertgate.settings import Endpoint
from alertgate.workers.channels import webhook
from alertgate.workers.notices import Notice

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint():
    peers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # (keep-alive)

        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            peers.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", peers
    server.shutdown()
    server.server_close()


def notice(n: int) -> Notice:
    return Notice(dedup_key=f"INC-AB-{n}:incident:network:dispatch0", kind="incident", ticket_id=f"INC-AB-{n}",
                  priority=3, recipient="network", subject=f"s{n}", body="b", what_happened="w", affected_service="a",
                  expected_restoration=None, service_desk="desk")


def test_notices_to_one_endpoint_share_a_connection(endpoint):
    url, peers = endpoint
    settings = SimpleNamespace(notify=SimpleNamespace(webhook=Endpoint(url=url), phone=Endpoint(url=url)))
    for n in range(5):
        webhook.send(notice(n), "chatops", settings)
    webhook.send_phone(notice(9), "+86-138-0000-0001", settings)
    assert len(peers) == 6 and len(set(peers)) == 1


def test_a_forked_process_makes_its_own_client(monkeypatch):
    first = webhook._client()
    assert webhook._client() is first
    monkeypatch.setattr(webhook.os, "getpid", lambda: -1)   # (as a work horse sees it after the fork)
    assert webhook._client() is not first
