"""Each part of the sweep on its own clock (workers/sweeper.py): a part that takes long does not
hold back the others, the heartbeats' above all; a part that fails runs again at its next tick;
the part's lock lets one worker run it per interval."""

from __future__ import annotations

import threading

import fakeredis
import pytest

from alertgate.keys import LAYOUT, sweep_lock
from alertgate.workers.sweeper import PartClock

INTERVAL = 0.02
WAIT = 10.0   # s: what a blocked clock would wait for before the test fails (never, when it works)


@pytest.fixture
def state():
    redis = fakeredis.FakeRedis()
    redis.set(LAYOUT, "2")
    return redis


def test_a_part_that_takes_long_does_not_hold_back_the_heartbeats(state):
    stop, heartbeats_ran = threading.Event(), threading.Event()
    beats = []

    def heartbeats() -> str:
        beats.append(1)
        if len(beats) >= 3:
            heartbeats_ran.set()
        return "ok"

    def release() -> str:   # (a release of 100,000 held alerts, a reconciliation on a slow source)
        return "released" if heartbeats_ran.wait(WAIT) else "the heartbeats waited for me"

    results = {}
    clock = PartClock(state, "me", INTERVAL, stop)

    def keep(part, run):
        clock.keep(part, lambda: results.setdefault(part, run()))

    threads = [threading.Thread(target=keep, args=(part, run), daemon=True)
               for part, run in (("maintenance", release), ("heartbeats", heartbeats))]
    for thread in threads:
        thread.start()
    try:
        assert heartbeats_ran.wait(WAIT), "the heartbeats' clock waited for the release"
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
    assert results["maintenance"] == "released"


def test_a_part_that_fails_runs_again_at_its_next_tick(state):
    stop, runs = threading.Event(), []

    def failing() -> str:
        runs.append(1)
        if len(runs) >= 3:
            stop.set()
        raise ValueError("a bug in one part")

    thread = threading.Thread(target=PartClock(state, "me", INTERVAL, stop).keep, args=("correlation", failing))
    thread.start()
    thread.join(WAIT)
    assert len(runs) == 3


def test_the_holder_of_a_parts_lock_runs_it_and_other_parts_are_not_held(state):
    """Another worker holds the heartbeats' lock this interval: this one runs its other parts."""
    state.set(sweep_lock("heartbeats"), "another worker", px=60_000)
    ran = []
    clock = PartClock(state, "me", INTERVAL, threading.Event())
    clock.once("heartbeats", lambda: ran.append("heartbeats") or "")
    clock.once("work", lambda: ran.append("work") or "")
    assert ran == ["work"]
    assert state.get(sweep_lock("work")) == b"me" and 0 < state.pttl(sweep_lock("work")) <= INTERVAL * 1000


def test_a_run_that_ends_is_reported_and_one_that_fails_is_not(state):
    """What ``alertgate_sweep_last_success_timestamp_seconds{part}`` is set from."""
    succeeded = []
    clock = PartClock(state, "me", INTERVAL, threading.Event(), succeeded=succeeded.append)
    clock.once("heartbeats", lambda: "heartbeats: 0 expired")

    def broken() -> str:
        raise RuntimeError("a bug")
    clock.once("correlation", broken)
    assert succeeded == ["heartbeats"]
