"""One socket write per response instead of one per ASGI message.

uvicorn writes a response's head and its body with a system call each. On a busy gateway those
sends are a large part of the time spent per request (on loopback the sender also pays for the
receiver's TCP work), so the writes a connection makes during one event-loop turn are gathered and
sent together at the end of it: the head and the body of a response in one send, and the
responses to pipelined requests too. Nothing waits longer than the current turn.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescedWrites:
    """Wraps a transport: ``write`` gathers, the next event-loop turn sends it all at once."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines: Any) -> None:  # (not left to __getattr__: it would jump the queue)
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._pending)

    def close(self) -> None:
        self.flush()  # a response answered with "connection: close" is still sent whole
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)
