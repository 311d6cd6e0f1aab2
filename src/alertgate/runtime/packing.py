"""Commands packed for the wire by hiredis in one call (issue #27).

redis-py packs a command with hiredis too, but first passes every argument through its encoder
in Python, one call per argument: about 0.5 µs each. A dispatch sends some 80 arguments: that
was a quarter of the dispatcher's CPU (``bench/README.md``). (The gateway's ingest calls are
packed by hiredis already, ``dedup/calls.py``; this is for every other call: the workers, the
ticket API's reads and actions.)

``hiredis.pack_command`` takes the same str, bytes, int and float arguments and writes the same
bytes (UTF-8, floats as ``repr``: ``tests/unit/test_packing.py``); what it refuses (a bool, a
memoryview, a bytearray, an ``IntEnum``) redis-py packs as before, raising what it raises.

Used by the state Redis's asyncio client on a single server (``connections.connect_state``);
a Cluster's client builds its connections itself and keeps redis-py's packing.
"""

from __future__ import annotations

import functools
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, parse_url

try:
    import hiredis
except ImportError:   # (redis[hiredis] is a dependency; without it, redis-py packs)
    hiredis = None


class HiredisPacking:
    """Mixed into a redis-py asyncio connection class before it."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        # (a command name with a space, "SCRIPT LOAD", is split into words by redis-py)
        if hiredis is not None and (type(first) is str and " " not in first or type(first) is bytes and b" " not in first):
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return super().pack_command(*args)   # type: ignore[misc]


@functools.cache
def _packing(base: type[AbstractConnection]) -> type[AbstractConnection]:
    return type(f"HiredisPacking{base.__name__}", (HiredisPacking, base), {})


def connection_class_for(url: str) -> type[AbstractConnection]:
    """The connection class redis-py would choose for ``url`` (TCP, TLS or a Unix socket), packing
    with hiredis."""
    return _packing(parse_url(url).get("connection_class", Connection))
