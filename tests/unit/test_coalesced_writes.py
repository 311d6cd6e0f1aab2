"""A connection's writes of one event-loop turn leave in one send; close sends what is pending."""

from __future__ import annotations

import asyncio

from alertgate.runtime.coalesced_writes import CoalescedWrites


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_head_and_body_of_a_response_leave_in_one_send():
    async def scenario() -> RecordingTransport:
        raw = RecordingTransport()
        writes = CoalescedWrites(raw, asyncio.get_running_loop())
        writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        writes.write(b"{}")
        assert raw.sent == [] and writes.get_write_buffer_size() == 40
        await asyncio.sleep(0)  # the end of the turn
        return raw

    raw = asyncio.run(scenario())
    assert raw.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_close_sends_what_is_pending_first():
    async def scenario() -> RecordingTransport:
        raw = RecordingTransport()
        writes = CoalescedWrites(raw, asyncio.get_running_loop())
        writes.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
        writes.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left and sends nothing
        return raw

    raw = asyncio.run(scenario())
    assert raw.sent == [b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n"] and raw.closed


def test_nothing_is_written_to_a_closed_transport_and_the_rest_is_the_transports():
    async def scenario() -> tuple[RecordingTransport, CoalescedWrites]:
        raw = RecordingTransport()
        writes = CoalescedWrites(raw, asyncio.get_running_loop())
        writes.write(b"late")
        raw.closed = True  # the peer went away before the turn ended
        await asyncio.sleep(0)
        return raw, writes

    raw, writes = asyncio.run(scenario())
    assert raw.sent == [] and writes.get_extra_info("peername") == "info:peername"
