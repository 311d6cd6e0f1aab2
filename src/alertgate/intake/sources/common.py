"""Helpers every source uses: payload errors, CI extraction, Zabbix-style macros, hashing."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, TypeVar

import msgspec

T = TypeVar("T")
UNKNOWN = "unknown"

# A value Zabbix could not resolve arrives literally ({EVENT.RECOVERY.DATE}, {$ZABBIX.URL},
# {#LLD}, {?expression}); values it cannot compute arrive as *UNKNOWN*. Both mean "absent".
_UNRESOLVED = re.compile(r"^\s*(\{[^{}\s]+\}|\*UNKNOWN\*)\s*$")
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<within>[^`]*)`)?)?$", re.S)


class ErrorDetail(msgspec.Struct, frozen=True):
    """Where in the input (a JSON path, a query parameter, a rule file's file:line) and what is wrong:
    the one shape of every 400's ``detail``."""

    path: str
    message: str


class PayloadError(Exception):
    """Input that can never be accepted (HTTP 400), with the paths at fault."""

    def __init__(self, error: str, detail: Iterable[ErrorDetail] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.detail = list(detail)


class SourceContext(msgspec.Struct, frozen=True):
    """What normalization needs besides the payload: the clock and the label settings. (A Struct:
    one is made per request, and a frozen dataclass's __init__ costs several times as much.)"""

    received_at: datetime
    ci_labels: tuple[str, ...]
    symptom_labels: tuple[str, ...] = ()
    # called with the number of alerts the sender says it left out of this delivery (Alertmanager's
    # ``truncatedAlerts`` under ``max_alerts``): they will never arrive, so someone must hear of it
    on_truncated: Callable[[int], None] | None = None


@functools.lru_cache(maxsize=None)  # one per payload type; a kept Decoder decodes faster
def _decoder(type_: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(type_)


UTF8_BOM = b"\xef\xbb\xbf"


def without_bom(body: bytes) -> bytes:
    """The body without a leading UTF-8 byte order mark. JSON over HTTP carries none, but a
    parser may ignore one (RFC 8259 §8.1), and Windows tools write one: Notepad's and
    PowerShell's "UTF8", Excel's "CSV UTF-8"."""
    return body[len(UTF8_BOM):] if body.startswith(UTF8_BOM) else body


def decode_json(body: bytes, type_: type[T]) -> T:
    """Decode a JSON body into ``type_``; malformed or mistyped input raises PayloadError. A body
    that starts with a UTF-8 byte order mark is read without it (looked for only once the body
    failed to decode as it is)."""
    try:
        return _decoded(body, type_)
    except msgspec.DecodeError as exc:
        message = str(exc)
    if body.startswith(UTF8_BOM):
        try:
            return _decoded(without_bom(body), type_)
        except msgspec.DecodeError as exc:
            message = str(exc)
    raise PayloadError("malformed JSON", [ErrorDetail("$", _not_utf8(body) or message)]) from None


def _decoded(body: bytes, type_: type[T]) -> T:
    """``type_`` from ``body``; a mistyped value or too deep a nesting is a PayloadError, a body
    that is no JSON a ``msgspec.DecodeError``."""
    try:
        return _decoder(type_).decode(body)
    except msgspec.ValidationError as exc:
        match = _MSGSPEC_PATH.match(str(exc))
        assert match is not None
        path, message = match.group("path") or "$", match.group("message")
        if match.group("within"):  # a map's key: "at `key` in `$.alerts[0].labels`"
            path, message = match.group("within"), f"a key: {message}"
        raise PayloadError("invalid payload", [ErrorDetail(path, message)]) from None
    except RecursionError:  # msgspec's bound on nesting, even inside a key it would skip
        raise PayloadError("malformed JSON", [ErrorDetail("$", "nested too deeply")]) from None


# The first two characters of a JSON text in UTF-32BE, UTF-32LE, UTF-16BE, UTF-16LE (RFC 4627 §3).
_WIDE = re.compile(rb"\x00\x00\x00[^\x00]|[^\x00]\x00\x00\x00|\x00[^\x00]\x00[^\x00]|[^\x00]\x00[^\x00]\x00", re.S)


def _not_utf8(body: bytes) -> str | None:
    """What msgspec reports only as an invalid character at byte 0 or 1, when it is one of two
    mistakes a sender can mend: a body in UTF-16 or UTF-32 (PowerShell 5's ``>`` and ``Out-File``
    write UTF-16; known by its byte order mark, or by the NULs of its first two characters, which
    are ASCII: RFC 4627 §3), or a compressed body (alertgate reads no ``Content-Encoding``)."""
    head = body[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) == 4 and _WIDE.match(head)):
        return "the body is UTF-16 or UTF-32: send JSON as UTF-8 (RFC 8259 §8.1)"
    if head.startswith(b"\x1f\x8b"):
        return "the body is gzip-compressed: send it uncompressed (no Content-Encoding)"
    return None


# The times a sender may give (issue #20): anything else is refused with 400 naming its path.
# A time outside the years 1–9999 once in UTC was stored, and then broke every read of it.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
TIME_RANGE = "from 1970-01-01 to 2200-01-01 (UTC)"


def sane_time(value: datetime, path: str) -> datetime:
    """``value`` in UTC if it lies in the accepted range, else PayloadError naming ``path``."""
    try:
        utc = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PayloadError("invalid payload", [ErrorDetail(path, f"{value.isoformat()} is not a time {TIME_RANGE}")])
    return utc


def present(value: Any) -> str | None:
    """The value as text, or None when empty or an unresolved macro."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if not text or text.isspace():
        return None
    if ("{" in text or "*" in text) and _UNRESOLVED.match(text):  # (the test alone is slower)
        return None
    return text


def strip_port(instance: str) -> str:
    """``host:9100`` → ``host``; ``[::1]:9100`` → ``::1``; a bare IPv6 address stays as it is."""
    if instance.startswith("["):
        end = instance.find("]")
        return instance[1:end] if end > 0 else instance
    host, sep, port = instance.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return instance


def ci_from_labels(labels: Mapping[str, str], precedence: Iterable[str]) -> str:
    """The first present label of ``precedence``; ``instance`` loses its port; else ``unknown``."""
    for name in precedence:
        value = present(labels.get(name))
        if value is not None:
            if name == "instance":
                value = strip_port(value)
                if not value or value.isspace():   # (":9100" names no host)
                    continue
            return value
    return UNKNOWN


def stable_hash(*parts: bytes | str) -> str:
    """A 128-bit hex digest of the parts, unambiguous about where one part ends."""
    framed = []
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        framed += (len(data).to_bytes(8, "big"), data)
    return hashlib.blake2b(b"".join(framed), digest_size=16).hexdigest()  # (one update: the same digest)
