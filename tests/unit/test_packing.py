"""Commands packed by hiredis in one call are the bytes redis-py's own packing sends; what hiredis
refuses is packed (or refused) by redis-py as before."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from alertgate.runtime.packing import connection_class_for

PACKING = connection_class_for("redis://127.0.0.1:6379/0")()
PLAIN = Connection()


def both(*args: object) -> tuple[bytes, bytes]:
    return b"".join(PACKING.pack_command(*args)), b"".join(PLAIN.pack_command(*args))


argument = st.one_of(st.text(), st.binary(), st.integers(min_value=-(2**80), max_value=2**80),
                     st.floats(allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(argument, max_size=12))
def test_arguments_are_packed_as_redis_py_packs_them(args: list) -> None:
    packed, plain = both("EVALSHA", *args)
    assert packed == plain


class Level(enum.IntEnum):
    HIGH = 1


class Name(str, enum.Enum):
    DISK = "disk"


@pytest.mark.parametrize("args", [
    ("SCRIPT LOAD", "return 1"),                 # a command of two words is split
    (b"CLIENT SETNAME", "x"),
    ("SET", "k", bytearray(b"v")),               # what hiredis refuses, redis-py packs
    ("SET", "k", memoryview(b"v" * 10_000)),
    ("SET", "k", Level.HIGH),
    ("SET", "k", Name.DISK),
    ("HSET", "ключ", "значение", "due", 1796524487.885543, "inf", float("inf")),
])
def test_what_hiredis_does_not_take_is_packed_by_redis_py(args: tuple) -> None:
    packed, plain = both(*args)
    assert packed == plain


def test_a_bool_is_refused_as_redis_py_refuses_it() -> None:
    with pytest.raises(DataError):
        PACKING.pack_command("SET", "k", True)


@pytest.mark.parametrize(("url", "base"), [("redis://h:6379/0", Connection), ("rediss://h:6380/0", SSLConnection),
                                           ("unix:///run/redis.sock", UnixDomainSocketConnection)])
def test_the_connection_is_the_one_redis_py_would_choose_for_the_url(url: str, base: type) -> None:
    chosen = connection_class_for(url)
    assert issubclass(chosen, base) and chosen is connection_class_for(url)
