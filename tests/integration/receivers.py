"""Real receivers for notices, in the test process: an SMTP server (aiosmtpd) and an HTTP server."""

from __future__ import annotations

import json
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from alertgate.runtime.embedded_redis import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def __enter__(self) -> "Mailbox":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def to(self, address: str) -> list:
        return [m for rcpts, m in self.messages if address in rcpts]


class WebhookSink:
    """Records every POST; answers with ``status`` (or sleeps ``delay`` first)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.raw: list[bytes] = []
        self.arrived: list[int] = []      # client ports, as requests arrive (before any delay)
        self.status = 200
        self.delay = 0.0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.arrived.append(self.client_address[1])
                time.sleep(sink.delay)
                sink.raw.append(body)
                sink.requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(sink.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "WebhookSink":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
