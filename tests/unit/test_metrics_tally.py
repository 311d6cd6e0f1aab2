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


def test_observations_of_one_turn_expose_as_histogram_observe_does():
    """The tally writes prometheus-client's histogram fields itself: the exposition must be the
    same as ``observe``'s, for amounts on, between, below and above the bounds (this fails first
    if a prometheus-client upgrade changes those fields)."""
    import math

    from prometheus_client import Histogram, generate_latest

    amounts = [0.0, 0.0005, 0.0007, 0.001, 0.003, 0.3, 2.5, 7.0, 1e9, -1.0, math.inf]
    exposed = []
    for batched in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("d_seconds", "d", ["k"], buckets=(0.0005, 0.001, 0.0025, 0.5, 2.5), registry=registry)
        tally = Tally()

        async def main() -> None:
            for amount in amounts:
                if batched:
                    tally.observe(histogram.labels("a"), amount)
                else:
                    histogram.labels("a").observe(amount)
            await asyncio.sleep(0)
        asyncio.run(main())
        exposed.append([line for line in generate_latest(registry).decode().splitlines() if "_created" not in line])
    assert exposed[0] == exposed[1]
    assert any(line.startswith('d_seconds_bucket{k="a",le="0.001"} 5.0') for line in exposed[1])


def test_a_histogram_without_the_fields_is_observed_at_once():
    seen = []

    class Plain:
        def observe(self, amount: float) -> None:
            seen.append(amount)
    Tally().observe(Plain(), 0.2)
    assert seen == [0.2]
