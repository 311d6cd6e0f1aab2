"""A firing alert a maintenance window holds, as the ingest script keeps it until the release
(workers/maintenance_release.py) sends it through the pipeline.

A storm inside a window is many occurrences of few keys, so the alert is kept once per key and
window: the key's copy (``pack``: the normalized alert as msgpack, in the key's state as
``held:<window>``), and per occurrence only what is its own (``held_ref``, written by the script:
tag, occurrence id, delivery id, outage start). A duplicate outside a window keeps no more of its
own: the master it joins has the content. The gateway packs an alert only for the first
occurrence of a key it sees held by a window (``DedupStore``); packing every one cost the storm
2.4% (storm-1) to 3.6% (storm-50) more instructions than outside a window (bench/README.md).
Records from before this layout keep the whole alert per occurrence (``held``); both are read."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from alertgate.tickets.alert import Alert

pack = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Alert).decode
_decode_ref = msgspec.msgpack.Decoder(tuple[str, str, str, str]).decode


def copy_field(window_id: str) -> str:
    """The field of a key's state that holds its alert for a window (dedup/ingest.lua)."""
    return f"held:{window_id}"


def tag_of(ref: bytes) -> str:
    """The dedup tag a held occurrence's reference names; raises ValueError when unreadable."""
    return _decode_ref(ref)[0]


def unpack(raw: bytes, received_at: datetime) -> Alert:
    """A held alert kept whole; raises ValueError (msgspec's errors are ValueErrors) when unreadable."""
    return msgspec.structs.replace(_decode(raw), received_at=received_at)


def unpack_ref(copy: bytes, ref: bytes, received_at: datetime) -> Alert:
    """The held occurrence ``ref`` names: its key's copy with the occurrence's own id, delivery
    and outage start. Raises ValueError when either is unreadable."""
    _, occurrence_id, delivery_id, observed = _decode_ref(ref)
    try:
        observed_at = datetime.fromtimestamp(float(observed), UTC)
    except (OverflowError, OSError) as error:
        raise ValueError(f"outage start {observed!r}") from error
    return msgspec.structs.replace(_decode(copy), occurrence_id=occurrence_id, delivery_id=delivery_id,
                                   observed_at=observed_at, received_at=received_at)
