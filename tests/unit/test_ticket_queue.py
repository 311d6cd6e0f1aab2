"""The work queue (tickets/queue.py): priority first, then the soonest unmet SLA deadline; each
clock pending, ok, warning (less than a fifth left) or breached; the console's filters."""

from datetime import UTC, datetime, timedelta

from alertgate.tickets.model import SlaEntry, SlaTarget, Ticket, TicketStatus
from alertgate.tickets import queue

NOW = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


def ticket(id_: str, priority: int, due_in: float | None, **fields) -> Ticket:
    sla = [SlaEntry(target=SlaTarget.ASSIGNMENT, due_at=NOW + timedelta(minutes=due_in), minutes=60)] if due_in is not None else []
    return Ticket(id=id_, priority=priority, sla=sla, created_at=NOW, updated_at=NOW, **fields)


def test_priority_first_then_the_next_deadline_none_last():
    tickets = [ticket("a", 3, 5), ticket("b", 1, 50), ticket("c", 1, 10), ticket("d", 1, None), ticket("e", 2, 1)]
    assert [t.id for t in queue.ordered(tickets)] == ["c", "b", "d", "e", "a"]


def test_clock_states():
    entry = lambda minutes_left, **kw: SlaEntry(target=SlaTarget.RESOLUTION, minutes=100,  # noqa: E731
                                                due_at=NOW + timedelta(minutes=minutes_left), **kw)
    assert queue.clock_state(entry(50), NOW) == "ok"
    assert queue.clock_state(entry(19), NOW) == "warning"
    assert queue.clock_state(entry(0), NOW) == "breached"
    assert queue.clock_state(entry(50, breached=True), NOW) == "breached"
    assert queue.clock_state(SlaEntry(target=SlaTarget.ACCEPTANCE, minutes=30), NOW) == "pending"
    assert queue.clock_state(None, NOW) == "none"


def test_filters_and_the_digest():
    late = ticket("late", 2, -1, ci="db1", assignment_group="dba", alert_source="zabbix", status=TicketStatus.ASSIGNED)
    fine = ticket("fine", 2, 30, ci="web1", route_group="web", alert_source="alertmanager")
    both = [late, fine]
    pick = lambda **kw: [t.id for t in both if queue.QueueFilter(**kw).matches(t, NOW)]  # noqa: E731
    assert pick(breached=True) == ["late"] and pick(breached=False) == ["fine"]
    assert pick(group="web") == ["fine"] and pick(group="dba") == ["late"]
    assert pick(sender="zabbix", status="assigned", ci="db1") == ["late"]
    assert pick(assignee="nobody") == []
    assert queue.digest(both) == queue.digest(list(reversed(both)))
    assert queue.digest(both) != queue.digest([late])


def test_the_api_queue_is_the_soonest_deadline_first_and_filters_on_due_before():
    """Issue #26, item 11 (handbook §3.1.3): the work queue sorted by the next SLA due."""
    tickets = [ticket("a", 3, 5), ticket("b", 1, 50), ticket("c", 2, -3), ticket("d", 1, None)]
    assert [t.id for t in queue.by_next_due(tickets)] == ["c", "a", "b", "d"]
    due = queue.QueueFilter(due_before=NOW + timedelta(minutes=10))
    assert [t.id for t in tickets if due.matches(t, NOW)] == ["a", "c"]


def test_a_shortlist_offered_chunks_keeps_what_a_sort_of_them_all_gives():
    """tickets/shortlist.py: the queue read a chunk at a time, only the first few kept."""
    import random

    from alertgate.tickets.shortlist import Shortlist

    rng = random.Random(7)
    tickets = [ticket(f"t{n:04}", rng.randint(1, 4), rng.choice([None, *range(-30, 60)])) for n in range(2_000)]
    for key in (queue.priority_first, queue.soonest_due_first):
        for size in (1, 7, 300, 5_000):
            shortlist = Shortlist(key, size)
            for start in range(0, len(tickets), 333):
                shortlist.offer(iter(tickets[start:start + 333]))
            assert [t.id for t in shortlist.first] == [t.id for t in sorted(tickets, key=key)[:size]]
            assert shortlist.more == max(0, len(tickets) - size)


def test_the_digest_is_the_same_whatever_the_chunks_and_moves_with_each_ticket():
    tickets = [ticket(f"t{n}", 3, n) for n in range(50)]
    whole = queue.Digest()
    whole.offer(tickets)
    chunked = queue.Digest()
    for start in range(0, 50, 7):
        chunked.offer(list(reversed(tickets[start:start + 7])))
    assert whole.value() == chunked.value() == queue.digest(tickets)
    assigned = [*tickets[:-1], ticket("t49", 3, 49, assignee="li")]
    assert queue.digest(assigned) != queue.digest(tickets)
    assert queue.digest(tickets[:-1]) != queue.digest(tickets)
