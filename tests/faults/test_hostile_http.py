"""Hostile HTTP against a real ``alertgate serve``: oversized heads get a 431 before they are read
whole, a head just under the bound and pipelined keep-alive requests still work."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import SOURCE_SECRET
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration


def exchange(base: str, request: bytes, responses: int = 1) -> bytes:
    """Send raw bytes; read until ``responses`` status lines arrived or the server closed."""
    host, port = base.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        try:
            while received.count(b"HTTP/1.1 ") < responses or not received.endswith((b"}", b"]")):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    return received


def head(extra: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n" + extra + b"\r\n"


def test_heads_over_64_kib_answer_431(gateway):
    for extra in (b"X-Big: " + b"a" * 100_000 + b"\r\n",
                  b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))):
        answer = exchange(gateway, head(extra))
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
        assert b'"error":"request head' in answer


def test_a_head_of_10_mb_is_refused_without_reading_it(gateway):
    answer = exchange(gateway, head(b"X-Huge: " + b"a" * 10_000_000 + b"\r\n"))
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert exchange(gateway, head(b"")).startswith(b"HTTP/1.1 200 ")  # and the server is fine


def test_large_but_bounded_heads_and_pipelined_requests_work(gateway):
    assert exchange(gateway, head(b"X-Ok: " + b"a" * 60_000 + b"\r\n")).startswith(b"HTTP/1.1 200 ")
    body = json.dumps(am_body(*(am_alert(f"Pipelined{i}") for i in range(200)))).encode()
    post = (b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + SOURCE_SECRET.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    answer = exchange(gateway, post + head(b"") + post, responses=3)
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer[:300]


def post_head(extra: bytes) -> bytes:
    return (b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + SOURCE_SECRET.encode() + b"\r\n" + extra + b"\r\n")


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_bodies_are_bounded_however_they_arrive(gateway):
    """The ingest routes read their bodies themselves (gateway/post_route.py): a chunked body is
    read whole, one past the 5 MiB limit is refused with 413 whether declared or streamed."""
    body = json.dumps(am_body(am_alert("Chunked"))).encode()
    thirds = (body[:10], body[10:len(body) // 2], body[len(body) // 2:])
    answer = exchange(gateway, post_head(b"Transfer-Encoding: chunked\r\n") + chunked(*thirds))
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"outcome":"new"' in answer, answer[:300]

    declared = exchange(gateway, post_head(b"Content-Length: 6000000\r\n") + b"[")
    assert declared.startswith(b"HTTP/1.1 413 ") and b"5242880 bytes" in declared, declared[:300]

    streamed = exchange(gateway, post_head(b"Transfer-Encoding: chunked\r\n") + chunked(*[b" " * 65536] * 96))
    assert streamed.startswith(b"HTTP/1.1 413 "), streamed[:300]
    assert exchange(gateway, head(b"")).startswith(b"HTTP/1.1 200 ")  # and the server is fine


@pytest.fixture
def impatient_gateway(gateway_env, tmp_path):
    from tests.conftest import serving

    with serving(gateway_env | {"ALERTGATE_HEAD_TIMEOUT": "1s", "ALERTGATE_BODY_TIMEOUT": "1s"}, tmp_path) as base:
        yield base


def slow_exchange(base: str, first: bytes, wait: float) -> bytes:
    """Send ``first``, then nothing for ``wait`` seconds; what came back by then."""
    import time

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(first)
        time.sleep(wait)
        sock.settimeout(3)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def test_a_head_or_a_body_that_dawdles_gets_408_and_the_connection_closed(impatient_gateway):
    """Issue #20: nothing limited the time to read a request's head or body (slowloris)."""
    half_head = b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: gateway\r\nX-Slow: "
    answer = slow_exchange(impatient_gateway, half_head, 2.0)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    body = json.dumps(am_body(am_alert())).encode()
    half_body = (b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + SOURCE_SECRET.encode() + b"\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
    answer = slow_exchange(impatient_gateway, half_body, 2.0)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    # an ordinary request on a fresh connection is untouched, and the server is fine
    ok = exchange(impatient_gateway, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")
