"""Property tests for a page of inclusion proofs built and checked together.

``TileReader.inclusion_paths`` must give, for any tree size and any set of leaves (in any
order, with repeats), exactly the proofs ``merkle.inclusion_proof`` gives one by one from an
independent subtree function; every one verifies with ``verify_inclusion``; and
``verify_inclusions`` fails exactly when one of ``verify_inclusion`` fails, whatever was
changed. The tiles are those of a tree of exactly the size asked (its rightmost tiles partial),
or of a larger tree (a checkpoint older than the ledger), from 1 leaf to past the third tile
level (65,536 leaves).
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_trees import PerfectTree, counter_leaves

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import (
    inclusion_proof,
    verify_inclusion,
    verify_inclusions,
)
from sentinelle.ledger.tiles import TileCache, TileReader, TreeBuilder

BIG = 70_001  # past 2**16: leaves in tiles of three tile levels
LEAVES = counter_leaves(BIG)
subtree = PerfectTree(LEAVES).subtree  # the independent reference, without tiles


@cache
def tiles_of(size: int) -> dict[tuple[int, int], bytes]:
    """The tiles a store holds for a tree of ``size`` leaves, built in uneven batches."""
    builder = TreeBuilder()
    done, step = 0, 1
    while done < size:
        builder.extend(LEAVES[done : min(size, done + step)])
        done, step = min(size, done + step), step * 3 + 1
    tiles = {(lv, idx): blob for lv, idx, blob in builder.take_completed()}
    tiles.update({(lv, idx): blob for lv, idx, blob in builder.partial_tiles()})
    return tiles


def reader(size: int, stored: int) -> TileReader:
    tiles = tiles_of(stored)
    return TileReader(
        lambda keys: {k: tiles[k] for k in keys if k in tiles}, size=size, cache=TileCache()
    )


@st.composite
def pages(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """``(tree size, stored tree size, leaf indices)``: sizes of every shape (powers of two,
    one past, one short, a partial last tile), leaves anywhere and in the last partial tile."""
    size = draw(
        st.one_of(
            st.integers(1, 1100),
            st.sampled_from([255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 69_999]),
            st.integers(1, BIG),
        )
    )
    stored = draw(st.sampled_from([size, BIG, min(BIG, size + draw(st.integers(1, 600)))]))
    anywhere = st.integers(0, size - 1)
    last_tile = st.integers(size - 1 - (size - 1) % 256, size - 1)  # the last, partial tile
    near = st.integers(max(0, size - 3000), size - 1)  # a merchant's first page
    indices = draw(st.lists(st.one_of(anywhere, last_tile, near), min_size=1, max_size=120))
    order = draw(st.sampled_from(["desc", "asc", "drawn"]))
    if order != "drawn":
        indices.sort(reverse=order == "desc")
    return size, stored, indices


def root(size: int) -> bytes:
    return subtree(0, size)


@given(page=pages())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_page_of_proofs_is_the_proofs_one_by_one_and_each_verifies(
    page: tuple[int, int, list[int]],
) -> None:
    size, stored, indices = page
    paths = reader(size, stored).inclusion_paths(indices)
    assert len(paths) == len(indices)
    expected_root = root(size)
    for index, path in zip(indices, paths, strict=True):
        assert path == inclusion_proof(index, size, subtree)
        verify_inclusion(LEAVES[index], index, size, path, expected_root)
    verify_inclusions(
        [(LEAVES[i], i, p) for i, p in zip(indices, paths, strict=True)], size, expected_root
    )


def _one_by_one_fails(items: list[tuple[bytes, int, list[bytes]]], size: int, r: bytes) -> bool:
    try:
        for lh, index, path in items:
            verify_inclusion(lh, index, size, path, r)
    except IntegrityError:
        return True
    return False


@given(page=pages(), data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_page_check_fails_exactly_when_a_proof_fails(
    page: tuple[int, int, list[int]], data: st.DataObject
) -> None:
    size, stored, indices = page
    items = [
        (LEAVES[i], i, list(p))
        for i, p in zip(indices, reader(size, stored).inclusion_paths(indices), strict=True)
    ]
    r = root(size)
    for _ in range(data.draw(st.integers(1, 3))):
        j = data.draw(st.integers(0, len(items) - 1))
        lh, index, path = items[j]
        what = data.draw(st.sampled_from(["hash", "other hash", "leaf", "index", "drop", "add"]))
        if what in ("hash", "other hash") and path:
            k = data.draw(st.integers(0, len(path) - 1))
            if what == "hash":
                bit = data.draw(st.integers(0, 255))
                changed = bytearray(path[k])
                changed[bit // 8] ^= 1 << bit % 8
                path[k] = bytes(changed)
            else:
                path[k] = LEAVES[data.draw(st.integers(0, BIG - 1))]
        elif what == "leaf":
            items[j] = (LEAVES[data.draw(st.integers(0, BIG - 1))], index, path)
        elif what == "index":
            items[j] = (lh, data.draw(st.integers(0, size - 1)), path)
        elif what == "drop" and path:
            del path[data.draw(st.integers(0, len(path) - 1))]
        elif what == "add":
            path.insert(data.draw(st.integers(0, len(path))), LEAVES[0])
    expected_failure = _one_by_one_fails(items, size, r)
    if expected_failure:
        with pytest.raises(IntegrityError):
            verify_inclusions(items, size, r)
    else:
        verify_inclusions(items, size, r)


@given(page=pages(), data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_changed_tile_fails_the_page_check(
    page: tuple[int, int, list[int]], data: st.DataObject
) -> None:
    """A changed hash in any stored tile a page's proofs read makes the page check fail."""
    size, stored, indices = page
    tiles = dict(tiles_of(stored))
    used: dict[tuple[int, int], bytes] = {}

    def fetch(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        got = {k: tiles[k] for k in keys if k in tiles}
        used.update(got)
        return got

    good = TileReader(fetch, size=size, cache=TileCache()).inclusion_paths(indices)
    if not any(good):
        return  # a tree of one leaf: no proof hash comes from a tile
    # Change one hash that a proof holds, in the tile it was read from.
    proof_hashes = {h for path in good for h in path}
    candidates = sorted(
        (key, pos)
        for key, blob in used.items()
        for pos in range(0, len(blob), 32)
        if blob[pos : pos + 32] in proof_hashes
    )
    key, pos = data.draw(st.sampled_from(candidates))
    blob = bytearray(tiles[key])
    blob[pos + data.draw(st.integers(0, 31))] ^= 0x40
    tiles[key] = bytes(blob)
    paths = TileReader(fetch, size=size, cache=TileCache()).inclusion_paths(indices)
    assert paths != good
    with pytest.raises(IntegrityError):
        verify_inclusions(
            [(LEAVES[i], i, p) for i, p in zip(indices, paths, strict=True)], size, root(size)
        )
