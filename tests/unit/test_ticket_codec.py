"""Ticket ids and hashes (tickets/codec.py)."""

from __future__ import annotations

from alertgate.keys import master_of_duplicate
from alertgate.tickets.codec import from_hash
from alertgate.tickets.model import TicketKind


def test_a_duplicate_numbered_after_its_master_names_it_in_its_id():
    assert master_of_duplicate("INC-ABCDEFGHIJKLM-3-12") == "INC-ABCDEFGHIJKLM-3"
    assert master_of_duplicate("INC-ABCDEFGHIJKLM-3") is None  # a master, or an older duplicate


def test_a_duplicate_read_from_its_own_facts_gets_its_kind_and_master_from_its_id():
    raw = {b"status": b"open", b"created_at": b"1763780400.0", b"occurrence_id": b"am:x",
           b"alert_source": b"alertmanager"}
    ticket = from_hash(raw, ticket_id="INC-ABCDEFGHIJKLM-3-12")
    assert (ticket.kind, ticket.master_id, ticket.origin) == (TicketKind.DUPLICATE, "INC-ABCDEFGHIJKLM-3", "duplicate")
    assert ticket.updated_at == ticket.created_at
    legacy = from_hash({**raw, b"kind": b"duplicate", b"master_id": b"INC-ABCDEFGHIJKLM-1"},
                       ticket_id="INC-ABCDEFGHIJKLM-7")
    assert (legacy.kind, legacy.master_id) == (TicketKind.DUPLICATE, "INC-ABCDEFGHIJKLM-1")
    master = from_hash({**raw, b"kind": b"master", b"updated_at": b"1763780400.0"},
                       ticket_id="INC-ABCDEFGHIJKLM-3")
    assert (master.kind, master.master_id) == (TicketKind.MASTER, None)
