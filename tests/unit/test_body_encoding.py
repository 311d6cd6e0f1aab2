"""A JSON body's encoding: a UTF-8 byte order mark (Notepad, PowerShell and Excel write one) is
read past; a body in UTF-16 or UTF-32 (PowerShell 5's ``>``) is refused saying so, not as "an
invalid character (byte 0)"."""

from __future__ import annotations

import gzip
import json

import pytest

from alertgate.intake.sources.common import PayloadError, decode_json, without_bom
from alertgate.intake.sources.findings import Finding

FINDING = {"ci": "db1", "title": "fan noise in rack 4", "observed_at": "2026-12-07T09:00:00Z"}
TEXT = json.dumps(FINDING, ensure_ascii=False)


def test_a_utf8_byte_order_mark_is_read_past():
    assert decode_json(b"\xef\xbb\xbf" + TEXT.encode(), Finding) == decode_json(TEXT.encode(), Finding)


def test_one_mark_only_and_a_bad_body_behind_it_is_named_as_such():
    with pytest.raises(PayloadError) as refused:
        decode_json(b"\xef\xbb\xbf" * 2 + TEXT.encode(), Finding)
    assert refused.value.error == "malformed JSON"
    with pytest.raises(PayloadError) as refused:
        decode_json(b"\xef\xbb\xbf{\"ci\": ", Finding)
    assert refused.value.error == "malformed JSON" and "UTF-16" not in refused.value.detail[0].message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_utf16_and_utf32_are_refused_naming_the_encoding(encoding):
    with pytest.raises(PayloadError) as refused:
        decode_json(TEXT.encode(encoding), Finding)
    assert refused.value.error == "malformed JSON"
    assert "UTF-16 or UTF-32" in refused.value.detail[0].message and refused.value.detail[0].path == "$"


def test_a_gzip_body_is_named_and_other_malformed_bodies_keep_msgspecs_message():
    with pytest.raises(PayloadError) as refused:
        decode_json(gzip.compress(TEXT.encode()), Finding)
    assert "gzip" in refused.value.detail[0].message and "UTF" not in refused.value.detail[0].message
    for body in (b"{oops", b"\x00", b"\x01\x00\x00", bytes(range(1, 9))):
        with pytest.raises(PayloadError) as refused:
            decode_json(body, Finding)
        assert "UTF" not in refused.value.detail[0].message and "gzip" not in refused.value.detail[0].message, body


def test_without_bom_leaves_other_bodies_alone():
    assert without_bom(b"{}") == b"{}" and without_bom(b"\xef\xbb\xbf{}") == b"{}" and without_bom(b"") == b""
