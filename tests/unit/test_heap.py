import gc

import pytest

from alertgate.runtime.heap import YOUNG_ALLOCATIONS, settle_after_start


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settling_freezes_what_start_up_built_and_collects_the_young_less_often(restored_collector):
    built = [{"n": n} for n in range(1000)]  # what start-up would leave behind
    settle_after_start()
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold()[0] == YOUNG_ALLOCATIONS
    # a cycle made after start-up is still collected
    cycle: list = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
