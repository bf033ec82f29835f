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

So readers keep full tiles in a process-wide :class:`TileCache` (an LRU of at most 4096 tiles,
64 MiB) and read partial tiles again for each request. A page of inclusion proofs is built from
the tiles in one round trip (:meth:`TileReader.inclusion_paths`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256
from typing import Final

from sentinelle.errors import Error, IntegrityError
from sentinelle.ledger.merkle import combine, edge_ranges, perfect_subtrees

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileCache",
    "TileKey",
    "TileReader",
    "TreeBuilder",
    "tile_width",
]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
_H: Final = 32

TileKey = tuple[int, int]  # (tile level T, tile index K)
FetchTiles = Callable[[list[TileKey]], dict[TileKey, bytes]]

# A tile's width follows from its blob's length: the entry count is strictly increasing in w.
_ENTRIES = [sum(w >> h for h in range(TILE_HEIGHT)) for w in range(TILE_WIDTH + 1)]
_WIDTH_BY_ENTRIES: Final = {e: w for w, e in enumerate(_ENTRIES)}
_FULL_BYTES: Final = _ENTRIES[TILE_WIDTH] * _H
# By width: where each of the tile's levels starts (in hashes), and how many hashes it has.
_OFFSETS: Final = [
    tuple(sum(w >> j for j in range(h)) for h in range(TILE_HEIGHT)) for w in range(TILE_WIDTH + 1)
]
_COUNTS: Final = [tuple(w >> h for h in range(TILE_HEIGHT)) for w in range(TILE_WIDTH + 1)]


