"""Ticket ↔ Redis hash. Scalars are plain strings (so the Lua scripts can read and change them),
times are epoch seconds, ``''`` means absent, lists and maps are JSON; the timeline and the
duplicate ids live in lists beside the hash.

A master the ingest script creates keeps its content (``PACKED_FIELDS``: what no script and no
list reads by name) in one msgpack map, the hash's ``packed`` field (issue #27: each argument of
the script's write costs Redis about 1,700 instructions). Written once, never rewritten: a later
change of such a field is written as a field of its own, which wins over the packed value. A
hash without ``packed`` (a ticket stored before, a user's report) reads as it always did."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

import msgspec

from alertgate.keys import master_of_duplicate
from alertgate.tickets.model import SlaTarget, Ticket, TimelineEntry

TIME_FIELDS = frozenset({
    "created_at", "updated_at", "resolved_at", "closed_at", "last_occurrence_at", "suspended_at", "closure_reminded_at",
    "reconcile_gone_at", "promoted_at", "suspended_until", "verified_at", "third_party_at",
    "outage_start", "outage_end",
})
JSON_FIELDS = frozenset({"sla", "labels", "links", "channels", "suggested_masters"})
BOOL_FIELDS = frozenset({"ci_operational"})
SKIP_FIELDS = frozenset({"timeline", "timeline_omitted"})
FIELD_NAMES = frozenset(Ticket.__struct_fields__)
_NAME_BYTES = {name: name.encode() for name in FIELD_NAMES}   # (a stored field's key)
PACKED = "packed"
# A new master's fields the ingest script packs: none of them is read by name by a Lua script, the
# ticket list's filters or the sweeps (the work queue and a duplicate's view of its master read
# them with ``packed``: ``names_to_read``, ``picked``).
PACKED_FIELDS = frozenset({
    "ci_raw", "symptom", "title", "description", "severity", "category", "area", "subarea", "nature",
    "affected_service", "impact", "urgency", "route_group", "escalation_policy", "location", "storm_masters",
    "storm_window", "sla", "labels", "links", "channels",
})
# A stored time outside these is shown as absent (the gateway takes none outside 1970–2200).
READABLE_FROM = datetime(1, 1, 2, tzinfo=timezone.utc)
READABLE_UNTIL = datetime(9999, 1, 1, tzinfo=timezone.utc)
_encode = msgspec.json.Encoder().encode
_timeline_decoder = msgspec.json.Decoder(TimelineEntry)
_pack = msgspec.msgpack.Encoder().encode
_packed_decoder = msgspec.msgpack.Decoder(dict[str, str])


def to_field(name: str, value: Any) -> str | bytes:
    if value is None:
        return ""
    if name in TIME_FIELDS:
        return repr(value.timestamp())
    if name in JSON_FIELDS:
        return _encode(value)
    if name in BOOL_FIELDS:
        return "1" if value else "0"
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def to_hash(ticket: Ticket, only: set[str] | None = None) -> dict[str, str | bytes]:
    names = only if only is not None else set(ticket.__struct_fields__) - SKIP_FIELDS
    return {name: to_field(name, getattr(ticket, name)) for name in names}


def pack(fields: Mapping[str, str | bytes]) -> list[str | bytes]:
    """A new master's fields as the ingest script takes them (field, value pairs): those of
    ``PACKED_FIELDS`` as one ``packed`` value, the others each a field of their own."""
    apart: list[str | bytes] = []
    packed: dict[str, str] = {}
    for name, value in fields.items():
        if name in PACKED_FIELDS:
            packed[name] = value.decode() if isinstance(value, bytes) else value
        else:
            apart += [name, value]
    return apart + [PACKED, _pack(packed)] if packed else apart


def unpacked(raw: Mapping[bytes, bytes]) -> Mapping[bytes, bytes]:
    """The hash with its ``packed`` value spread into fields; a field of its own wins (it was
    written later). A value that cannot be read adds nothing (``from_hash`` names it)."""
    value = raw.get(PACKED.encode())
    if value is None:
        return raw
    try:
        packed = _packed_decoder.decode(value)
    except (msgspec.MsgspecError, RecursionError):
        packed = {}
    spread = {name.encode(): v.encode() for name, v in packed.items()}
    spread.update(raw)
    return spread


def names_to_read(names: tuple[str, ...]) -> tuple[str, ...]:
    """What to ``HMGET`` for ``names``: with ``packed`` if any of them may be in it."""
    return (*names, PACKED) if any(name in PACKED_FIELDS for name in names) else names


def picked(names: tuple[str, ...], values: list[bytes | None]) -> dict[str, bytes | None]:
    """``names`` → value, from an ``HMGET`` of ``names_to_read(names)``."""
    found = dict(zip(names, values))
    if len(values) > len(names) and values[-1] is not None:
        try:
            content = _packed_decoder.decode(values[-1])
        except (msgspec.MsgspecError, RecursionError):
            content = {}   # (``from_hash`` names what cannot be read)
        for name in names:
            if found[name] is None and (value := content.get(name)) is not None:
                found[name] = value.encode()
    return found


def from_hash(raw: Mapping[bytes, bytes], timeline: list[bytes] = (), ticket_id: str | None = None) -> Ticket:
    """A ticket from its hash. A duplicate is stored without ``id``, ``kind``, ``master_id``,
    ``origin`` and, until it changes, ``updated_at`` (``ingest.lua``); they are derived here (what
    it shows of its master is added by ``TicketStore.get``)."""
    data: dict[str, Any] = {}
    unreadable: list[str] = []
    for key, value in raw.items():
        name, text = key.decode(errors="replace"), value.decode(errors="replace")
        if text == "" or name not in FIELD_NAMES:
            continue
        try:
            data[name] = _from_field(name, text, value)
        except (ValueError, OverflowError, OSError, msgspec.DecodeError, RecursionError):
            unreadable.append(name)
    packed = raw.get(PACKED.encode())
    if packed is not None:   # (a field of its own wins: it was written later; no merged copy of the hash)
        try:
            content = _packed_decoder.decode(packed)
        except (msgspec.MsgspecError, RecursionError):
            unreadable.append(PACKED)
            content = {}
        for name, text in content.items():
            if text == "" or name not in FIELD_NAMES or _NAME_BYTES[name] in raw:
                continue
            try:
                data[name] = _from_field(name, text, text)
            except (ValueError, OverflowError, OSError, msgspec.DecodeError, RecursionError):
                unreadable.append(name)
    if ticket_id is not None:
        data.setdefault("id", ticket_id)
        master_id = master_of_duplicate(ticket_id)
        if master_id is not None:
            data.setdefault("kind", "duplicate")
            data.setdefault("master_id", master_id)
    if data.get("kind") == "duplicate":
        data.setdefault("origin", "duplicate")
        data.setdefault("updated_at", data.get("created_at"))
    ticket = _convert(data, unreadable)
    entries = []
    for item in timeline:
        try:
            entries.append(_timeline_decoder.decode(item))
        except (msgspec.MsgspecError, RecursionError):
            unreadable.append("timeline")
    if unreadable:  # shown, never stored: the record stays as it is for whoever mends it
        entries.append(TimelineEntry(at=ticket.updated_at, actor="alertgate", action="unreadable",
                                     note="stored values that could not be read: " + ", ".join(sorted(set(unreadable)))))
    return msgspec.structs.replace(ticket, sla=_resolution_met(ticket), timeline=entries)


def _from_field(name: str, text: str, value: bytes | str) -> Any:
    if name in TIME_FIELDS:
        moment = datetime.fromtimestamp(float(text), tz=timezone.utc)
        if not READABLE_FROM <= moment < READABLE_UNTIL:  # arithmetic on it could overflow
            raise ValueError(name)
        return moment
    if name in JSON_FIELDS:
        return msgspec.json.decode(value)
    if name in BOOL_FIELDS:
        return text == "1"
    return text


def _convert(data: dict[str, Any], unreadable: list[str]) -> Ticket:
    """The Ticket, leaving out (and naming in ``unreadable``) each value it cannot take: one bad
    record must never break a read (issue #20)."""
    epoch = datetime.fromtimestamp(0, tz=timezone.utc)
    required = {"id": "unknown", "created_at": epoch}
    for _ in range(len(data) + 4):
        try:
            return msgspec.convert(data, Ticket, strict=False)
        except msgspec.ValidationError as exc:
            field = _field_of(str(exc))
            if field in data:
                unreadable.append(field)
                del data[field]
            elif field in required or field == "updated_at":
                data[field] = data.get("created_at", epoch) if field == "updated_at" else required[field]
            else:
                break
    return msgspec.convert({"id": data.get("id", "unknown"), "created_at": epoch, "updated_at": epoch},
                           Ticket, strict=False)


def _field_of(message: str) -> str | None:
    found = re.search(r"at `\$\.([A-Za-z_]+)", message) or re.search(r"missing required field `([^`]+)`", message)
    return found.group(1) if found else None


def _resolution_met(ticket: Ticket) -> list:
    # A recovery resolves a master inside the ingest script, which leaves the SLA list alone;
    # the resolution target was met when the ticket was resolved.
    if ticket.resolved_at is None:
        return ticket.sla
    return [msgspec.structs.replace(e, met_at=ticket.resolved_at,
                                    breached=e.breached or (e.due_at is not None and ticket.resolved_at > e.due_at))
            if e.target is SlaTarget.RESOLUTION and e.met_at is None else e for e in ticket.sla]
