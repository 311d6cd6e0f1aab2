"""When the sweep asks for a closure reminder (workers/recovery.py), from a master's fields."""

from alertgate.workers.recovery import closure_reminder_due

DAY = 86400.0


def fields(**values) -> dict[str, bytes]:
    return {"status": b"resolved", **{k: str(v).encode() for k, v in values.items()}}


def test_first_reminder_after_one_period_numbered_one():
    assert closure_reminder_due(fields(resolved_at=1000.0), 1000.0 + DAY - 1, DAY) is None
    assert closure_reminder_due(fields(resolved_at=1000.0), 1000.0 + DAY, DAY) == 1


def test_sweeps_either_side_of_a_period_end_ask_for_the_same_reminder():
    """The CI failure: resolved long before, two sweeps before the first job ran, either side of
    a period's end, asked for reminders 30 and 31, and both were sent."""
    ticket = fields(resolved_at=0.0)
    assert closure_reminder_due(ticket, 61.9, 2.0) == closure_reminder_due(ticket, 62.1, 2.0) == 1


def test_the_next_counts_from_the_last_reminder():
    ticket = fields(resolved_at=0.0, closure_reminders=1, closure_reminded_at=5 * DAY)
    assert closure_reminder_due(ticket, 6 * DAY - 1, DAY) is None
    assert closure_reminder_due(ticket, 6 * DAY, DAY) == 2


def test_resolved_again_after_a_reopening_counts_from_the_new_resolution():
    ticket = fields(resolved_at=10 * DAY, closure_reminders=3, closure_reminded_at=4 * DAY)
    assert closure_reminder_due(ticket, 10.5 * DAY, DAY) is None
    assert closure_reminder_due(ticket, 11 * DAY, DAY) == 4


def test_not_resolved_unreadable_or_switched_off_asks_for_none():
    assert closure_reminder_due({"status": b"closed", "resolved_at": b"0"}, 10 * DAY, DAY) is None
    assert closure_reminder_due(fields(resolved_at="garbage"), 10 * DAY, DAY) is None
    assert closure_reminder_due(fields(resolved_at=0.0), 10 * DAY, 0.0) is None
    assert closure_reminder_due(fields(resolved_at=0.0, closure_reminded_at="x"), 10 * DAY, DAY) == 1
