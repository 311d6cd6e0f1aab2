"""Ticket ↔ Redis hash. Scalars are plain strings (so the Lua scripts can read and change them),
times are epoch seconds, ``''`` means absent, lists and maps are JSON; the timeline and the
duplicate ids live in lists beside the hash."""

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
SKIP_FIELDS = frozenset({"timeline"})
# A stored time outside these is shown as absent (the gateway takes none outside 1970–2200).
READABLE_FROM = datetime(1, 1, 2, tzinfo=timezone.utc)
READABLE_UNTIL = datetime(9999, 1, 1, tzinfo=timezone.utc)
_encode = msgspec.json.Encoder().encode
_timeline_decoder = msgspec.json.Decoder(TimelineEntry)


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


def from_hash(raw: Mapping[bytes, bytes], timeline: list[bytes] = (), ticket_id: str | None = None) -> Ticket:
    """A ticket from its hash. A duplicate is stored without ``id``, ``kind``, ``master_id``,
    ``origin`` and, until it changes, ``updated_at`` (``ingest.lua``); they are derived here (what
    it shows of its master is added by ``TicketStore.get``)."""
    data: dict[str, Any] = {}
    unreadable: list[str] = []
    for key, value in raw.items():
        name, text = key.decode(errors="replace"), value.decode(errors="replace")
        if text == "" or name not in Ticket.__struct_fields__:
            continue
        try:
            data[name] = _from_field(name, text, value)
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


def _from_field(name: str, text: str, value: bytes) -> Any:
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
