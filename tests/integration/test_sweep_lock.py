"""A part's lock in the state Redis (workers/sweeper.PartClock), renewed while its run lasts. Real
Redis: the renewal is a script, which compares the holder and extends in one step."""

from __future__ import annotations

import threading

import pytest
import redis

from alertgate.keys import sweep_lock
from alertgate.workers.sweeper import PartClock

WAIT = 10.0   # s: what a blocked run would wait for before the test fails (never, when it works)


@pytest.fixture
def state(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_part_still_running_past_its_interval_keeps_its_lock(state):
    """A release longer than the interval: the other workers' sweepers do not start it again."""
    long = 0.2   # s (its lock is renewed every 60 ms, and would lapse 180 ms after)
    stop, running, finished = threading.Event(), threading.Event(), threading.Event()

    def long_release() -> str:
        running.set()
        finished.wait(WAIT)
        return "released"

    mine = threading.Thread(target=PartClock(state, "me", long, stop).once, args=("maintenance", long_release))
    mine.start()
    assert running.wait(WAIT)
    others, theirs = [], PartClock(state, "another worker", long, threading.Event())
    for _ in range(10):   # (five intervals)
        threading.Event().wait(long / 2)
        theirs.once("maintenance", lambda: others.append(1) or "")
    finished.set()
    mine.join(WAIT)
    assert others == []
    threading.Event().wait(long)   # (once the run ended, the lock lapses: the next interval is anyone's)
    theirs.once("maintenance", lambda: others.append(1) or "")
    assert others == [1]


def test_a_lock_that_lapsed_and_was_taken_by_another_worker_is_not_extended_for_it(state):
    """A renewal late enough that the lock lapsed (a stalled process, a Redis fault) and another
    worker took it: the other worker's lock keeps its own expiry."""
    clock = PartClock(state, "me", 60.0, threading.Event())   # (its own lock would last 54 s)
    state.set(sweep_lock("maintenance"), "another worker", px=500)
    assert clock.renew("maintenance") is False
    assert state.get(sweep_lock("maintenance")) == b"another worker"
    assert 0 < state.pttl(sweep_lock("maintenance")) <= 500

    state.set(sweep_lock("maintenance"), "me", px=500)
    assert clock.renew("maintenance") is True
    assert 50_000 < state.pttl(sweep_lock("maintenance")) <= 54_000


def test_a_renewal_that_meets_a_redis_fault_leaves_the_run_alone(state):
    """The run itself meets the fault and logs it; the renewal thread says only that it did not renew."""
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert PartClock(gone, "me", 60.0, threading.Event()).renew("maintenance") is False
