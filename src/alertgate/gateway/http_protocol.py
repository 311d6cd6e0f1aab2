"""uvicorn's httptools protocol with a bound on a request's head (request line and headers).

httptools gathers a header in memory until it ends, with no limit of its own: a 10 MB header was
read whole. Here the head is fed to the parser at most ``MAX_HEAD_BYTES`` at a time; a head that
does not end within that many bytes is answered 431 and the connection closed. (uvicorn's h11
protocol has ``h11_max_incomplete_event_size`` for the same; ``alertgate serve`` sets both.)

Its writes are coalesced (``coalesced_writes``): a response leaves in one send, not two.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alertgate.gateway.coalesced_writes import CoalescedWrites
from alertgate.observability.metrics import rejected_counter
from alertgate.observability.rejections import Rejections

MAX_HEAD_BYTES = 64 * 1024
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


def _peer(transport) -> str | None:  # type: ignore[no-untyped-def]
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else None


class BoundedHeadHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        self.transport = CoalescedWrites(transport, self.loop)  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
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
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # a pipelined request may follow
