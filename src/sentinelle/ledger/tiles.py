"""Storage layout of the Merkle tree: tiles of hashes, built incrementally.

The tree of RFC 9162 §2.1 is cut into tiles of height 8, as in C2SP ``tlog-tiles``: tile
``(T, K)`` holds the hashes of the nodes at tree level ``8·T`` with indices ``256·K`` to
``256·K + 255`` (its *base*). Unlike C2SP tiles, a stored tile also keeps the complete nodes of
its seven inner levels, so any perfect subtree's hash is one slice of one tile: proofs read
O(log n) tiles and hash nothing but the few right-edge nodes of the tree.

Blob layout of a tile of base width ``w`` (1…256): the ``w`` base hashes, then the ``w>>1``
hashes one level up, …, then the ``w>>7`` hashes seven levels up; 32 bytes each. A full tile
(``w`` = 256) never changes again; the rightmost tile of each tile level is partial and is
rewritten as the tree grows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256
from typing import Final

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import combine, perfect_subtrees

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "TileKey", "TileReader", "TreeBuilder", "tile_width"]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
_H: Final = 32

TileKey = tuple[int, int]  # (tile level T, tile index K)
FetchTiles = Callable[[list[TileKey]], dict[TileKey, bytes]]

# A tile's width follows from its blob's length: the entry count is strictly increasing in w.
_ENTRIES = [sum(w >> h for h in range(TILE_HEIGHT)) for w in range(TILE_WIDTH + 1)]
_WIDTH_BY_ENTRIES: Final = {e: w for w, e in enumerate(_ENTRIES)}


def tile_width(blob: bytes) -> int:
    """Base width of a stored tile. Raises :class:`IntegrityError` if the blob is malformed."""
    width = _WIDTH_BY_ENTRIES.get(len(blob) // _H) if len(blob) % _H == 0 else None
    if not width:
        raise IntegrityError(f"malformed tile of {len(blob)} bytes")
    return width


def _level_offset(width: int, h: int) -> int:
    return sum(width >> j for j in range(h))


def _tile_from_blob(blob: bytes) -> list[list[bytes]]:
    width = tile_width(blob)
    levels: list[list[bytes]] = []
    pos = 0
    for h in range(TILE_HEIGHT):
        n = width >> h
        levels.append([blob[pos + i * _H : pos + (i + 1) * _H] for i in range(n)])
        pos += n * _H
    return levels


class TreeBuilder:
    """Appends leaf hashes to a tree, producing the tiles to store.

    Built from the tree size and the partial (rightmost) tiles of a stored tree, so an ingest
    resumes where the last one stopped. Completed tiles accumulate in :attr:`completed` until
    taken with :meth:`take_completed`.
    """

    __slots__ = ("_index", "_tiles", "completed", "size")

    def __init__(self, size: int = 0, partials: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.completed: list[tuple[int, int, bytes]] = []
        self._tiles: list[list[list[bytes]]] = []
        self._index: list[int] = []
        partials = partials or {}
        level, n = 0, size
        while n or level == 0:
            width, index = n & (TILE_WIDTH - 1), n >> TILE_HEIGHT
            blob = partials.get(level)
            if width:
                if blob is None or tile_width(blob) != width:
                    raise IntegrityError(
                        f"stored partial tile at level {level} does not match tree size {size}"
                    )
                self._tiles.append(_tile_from_blob(blob))
            else:
                self._tiles.append([[] for _ in range(TILE_HEIGHT)])
            self._index.append(index)
            level, n = level + 1, index
            if not n:
                break

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash at index :attr:`size`."""
        self._push(0, leaf_hash)
        self.size += 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Add leaf hashes in order."""
        push = self._push
        n, i = len(leaf_hashes), 0
        while i < n and self._tiles[0][0]:  # finish the partial tile leaf by leaf
            push(0, leaf_hashes[i])
            i += 1
        while n - i >= TILE_WIDTH:  # then whole tiles at once: same hashes, less overhead
            self._full_tile(leaf_hashes[i : i + TILE_WIDTH])
            i += TILE_WIDTH
        for j in range(i, n):
            push(0, leaf_hashes[j])
        self.size += n

    def _full_tile(self, base: Sequence[bytes]) -> None:
        levels = [list(base)]
        row = levels[0]
        for _ in range(TILE_HEIGHT):
            row = [
                sha256(b"\x01" + a + b).digest() for a, b in zip(row[::2], row[1::2], strict=True)
            ]
            levels.append(row)
        index = self._index[0]
        self.completed.append((0, index, b"".join(b"".join(r) for r in levels[:TILE_HEIGHT])))
        self._index[0] = index + 1
        self._push(1, row[0])

    def _push(self, level: int, digest: bytes) -> None:
        tiles = self._tiles
        if level == len(tiles):
            tiles.append([[] for _ in range(TILE_HEIGHT)])
            self._index.append(0)
        tile = tiles[level]
        row = tile[0]
        row.append(digest)
        h = 0
        while not len(row) & 1:
            node = sha256(b"\x01" + row[-2] + row[-1]).digest()
            h += 1
            if h == TILE_HEIGHT:
                index = self._index[level]
                self.completed.append((level, index, b"".join(b"".join(r) for r in tile)))
                self._index[level] = index + 1
                tiles[level] = [[] for _ in range(TILE_HEIGHT)]
                self._push(level + 1, node)
                return
            row = tile[h]
            row.append(node)

    def take_completed(self) -> list[tuple[int, int, bytes]]:
        """The tiles completed since the last call, as ``(level, index, blob)``."""
        done, self.completed = self.completed, []
        return done

    def partial_tiles(self) -> list[tuple[int, int, bytes]]:
        """The current rightmost, incomplete tiles (non-empty ones) as ``(level, index, blob)``."""
        return [
            (level, self._index[level], b"".join(b"".join(r) for r in tile))
            for level, tile in enumerate(self._tiles)
            if tile[0]
        ]

    def _node(self, level: int, index: int) -> bytes:
        t, h = divmod(level, TILE_HEIGHT)
        offset = index - (self._index[t] << (TILE_HEIGHT - h))
        return self._tiles[t][h][offset]

    def root(self) -> bytes:
        """The root hash (MTH) of the tree as it is now."""
        return combine([self._node(lv, i) for lv, i in perfect_subtrees(0, self.size)])


class TileReader:
    """Reads node hashes from stored tiles; answers ``subtree(start, end)`` for proofs.

    Full tiles never change, so they are cached (LRU, ``cache_size`` tiles); partial tiles are
    read again for every reader, which lives for one request.
    """

    def __init__(self, fetch: FetchTiles, *, size: int, cache: OrderedDict[TileKey, bytes]) -> None:
        self._fetch = fetch
        self._size = size
        self._cache = cache
        self._local: dict[TileKey, bytes] = {}

    def _tile(self, key: TileKey) -> bytes:
        blob = self._local.get(key) or self._cache.get(key)
        if blob is None:
            got = self._fetch([key])
            if key not in got:
                raise IntegrityError(f"tile {key} is missing from the store")
            blob = got[key]
            if len(blob) == _ENTRIES[TILE_WIDTH] * _H:
                self._cache[key] = blob
                if len(self._cache) > 4096:
                    self._cache.popitem(last=False)
            else:
                self._local[key] = blob
        return blob

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Read, in one round trip, every tile the subtrees of ``ranges`` need."""
        keys = {
            (lv // TILE_HEIGHT, i >> (TILE_HEIGHT - lv % TILE_HEIGHT))
            for start, end in ranges
            for lv, i in perfect_subtrees(start, end)
        }
        missing = [k for k in sorted(keys) if k not in self._local and k not in self._cache]
        if not missing:
            return
        for key, blob in self._fetch(missing).items():
            if len(blob) == _ENTRIES[TILE_WIDTH] * _H:
                self._cache[key] = blob
            else:
                self._local[key] = blob

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree at ``level`` covering leaves ``index·2^level`` on."""
        if (index + 1) << level > self._size:
            raise IntegrityError(f"node ({level}, {index}) is outside a tree of {self._size}")
        t, h = divmod(level, TILE_HEIGHT)
        span = TILE_HEIGHT - h
        blob = self._tile((t, index >> span))
        width = tile_width(blob)
        offset = index & ((1 << span) - 1)
        if offset >= width >> h:
            raise IntegrityError(
                f"tile ({t}, {index >> span}) is too short for node ({level}, {index})"
            )
        pos = (_level_offset(width, h) + offset) * _H
        return blob[pos : pos + _H]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, for the ranges that proofs ask for."""
        return combine([self.node(lv, i) for lv, i in perfect_subtrees(start, end)])

    def root(self) -> bytes:
        """Root hash of the tree of the reader's size."""
        return self.subtree(0, self._size)
