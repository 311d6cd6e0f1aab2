"""runtime.batching.Batcher: concurrent submits share writes, each caller gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from alertgate.runtime.batching import Batcher


def test_concurrent_items_go_in_few_writes_and_each_caller_gets_its_own_outcome():
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int | BaseException]:
        writes.append(items)
        await asyncio.sleep(0.01)  # a round trip: what arrives meanwhile waits for the next write
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    async def main() -> list:
        batcher: Batcher[int, int] = Batcher(write)
        first = await asyncio.gather(*(batcher.submit(i) for i in range(20)), return_exceptions=True)
        later = await asyncio.gather(*(batcher.submit(i) for i in range(20, 24)), return_exceptions=True)
        return first + later

    outcomes = asyncio.run(main())
    assert [o for o in outcomes if not isinstance(o, Exception)] == [i * 10 for i in range(0, 24, 2)]
    assert [str(o) for o in outcomes if isinstance(o, Exception)] == [f"odd {i}" for i in range(1, 24, 2)]
    assert writes == [list(range(20)), list(range(20, 24))]  # same turn, same write


def test_items_arriving_during_a_write_go_together_in_the_next():
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        await asyncio.sleep(0.02)
        return items

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(write)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.005)  # the first write is under way
        assert await asyncio.gather(first, *(batcher.submit(i) for i in range(1, 6))) == list(range(6))

    asyncio.run(main())
    assert writes == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_write_fails_its_batch_only_and_a_cancelled_caller_is_skipped():
    calls = 0

    async def write(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("down")
        return items

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(write)
        gone = asyncio.create_task(batcher.submit(99))
        failing = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await asyncio.sleep(0)
        gone.cancel()
        for task in failing:
            with pytest.raises(ConnectionError):
                await task
        assert await batcher.submit(7) == 7  # the next write is a new batch

    asyncio.run(main())
