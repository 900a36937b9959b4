"""A started worker's heap is frozen out of the collector and young collections run rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.runtime.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settling_freezes_the_heap_and_raises_the_young_threshold(restored_gc: None) -> None:
    gc.unfreeze()
    long_lived = [{"kept": i} for i in range(1000)]
    settle_heap()
    # Frozen: the generations collections walk hold fewer objects than were just made.
    assert len(gc.get_objects()) < len(long_lived) <= gc.get_freeze_count()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700
    collected_over = {id(o) for o in gc.get_objects()}  # the generations collections walk
    assert not any(id(o) in collected_over for o in long_lived)


def test_cyclic_garbage_is_still_collected(restored_gc: None) -> None:
    settle_heap()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
