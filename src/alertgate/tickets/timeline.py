"""A ticket's timeline as an answer shows it. A flapping master grows by two entries a flap
(40,001 after 20,000 flaps), and every answer that carried all of it grew with it: a ticket, a
page of the list, an action's answer. An answer shows the first ``FIRST`` entries (how it began)
and the newest ``NEWEST`` (what happens now), and says how many it left out between
(``timeline_omitted``); ``page`` serves ``GET /api/v1/tickets/{id}/timeline``, every entry by
its place."""

from __future__ import annotations

import msgspec

from alertgate.tickets.model import Ticket, TimelineEntry

FIRST, NEWEST = 20, 200


class TimelinePage(msgspec.Struct):
    entries: list[TimelineEntry]
    total: int                  # entries on the timeline
    next_offset: int | None     # pass as ?offset= for the next page; None on the last


def shown_in_answer(ticket: Ticket) -> Ticket:
    """The ticket with its first and newest entries only, if its timeline is longer."""
    first, omitted, newest = parts(ticket)
    if not omitted or ticket.timeline_omitted:
        return ticket
    return msgspec.structs.replace(ticket, timeline=first + newest, timeline_omitted=omitted)


def parts(ticket: Ticket) -> tuple[list[TimelineEntry], int, list[TimelineEntry]]:
    """(the first entries, how many are left out, the newest ones) of a ticket, read whole or as
    an answer shows it."""
    entries = ticket.timeline
    if ticket.timeline_omitted:
        return entries[:FIRST], ticket.timeline_omitted, entries[FIRST:]
    if len(entries) <= FIRST + NEWEST:
        return entries, 0, []
    return entries[:FIRST], len(entries) - FIRST - NEWEST, entries[-NEWEST:]


def page(timeline: list[TimelineEntry], offset: int, limit: int) -> TimelinePage:
    entries = timeline[offset:offset + limit]
    following = offset + limit if offset + limit < len(timeline) else None
    return TimelinePage(entries, len(timeline), following)
