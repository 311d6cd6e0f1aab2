"""Which masters the sweep takes out of the masters index (workers/recovery.py ``settled``)."""

from alertgate.workers.recovery import SWEEP_ATTEMPTS, settled


def fields(status: bytes, **values) -> dict[str, bytes]:
    return {"status": status, **{k: str(v).encode() for k, v in values.items()}}


def test_a_closed_master_that_owes_nothing_is_settled():
    assert settled(fields(b"closed", dispatched_for=0))


def test_a_master_not_closed_is_never_settled():
    for status in (b"open", b"assigned", b"in_progress", b"pending_change", b"suspended", b"resolved"):
        assert not settled(fields(status))
    assert not settled({"status": None})


def test_owed_work_keeps_it_until_done_or_given_up():
    for kind in ("restoration", "replan", "problem_on_close"):
        assert not settled(fields(b"closed", **{f"owed_{kind}": 1.0}))
        assert not settled(fields(b"closed", **{f"owed_{kind}": 1.0, f"swept_{kind}": SWEEP_ATTEMPTS}))
        assert settled(fields(b"closed", **{f"owed_{kind}": 1.0, f"swept_{kind}": SWEEP_ATTEMPTS + 1}))


def test_a_dispatch_or_timer_mark_left_on_a_closed_master_owes_nothing():
    """(both are owed only while the master is unresolved: recovery.owed_work)"""
    assert settled(fields(b"closed", owed_dispatch=1.0, next_timer_at=1.0))


def test_the_list_filters_script_knows_what_a_duplicate_shows_of_its_master():
    """(tickets/scripts.py ``FILTER`` names them in Lua)"""
    from alertgate.tickets.scripts import FILTER as _FILTER
    from alertgate.tickets.store import CONTENT_FIELDS, FILTER_FIELDS

    shown = {name for name in FILTER_FIELDS if name in CONTENT_FIELDS}
    assert shown == {"ci", "priority", "source"}
    assert "local FROM_MASTER = {ci = true, priority = true, source = true}" in _FILTER


def test_numbers_written_by_hand_that_are_no_numbers_count_as_absent():
    """"inf" and "nan" are floats, and int() of them raises: the sweep would fail on every pass."""
    from alertgate.workers.recovery import closure_reminder_due, open_priority, owed_work

    for bad in (b"inf", b"-inf", b"nan", b"1e999", b"x"):
        record = {"status": b"resolved", "resolved_at": b"1", "closure_reminders": bad, "priority": bad,
                  "owed_restoration": b"1", "swept_restoration": bad, "owed_dispatch": bad, "created_at": bad}
        assert [o.kind for o in owed_work(record, before=100.0)] == ["restoration"]
        assert closure_reminder_due(record, now=10**6, every=60.0) == 1
        assert open_priority({**record, "status": b"open"}) == 3
