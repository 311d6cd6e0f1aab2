"""A firing alert a maintenance window holds, as the ingest script keeps it until the release
(workers/maintenance_release.py) sends it through the pipeline: the normalized alert as msgpack
(msgspec encodes the struct's fields by offset: about 450 ns an alert, cheaper than JSON, and
than an array of its fields read one by one). The release gives it its own moment as
``received_at``."""

from __future__ import annotations

from datetime import datetime

import msgspec

from alertgate.tickets.alert import Alert

pack = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Alert).decode


def unpack(raw: bytes, received_at: datetime) -> Alert:
    """The held alert; raises ValueError (msgspec's errors are ValueErrors) when unreadable."""
    return msgspec.structs.replace(_decode(raw), received_at=received_at)
