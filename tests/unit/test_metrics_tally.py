"""observability.metrics.Tally: increments counted once per event-loop turn, none lost."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter

from alertgate.observability.metrics import Tally


def value(counter: Counter, label: str) -> float:
    return counter.labels(label)._value.get()


def test_increments_of_one_turn_are_written_at_its_end():
    counter = Counter("t_total", "t", ["k"], registry=CollectorRegistry())
    tally = Tally()

    async def main() -> tuple[float, float]:
        for _ in range(5):
            tally.inc(counter.labels("a"))
        tally.inc(counter.labels("b"), 3)
        before = value(counter, "a")
        await asyncio.sleep(0)
        return before, value(counter, "a")

    assert asyncio.run(main()) == (0, 5)
    assert value(counter, "b") == 3


def test_outside_an_event_loop_and_on_flush_it_counts_at_once():
    counter = Counter("u_total", "u", ["k"], registry=CollectorRegistry())
    tally = Tally()
    tally.inc(counter.labels("a"), 2)
    assert value(counter, "a") == 2

    async def main() -> float:
        tally.inc(counter.labels("a"))
        tally.flush()  # what a scrape does first
        return value(counter, "a")

    assert asyncio.run(main()) == 3
