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
    """Collections are fewer, not off: a cycle made in the block is freed by a collection."""

    class Node:
        other: object = None

    with bulk_work():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
