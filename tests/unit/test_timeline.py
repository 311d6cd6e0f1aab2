"""A ticket's timeline as answers show it (tickets/timeline.py), pure."""

from __future__ import annotations

from datetime import UTC, datetime

from alertgate.tickets.model import Ticket, TicketSource, TimelineEntry
from alertgate.tickets.timeline import FIRST, NEWEST, page, parts, shown_in_answer

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def ticket(entries: int) -> Ticket:
    return Ticket(id="INC-X-1", source=TicketSource.MONITORING, ci="web1", title="t", created_at=NOW, updated_at=NOW,
                  timeline=[TimelineEntry(at=NOW, actor="alertgate", action="comment", note=str(n)) for n in range(entries)])


def test_a_timeline_up_to_220_entries_is_shown_whole():
    whole = ticket(FIRST + NEWEST)
    assert shown_in_answer(whole) is whole and parts(whole) == (whole.timeline, 0, [])


def test_a_longer_one_shows_its_first_and_newest_and_counts_the_rest_once():
    whole = ticket(1000)
    answer = shown_in_answer(whole)
    assert [e.note for e in answer.timeline] == [str(n) for n in (*range(20), *range(800, 1000))]
    assert answer.timeline_omitted == 780
    assert shown_in_answer(answer) is answer                     # (shown twice: the same)
    first, omitted, newest = parts(answer)
    assert (len(first), omitted, len(newest)) == (20, 780, 200) == (len(parts(whole)[0]), parts(whole)[1], 200)


def test_pages_walk_every_entry_by_place():
    entries = ticket(1001).timeline
    first, second, last = page(entries, 0, 500), page(entries, 500, 500), page(entries, 1000, 500)
    assert (first.next_offset, second.next_offset, last.next_offset) == (500, 1000, None)
    assert first.entries + second.entries + last.entries == entries and last.total == 1001
    assert page(entries, 5000, 10).entries == [] and page(entries, 5000, 10).next_offset is None
    assert page(entries, 501, 500).next_offset is None
