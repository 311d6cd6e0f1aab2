"""uvicorn's httptools protocol with a bound on a request's head (request line and headers).

httptools gathers a header in memory until it ends, with no limit of its own: a 10 MB header was
read whole. Here the head is fed to the parser at most ``MAX_HEAD_BYTES`` at a time; a head that
does not end within that many bytes is answered 431 and the connection closed. (uvicorn's h11
protocol has ``h11_max_incomplete_event_size`` for the same; ``alertgate serve`` sets both.)

A request must also arrive in time (issue #20: slow clients held connections as long as they
liked): its head within ``HEAD_TIMEOUT`` of its first byte, its body within ``BODY_TIMEOUT`` of
its head (settings ``head_timeout``, 10 s, and ``body_timeout``, 30 s). Past either the client
gets 408 and the connection is closed. Alertmanager's and
Zabbix's own timeouts (10 s by default, 15 s in the shipped media type) end their side sooner,
so a real sender never meets these; a slowloris does. Idle keep-alive connections are closed by
uvicorn's own ``timeout_keep_alive`` (5 s).

Its writes are coalesced (``coalesced_writes``): a response leaves in one send, not two.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alertgate.runtime.coalesced_writes import CoalescedWrites
from alertgate.observability.metrics import rejected_counter
from alertgate.observability.rejections import Rejections
from alertgate.settings import load_settings

MAX_HEAD_BYTES = 64 * 1024
_TIMEOUT_BODY = b'{"error":"request not received in time","detail":[]}'
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: "
                     + str(len(_TIMEOUT_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _TIMEOUT_BODY)
_BODY = b'{"error":"request head (request line and headers) larger than 65536 bytes","detail":[]}'
_RESPONSE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
             b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _BODY)


_rejections: list[Rejections] = []


def _head_rejections() -> Rejections:
    """One per server process, made at the first 431 (the app's own counts the other refusals;
    both write to the multiprocess metric files the gateway's /metrics reads)."""
    if not _rejections:
        _rejections.append(Rejections(rejected_counter(None)))
    return _rejections[0]


_read_timeouts: list[tuple[float, float]] = []


def _timeouts() -> tuple[float, float]:
    """(head, body) seconds from the settings, read once per server process."""
    if not _read_timeouts:
        settings = load_settings()
        _read_timeouts.append((float(settings.head_timeout), float(settings.body_timeout)))
    return _read_timeouts[0]


def _peer(transport) -> str | None:  # type: ignore[no-untyped-def]
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else None


class BoundedHeadHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._answered = False  # the app started its response: a late body is the app's to judge

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, reason: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        _head_rejections().record("unmatched", 408, reason, None, _peer(self.transport))
        if not self._answered:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self._disarm()
        super().connection_lost(exc)

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        self.transport = CoalescedWrites(transport, self.loop)  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if data and self._in_head and self._head_bytes == 0 and self._deadline is None:
            self._arm(_timeouts()[0], "head_too_slow")  # from a request's first byte
        while data and self._in_head:
            room = MAX_HEAD_BYTES - self._head_bytes
            if room <= 0:
                _head_rejections().record("unmatched", 431, "head_too_large", None, _peer(self.transport))
                self.transport.write(_RESPONSE)
                self.transport.close()
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._answered = False
        self._arm(_timeouts()[1], "body_too_slow")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # a pipelined request may follow
