"""``sentinelle.collector``: fewer cycle collections during bulk work, undone after."""

from __future__ import annotations

import gc

import pytest

from sentinelle.collector import BULK_THRESHOLDS, bulk_work


def test_bulk_work_freezes_what_exists_and_raises_the_thresholds_until_it_ends() -> None:
    before = gc.get_threshold()
    with bulk_work():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_nested_bulk_work_is_undone_by_the_outermost_only() -> None:
    before = gc.get_threshold()
    with bulk_work():
        with bulk_work():
            pass
        assert gc.get_threshold() == BULK_THRESHOLDS  # the outer block still runs
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_bulk_work_is_undone_when_the_block_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), bulk_work():
        raise RuntimeError("refused batch")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_bulk_work_are_still_collected() -> None:
    """Collections are fewer, not off: once more than the young generation's threshold of
    containers are left in cycles, the collector runs by itself and frees them.
    Could fail: with the collector off (``gc.disable``), none would run until the block ends."""

    class Node:
        other: object = None

    runs: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            runs.append(info["collected"])

    gc.callbacks.append(seen)
    try:
        with bulk_work():
            for _ in range(BULK_THRESHOLDS[0]):  # garbage at once, freed only by a collection
                a, b = Node(), Node()
                a.other, b.other = b, a
            freed = list(runs)
        assert freed, "no collection ran in the block"
        assert freed[0] >= BULK_THRESHOLDS[0] // 2  # the cycles, about a young generation's
    finally:
        gc.callbacks.remove(seen)
