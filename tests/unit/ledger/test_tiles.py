"""Tiles: the incremental builder and the reader agree with the RFC 9162 definitions."""

from __future__ import annotations

import hashlib
import random

import pytest

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import root_hash
from sentinelle.ledger.tiles import TileCache, TileReader, TreeBuilder, tile_width


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


def store_of(builder: TreeBuilder, tiles: dict[tuple[int, int], bytes]) -> None:
    for level, idx, blob in builder.take_completed() + builder.partial_tiles():
        tiles[(level, idx)] = blob


@pytest.mark.parametrize("seed", range(6))
def test_builder_resumed_in_random_batches_matches_the_rfc(seed: int) -> None:
    rng = random.Random(seed)
    hashes = leaves(rng.choice([1, 255, 256, 257, 70_000, 66_000]))
    tiles: dict[tuple[int, int], bytes] = {}
    done = 0
    while done < len(hashes):
        n = min(len(hashes) - done, rng.choice([1, 3, 200, 256, 300, 5000]))
        partials = {lv: tiles[(lv, idx)] for (lv, idx) in tiles if (lv, idx) in _rightmost(done)}
        builder = TreeBuilder(done, partials)
        builder.extend(hashes[done : done + n])
        done += n
        store_of(builder, tiles)
        assert builder.root() == root_hash(hashes[:done])
    one_by_one = TreeBuilder()
    for h in hashes:
        one_by_one.append(h)
    expected: dict[tuple[int, int], bytes] = {}
    store_of(one_by_one, expected)
    assert {k: v for k, v in tiles.items() if k in expected} == expected


def _rightmost(size: int) -> set[tuple[int, int]]:
    keys, level = set(), 0
    while size:
        keys.add((level, size >> 8))
        level, size = level + 1, size >> 8
    return keys


def test_reader_answers_subtrees_and_roots_at_every_size() -> None:
    hashes = leaves(1000)
    builder = TreeBuilder()
    builder.extend(hashes)
    tiles: dict[tuple[int, int], bytes] = {}
    store_of(builder, tiles)
    cache = TileCache()
    fetch = lambda keys: {k: tiles[k] for k in keys if k in tiles}
    for size in (1, 2, 255, 256, 257, 511, 512, 777, 1000):
        reader = TileReader(fetch, size=size, cache=cache)
        assert reader.root() == root_hash(hashes[:size])
        assert reader.subtree(256, 512) == root_hash(hashes[256:512]) if size >= 512 else True


def test_reader_refuses_nodes_beyond_its_size_and_bad_tiles() -> None:
    builder = TreeBuilder()
    builder.extend(leaves(300))
    tiles: dict[tuple[int, int], bytes] = {}
    store_of(builder, tiles)
    reader = TileReader(
        lambda keys: {k: tiles[k] for k in keys if k in tiles}, size=300, cache=TileCache()
    )
    with pytest.raises(IntegrityError):
        reader.node(0, 300)
    with pytest.raises(IntegrityError):
        tile_width(b"\x00" * 33)
    with pytest.raises(IntegrityError, match="partial tile"):
        TreeBuilder(300, {})


def test_tile_cache_keeps_full_tiles_only_and_drops_the_least_recently_used() -> None:
    builder = TreeBuilder()
    builder.extend(leaves(3 * 256 + 10))
    full = {(lv, idx): blob for lv, idx, blob in builder.take_completed()}
    (partial_key, partial), *_ = [((lv, idx), b) for lv, idx, b in builder.partial_tiles()]
    assert sorted(full) == [(0, 0), (0, 1), (0, 2)]
    cache = TileCache(max_tiles=2)
    cache.put(partial_key, partial)  # may still change: not kept
    assert partial_key not in cache
    assert cache.get(partial_key) is None
    cache.put((0, 0), full[(0, 0)])
    cache.put((0, 1), full[(0, 1)])
    assert cache.get((0, 0)) == full[(0, 0)]  # now the most recently used
    cache.put((0, 2), full[(0, 2)])
    assert len(cache) == 2
    assert (0, 1) not in cache
    assert (0, 0) in cache
    assert (0, 2) in cache
    off = TileCache(max_tiles=0)
    off.put((0, 0), full[(0, 0)])
    assert len(off) == 0


def test_a_reader_caches_full_tiles_and_reads_partial_ones_again() -> None:
    builder = TreeBuilder()
    builder.extend(leaves(300))
    tiles: dict[tuple[int, int], bytes] = {}
    store_of(builder, tiles)
    asked: list[tuple[int, int]] = []

    def fetch(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        asked.extend(keys)
        return {k: tiles[k] for k in keys if k in tiles}

    cache = TileCache()
    for _ in range(2):  # two requests: one reader each
        reader = TileReader(fetch, size=300, cache=cache)
        assert reader.subtree(0, 8) == root_hash(leaves(8))  # from the full tile (0, 0)
        assert reader.root() == root_hash(leaves(300))  # from the partial (1, 0) and (0, 1)
    assert sorted(asked) == [(0, 0), (0, 1), (0, 1), (1, 0), (1, 0)]
    assert (0, 0) in cache
    assert len(cache) == 1