def tile_width(blob: bytes) -> int:
    """Base width of a stored tile. Raises :class:`IntegrityError` if the blob is malformed."""
    width = _WIDTH_BY_ENTRIES.get(len(blob) // _H) if len(blob) % _H == 0 else None
    if not width:
        raise IntegrityError(f"malformed tile of {len(blob)} bytes")
    return width


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


class TileCache:
    """Full tiles by key, shared by every tile reader of a process: a bounded LRU.

    A full tile (256 base hashes, 16,320 bytes) covers a complete subtree, so it never changes
    and may be kept for the life of the process; partial tiles are never cached. At most
    ``max_tiles`` tiles are kept (default 4096, 64 MiB of tiles), the least recently used
    dropped first. Thread-safe: the API's read connections share one.
    """

    __slots__ = ("_lock", "_tiles", "max_tiles")

    def __init__(self, max_tiles: int = 4096) -> None:
        self.max_tiles = max_tiles
        self._tiles: OrderedDict[TileKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tiles)

    def __contains__(self, key: object) -> bool:
        return key in self._tiles

    def get(self, key: TileKey) -> bytes | None:
        """The tile, if cached (it becomes the most recently used)."""
        with self._lock:
            blob = self._tiles.get(key)
            if blob is not None:
                self._tiles.move_to_end(key)
            return blob

    def put(self, key: TileKey, blob: bytes) -> None:
        """Keep a full tile; other blobs are ignored (they may still change)."""
        if len(blob) != _FULL_BYTES or self.max_tiles <= 0:
            return
        with self._lock:
            self._tiles[key] = blob
            self._tiles.move_to_end(key)
            while len(self._tiles) > self.max_tiles:
                self._tiles.popitem(last=False)


class TileReader:
    """Reads node hashes from stored tiles; answers ``subtree(start, end)`` for proofs.

    Full tiles never change, so they are kept in the process's :class:`TileCache`; partial
    tiles are read again for every reader, which lives for one request. A reader keeps every
    tile it used for its life, so the nodes of one request all come from the same tiles.
    """

    def __init__(self, fetch: FetchTiles, *, size: int, cache: TileCache) -> None:
        self._fetch = fetch
        self._size = size
        self._cache = cache
        # key -> (blob, offsets of its levels in hashes, hashes per level)
        self._local: dict[TileKey, tuple[bytes, tuple[int, ...], tuple[int, ...]]] = {}

    def _keep(self, key: TileKey, blob: bytes) -> tuple[bytes, tuple[int, ...], tuple[int, ...]]:
        width = tile_width(blob)
        entry = (blob, _OFFSETS[width], _COUNTS[width])
        self._local[key] = entry
        return entry

    def _tile(self, key: TileKey) -> tuple[bytes, tuple[int, ...], tuple[int, ...]]:
        entry = self._local.get(key)
        if entry is not None:
            return entry
        blob = self._cache.get(key)
        if blob is None:
            got = self._fetch([key])
            if key not in got:
                raise IntegrityError(f"tile {key} is missing from the store")
            blob = got[key]
            self._cache.put(key, blob)
        return self._keep(key, blob)

    def _prefetch_keys(self, keys: Iterable[TileKey]) -> None:
        missing = []
        for key in sorted(set(keys)):
            if key in self._local:
                continue
            blob = self._cache.get(key)
            if blob is None:
                missing.append(key)
            else:
                self._keep(key, blob)
        if not missing:
            return
        for key, blob in self._fetch(missing).items():
            self._cache.put(key, blob)
            self._keep(key, blob)

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Read, in one round trip, every tile the subtrees of ``ranges`` need."""
        self._prefetch_keys(
            (lv // TILE_HEIGHT, i >> (TILE_HEIGHT - lv % TILE_HEIGHT))
            for start, end in ranges
            for lv, i in perfect_subtrees(start, end)
        )

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree at ``level`` covering leaves ``index·2^level`` on."""
        if (index + 1) << level > self._size:
            raise IntegrityError(f"node ({level}, {index}) is outside a tree of {self._size}")
        t, h = divmod(level, TILE_HEIGHT)
        span = TILE_HEIGHT - h
        blob, offsets, counts = self._tile((t, index >> span))
        offset = index & ((1 << span) - 1)
        if offset >= counts[h]:
            raise IntegrityError(
                f"tile ({t}, {index >> span}) is too short for node ({level}, {index})"
            )
        pos = (offsets[h] + offset) * _H
        return blob[pos : pos + _H]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, for the ranges that proofs ask for."""
        pieces = perfect_subtrees(start, end)
        if len(pieces) == 1:
            return self.node(*pieces[0])
        return combine([self.node(lv, i) for lv, i in pieces])

    def root(self) -> bytes:
        """Root hash of the tree of the reader's size."""
        return self.subtree(0, self._size)

    def inclusion_paths(self, indices: Sequence[int]) -> list[list[bytes]]:
        """Inclusion proofs of leaves ``indices`` in the tree of the reader's size, in order.

        The proofs of :func:`~sentinelle.ledger.merkle.inclusion_proof`, hash for hash, built
        together (:func:`~sentinelle.ledger.merkle.edge_ranges` says how): every tile they
        need is read in one round trip, or found in the cache; below a leaf's fork level its
        siblings are slices of the one tile per tile level that holds its ancestors; the end of
        the paths, shared by every leaf of a fork level, is computed once; and a leaf of the
        same fork level as the one before takes the siblings they share from its path (the
        same ``bytes`` objects). Leaves in index order (either way) share the most.

        Raises :class:`~sentinelle.errors.Error` for an index outside the tree,
        :class:`IntegrityError` for a missing or malformed tile.
        """
        size = self._size
        height = TILE_HEIGHT
        keys: set[TileKey] = set()
        forks: dict[int, list[tuple[int, int]]] = {}
        for index in indices:
            if not 0 <= index < size:
                raise Error(f"leaf index {index} is not in a tree of size {size}")
            fork = (index ^ size).bit_length() - 1
            if fork not in forks:
                forks[fork] = edge_ranges(fork, size)
            # the siblings below the fork: in the leaf's own tile of each tile level
            for t in range((fork + height - 1) // height):
                keys.add((t, index >> (height * (t + 1))))
        for ranges in forks.values():
            for start, end in ranges:
                for lv, i in perfect_subtrees(start, end):
                    keys.add((lv // height, i >> (height - lv % height)))
        self._prefetch_keys(keys)
        tails = {fork: [self.subtree(a, b) for a, b in r] for fork, r in forks.items()}

        tile = self._tile
        paths: list[list[bytes]] = []
        prev_index, prev_fork, prev_path = -1, -1, tails.get(-1, [])
        for index in indices:
            fork = (index ^ size).bit_length() - 1
            # Leaves of one fork level are in the same perfect subtree of 2**fork leaves.
            meet = (index ^ prev_index).bit_length() if fork == prev_fork else fork
            path: list[bytes] = []
            for t in range((meet + height - 1) // height):
                blob, offsets, counts = tile((t, index >> (height * (t + 1))))
                below = index >> (height * t)  # the leaf's ancestor at the tile's base
                for h in range(min(height, meet - height * t)):
                    offset = ((below >> h) ^ 1) & ((1 << (height - h)) - 1)
                    if offset >= counts[h]:
                        raise IntegrityError(
                            f"tile ({t}, {index >> (height * (t + 1))}) is too short for "
                            f"node ({height * t + h}, {(below >> h) ^ 1})"
                        )
                    pos = (offsets[h] + offset) * _H
                    path.append(blob[pos : pos + _H])
            path += prev_path[meet:] if fork == prev_fork else tails[fork]
            paths.append(path)
            prev_index, prev_fork, prev_path = index, fork, path
        return paths
