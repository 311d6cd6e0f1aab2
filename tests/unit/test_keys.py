"""Key names: a key's tag is base32 of its hash, as ``base64.b32encode`` writes it."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.keys import base32_of_64_bits


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=8, max_size=8))
def test_base32_of_64_bits_is_b32encode_without_padding(digest: bytes) -> None:
    assert base32_of_64_bits(digest) == base64.b32encode(digest).decode().rstrip("=")


def test_the_extremes() -> None:
    for digest in (bytes(8), b"\xff" * 8, b"\x80" + bytes(7), bytes(7) + b"\x01"):
        assert base32_of_64_bits(digest) == base64.b32encode(digest).decode().rstrip("=")
