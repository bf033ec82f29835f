"""Merchant slices and the merchant map: what lets a merchant prove its list of accesses complete.

Every merchant's access events form its own append-only RFC 9162 log, its *slice*; a sparse
Merkle tree keyed by ``SHA-256(merchant id)``, the *merchant map*, holds each slice's size and
root; and every checkpoint carries the map's root as an extension line. The hashing, the proof
formats and what they prove are defined once, in :mod:`sentinelle.transparency.verify` (the
merchant's verifier); this module builds and serves them.

Why this map. A merchant must be able to prove both "my slice is ``(n, r)``" and "I have no
slice" (no access at all), so the map must give absence proofs: a sorted or keyed tree does.
A sparse Merkle tree keyed by a hash needs no rebalancing and gives the same root for the same
content whatever the order of updates (so an auditor rebuilding it from the log gets the
signed root). Its *compact* form (a subtree of one merchant is that merchant's leaf) keeps a
path about ``log2(merchants)`` nodes long: 17 for 100,000 merchants, where the plain 256-level
form would hash 256 nodes per merchant and per update. Updates are batched per checkpoint
(every ingest batch ends with one): the merchants a batch touched are updated together, their
shared upper nodes hashed once.

Where it lives. Slices are kept at ingest, in the events' transaction (:meth:`MerchantSlices.
prepare`, called by the ingest pipeline and :meth:`~sentinelle.ledger.log.Ledger.checkpoint`):
``slice_nodes``, one row per merchant and batch (the nodes completed, the root and frontier at
that checkpoint; a merchant's latest row is its slice now) — :mod:`sentinelle.store.slices`. A
slice cannot miss a stored event: both are written, or neither. The map itself is not stored:
each process keeps it in memory (immutable nodes shared between versions), built from every
merchant's latest row on first use and brought forward from what other processes wrote (rows
with a newer ``gsize``). The map at an older checkpoint is the current one with the merchants
that grew since put back as they were, kept in a small cache.

:func:`slice_page` builds the answer of ``GET /v1/merchants/{merchant}/slice`` and of
``sentinelle ledger slice``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Final, Protocol

from sentinelle.errors import Error, IntegrityError
from sentinelle.events import ACCESS_ACTIONS, AccessEvent
from sentinelle.ledger.checkpoint import Checkpoint, parse_note
from sentinelle.ledger.merkle import (
    combine,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    perfect_subtrees,
)
from sentinelle.transparency.verify import (
    EMPTY_ROOT,
    MAP_EMPTY,
    MAP_LINE_PREFIX,
    MapProof,
    SliceHead,
    map_key,
    map_leaf_hash,
    map_line,
    slice_leaf_hash,
)

if TYPE_CHECKING:
    from sentinelle.store.events import FacetedRow
    from sentinelle.store.slices import NodeRow

__all__ = [
    "MerchantSlices",
    "SliceBatch",
    "SliceGrower",
    "SlicePage",
    "SliceQueryError",
    "SliceReads",
    "SliceSide",
    "Node",
    "event_slice_leaves",
    "map_hash",
    "map_root_of",
    "map_update",
    "slice_leaves",
    "slice_page",
]

_H: Final = 32
_INNER_EMPTY: Final = b"\x01" + MAP_EMPTY
_PAST: Final = 64  # older maps kept per process (they share most nodes with the current one)

# A map node: None (empty), (hash, key) for a leaf, (hash, left, right) for an inner node.
Node = tuple[Any, ...] | None


class SliceReads(Protocol):
    """What the slices and the map are read through (a store, or one of its transactions)."""

    def slice_state(self) -> int: ...
    def slice_heads_since(
        self, gsize: int, *, built: int | None = None
    ) -> list[tuple[str, int, bytes, bytes, int]]: ...
    def slice_head_at(self, merchant: str, gsize: int) -> tuple[int, bytes] | None: ...


# -- the map ---------------------------------------------------------------------------------
def _hash(node: Node) -> bytes:
    return MAP_EMPTY if node is None else bytes(node[0])


def _bit(key: bytes, depth: int) -> int:
    return key[depth >> 3] >> (7 - (depth & 7)) & 1


def _join(left: Node, right: Node) -> Node:
    """The node over two subtrees, in the compact form: one lone leaf moves up."""
    if left is None:
        if right is None or len(right) == 2:
            return right
        return (sha256(_INNER_EMPTY + right[0]).digest(), left, right)
    if right is None:
        if len(left) == 2:
            return left
        return (sha256(b"\x01" + left[0] + MAP_EMPTY).digest(), left, right)
    # Called once per node a batch changes: the hashes are joined inline (the hot path).
    return (sha256(b"\x01" + left[0] + right[0]).digest(), left, right)


def _split(items: Sequence[tuple[bytes, Any]], lo: int, hi: int, depth: int) -> int:
    """The first of ``items[lo:hi]`` (sorted, sharing ``depth`` leading bits) whose bit
    ``depth`` is 1."""
    key = items[lo][0]
    i, m = depth >> 3, 0x80 >> (depth & 7)
    threshold = key[:i] + bytes([(key[i] & ~(2 * m - 1) & 0xFF) | m])
    return bisect_left(items, (threshold,), lo, hi)


def _build(items: Sequence[tuple[bytes, bytes]], lo: int, hi: int, depth: int) -> Node:
    if hi - lo <= 1:
        return (items[lo][1], items[lo][0]) if hi > lo else None
    s = _split(items, lo, hi, depth)
    return _join(_build(items, lo, s, depth + 1), _build(items, s, hi, depth + 1))


def _update(node: Node, items: Sequence[tuple[bytes, Any]], lo: int, hi: int, depth: int) -> Node:
    """``node`` with the leaves of ``items[lo:hi]`` (sorted ``(key, leaf hash or None to
    remove)``) set; untouched subtrees are shared, not copied."""
    if lo == hi:
        return node
    if hi - lo == 1:  # most nodes a batch changes: one key's path, walked without recursion
        return _update_one(node, items[lo][0], items[lo][1], depth)
    if node is None or len(node) == 2:
        merged = list(items[lo:hi])
        if node is not None and not any(k == node[1] for k, _ in merged):
            insort(merged, (node[1], node[0]))
        live = [(k, v) for k, v in merged if v is not None]
        return _build(live, 0, len(live), depth)
    s = _split(items, lo, hi, depth)
    return _join(
        _update(node[1], items, lo, s, depth + 1), _update(node[2], items, s, hi, depth + 1)
    )


def _update_one(node: Node, key: bytes, leaf: bytes | None, depth: int) -> Node:
    """:func:`_update` of one key: down its path, then the nodes on it hashed again upwards.

    The hot path of a map update (every merchant a checkpoint touches walks it), so the
    joins are inlined: a node over two subtrees is ``SHA-256(0x01 || left || right)``, and
    :func:`_join` is called only where a side is empty (the compact form's special cases).
    """
    path: list[tuple[Node, int]] = []
    while node is not None and len(node) == 3:
        bit = key[depth >> 3] >> (7 - (depth & 7)) & 1
        path.append((node, bit))
        node = node[2 if bit else 1]
        depth += 1
    new: Node
    if node is None or node[1] == key:
        new = None if leaf is None else (leaf, key)
    elif leaf is None:
        new = node  # removing a key that is not there
    else:  # another merchant's leaf: both hang under the node where their keys part
        split = 256 - (int.from_bytes(key, "big") ^ int.from_bytes(node[1], "big")).bit_length()
        mine = (leaf, key)
        new = _join(node, mine) if _bit(key, split) else _join(mine, node)
        while split > depth:  # the chain of nodes with one empty side, up to this depth
            split -= 1
            new = _join(None, new) if _bit(key, split) else _join(new, None)
    sha = sha256
    for parent, bit in reversed(path):
        if bit:
            left = parent[1]  # type: ignore[index]
            if left is not None and new is not None:
                new = (sha(b"\x01" + left[0] + new[0]).digest(), left, new)
            else:
                new = _join(left, new)
        else:
            right = parent[2]  # type: ignore[index]
            if right is not None and new is not None:
                new = (sha(b"\x01" + new[0] + right[0]).digest(), new, right)
            else:
                new = _join(new, right)
    return new


def _prove(root: Node, key: bytes) -> MapProof:
    siblings: list[bytes] = []
    node, depth = root, 0
    while node is not None and len(node) == 3:
        if _bit(key, depth):
            siblings.append(_hash(node[1]))
            node = node[2]
        else:
            siblings.append(_hash(node[2]))
            node = node[1]
        depth += 1
    siblings.reverse()
    if node is None or node[1] == key:
        return MapProof(tuple(siblings))
    return MapProof(tuple(siblings), bytes(node[1]), bytes(node[0]))


def _items(heads: Iterable[tuple[str, int, bytes]]) -> list[tuple[bytes, bytes | None]]:
    """The map's ``(key, leaf hash or None)`` of ``heads``, sorted; a merchant given twice
    keeps its last head (two equal keys would never part)."""
    out: dict[bytes, bytes | None] = {}
    for merchant, size, root in heads:
        key = map_key(merchant)
        out[key] = map_leaf_hash(key, size, root) if size else None
    return sorted(out.items())


def map_update(node: Node, heads: Iterable[tuple[str, int, bytes]]) -> Node:
    """The map ``node`` with the slices ``heads`` (``(merchant, size, root)``; size 0: removed)
    set; untouched subtrees are shared, not copied."""
    items = _items(heads)
    return _update(node, items, 0, len(items), 0)


def map_hash(node: Node) -> bytes:
    """The root hash of the map ``node``."""
    return _hash(node)


def map_root_of(heads: Iterable[tuple[str, int, bytes]]) -> bytes:
    """The map root of the slices ``(merchant, size, root)``: what an auditor recomputes."""
    items = [(k, v) for k, v in _items(heads) if v is not None]
    return _hash(_build(items, 0, len(items), 0))


# -- slices ----------------------------------------------------------------------------------
def _grow(size: int, frontier: list[bytes], leaves: list[bytes]) -> tuple[int, bytes]:
    """Append slice leaf hashes to a slice of ``size`` whose frontier is ``frontier`` (updated
    in place); the new size and the nodes completed, level by level (see migration 18): the
    leaves themselves, then the nodes above them."""
    upper: list[list[bytes]] = []  # the nodes completed at levels 1, 2, ...
    n = size
    sha = sha256
    for h in leaves:
        k, level = n, 0
        while k & 1:
            h = sha(b"\x01" + frontier.pop() + h).digest()
            if len(upper) == level:
                upper.append([h])
            else:
                upper[level].append(h)
            level += 1
            k >>= 1
        frontier.append(h)
        n += 1
    nodes = b"".join(leaves)
    if upper:
        nodes += b"".join(b"".join(level) for level in upper)
    return n, nodes


_ACCESS: Final = frozenset(ACCESS_ACTIONS)


def slice_leaves(rows: Sequence[FacetedRow], hashes: Sequence[bytes]) -> list[tuple[str, bytes]]:
    """``(merchant, slice leaf hash)`` of the access events among ``rows`` (their event leaf
    ``hashes`` beside), in log order: what :meth:`SliceGrower.add` takes. Computed with the
    rows, where they are decoded (:mod:`sentinelle.ingest.chunks`)."""
    # transparency.verify.slice_leaf_hash, inlined: once per access event ingested.
    access, sha = _ACCESS, sha256
    return [
        (row[5], sha(b"\x00" + row[0].to_bytes(8, "big") + h).digest())
        for row, h in zip(rows, hashes, strict=True)
        if row[5] is not None and row[3] in access
    ]


def event_slice_leaves(
    first: int, events: Sequence[Any], hashes: Sequence[bytes]
) -> list[tuple[str, bytes]]:
    """:func:`slice_leaves` of decoded ``events`` numbered from leaf ``first`` (their event
    leaf ``hashes`` beside), without their rows: what live detection's process computes
    (:class:`~sentinelle.ingest.chunks.Sums`)."""
    out: list[tuple[str, bytes]] = []
    access, actions, sha = AccessEvent, _ACCESS, sha256
    for seq, event, h in zip(range(first, first + len(hashes)), events, hashes, strict=True):
        if event.__class__ is access and event.action in actions:  # an access names a merchant
            out.append((event.merchant, sha(b"\x00" + seq.to_bytes(8, "big") + h).digest()))
    return out


@dataclass(slots=True)
class SliceBatch:
    """The slices and map of a checkpoint being written; :meth:`apply` once it committed."""

    owner: MerchantSlices
    base: int
    gsize: int
    heads: dict[str, tuple[int, bytes, bytes]]
    map: Node

    @property
    def map_root(self) -> bytes:
        """The map root the checkpoint carries."""
        return _hash(self.map)

    @property
    def line(self) -> str:
        """The checkpoint extension line of the map root."""
        return map_line(self.map_root)

    def apply(self) -> None:
        """Make this the process's current map (after the transaction committed)."""
        self.owner._advance(self)


class SliceGrower:
    """The slices a batch grows, in its write transaction (from :meth:`MerchantSlices.begin`).

    Leaves are kept per merchant and hashed into the slices when there are many
    (:data:`SPILL`, bounding memory) and at :meth:`finish`; each spill writes one
    ``slice_nodes`` row per merchant it grew (its latest row is its head), :meth:`finish` the
    map. :meth:`settle` does the hashing of :meth:`finish` without writing (no database: it
    may run in a thread while the transaction builds its indexes, SQLite working without the
    interpreter's lock); :meth:`finish` then writes what it grew.
    """

    SPILL: Final = 1 << 20  # leaves held before they are written (about 70 MB)

    def __init__(self, owner: MerchantSlices, w: Any, built: int, base: Node) -> None:
        self._owner = owner
        self._w = w
        self._built = built
        self._base = base
        self._leaves: dict[str, list[bytes]] = {}
        self._held = 0
        self._heads: dict[str, tuple[int, bytes, bytes]] = {}
        self._rows: list[NodeRow] = []  # hashed, not yet written
        self._settled: tuple[int, Node] | None = None  # (size, map) of the last settle

    def add(self, leaves: Iterable[tuple[str, bytes]], *, gsize: int) -> None:
        """Add ``(merchant, slice leaf hash)`` of access events (:func:`slice_leaves`), in log
        order; the log has ``gsize`` leaves once they are in."""
        by = self._leaves
        n = 0
        for merchant, slice_leaf in leaves:
            got = by.get(merchant)
            if got is None:
                by[merchant] = [slice_leaf]
            else:
                got.append(slice_leaf)
            n += 1
        self._held += n
        if self._held >= self.SPILL:
            self._spill(gsize)

    def _hash_held(self, gsize: int) -> None:
        """Hash the leaves held into their slices, the log having ``gsize`` leaves: their
        rows are kept to write, the heads moved on. No database."""
        if not self._leaves:
            return
        heads = self._heads
        olds = self._owner._olds(m for m in self._leaves if m not in heads)
        rows = self._rows
        for merchant, added in self._leaves.items():
            size, _, blob = heads.get(merchant) or olds[merchant]
            frontier = [blob[i : i + _H] for i in range(0, len(blob), _H)]
            n, nodes = _grow(size, frontier, added)
            root, blob = combine(frontier), b"".join(frontier)
            heads[merchant] = (n, root, blob)
            rows.append((merchant, n, size, gsize, root, blob, nodes))
        self._leaves, self._held = {}, 0

    def _spill(self, gsize: int) -> None:
        self._hash_held(gsize)
        if self._rows:
            self._w.put_slices(self._rows)
            self._rows = []

    def settle(self, end: int) -> None:
        """The hashing of :meth:`finish` at global size ``end`` (every leaf added so far,
        and the map), without writing anything."""
        self._hash_held(end)
        heads = self._heads
        self._settled = (end, map_update(self._base, ((m, n, r) for m, (n, r, _) in heads.items())))

    def finish(self, end: int) -> SliceBatch:
        """Write what is left and the heads; the batch, whose map root the checkpoint of size
        ``end`` carries."""
        if self._leaves or self._settled is None or self._settled[0] != end:
            self.settle(end)
        assert self._settled is not None  # noqa: S101
        self._spill(end)
        if self._built != end:
            self._w.set_slice_state(end)
        return SliceBatch(self._owner, self._built, end, self._heads, self._settled[1])


@dataclass(slots=True)
class MerchantSlices:
    """A process's view of the slices and the map (shared by its connections, thread-safe)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gsize: int | None = None
    _heads: dict[str, tuple[int, bytes, bytes]] = field(default_factory=dict)
    _map: Node = None
    _past: OrderedDict[int, Node] = field(default_factory=OrderedDict)

    def _remember(self, gsize: int, node: Node) -> None:
        self._past[gsize] = node
        self._past.move_to_end(gsize)
        while len(self._past) > _PAST:
            self._past.popitem(last=False)

    def _sync(self, src: SliceReads, *, writer: bool) -> int:
        """Bring the current map to what ``src`` has committed (lock held); the built size."""
        built = src.slice_state()
        if self._gsize == built or (not writer and self._gsize is not None and self._gsize > built):
            return built
        if self._gsize is None or self._gsize > built:  # first use, or a restored database
            rows, base = src.slice_heads_since(-1), None
            self._heads, self._past = {}, OrderedDict()
        else:
            rows, base = src.slice_heads_since(self._gsize, built=built), self._map
            self._remember(self._gsize, self._map)
        for merchant, size, root, frontier, _ in rows:
            self._heads[merchant] = (size, root, frontier)
        self._map = map_update(base, ((m, s, r) for m, s, r, _, _ in rows))
        self._gsize = built
        return built

    def _advance(self, batch: SliceBatch) -> None:
        with self._lock:
            if self._gsize != batch.base:
                return  # moved meanwhile: the next sync reads it from the database
            if batch.gsize != batch.base:
                self._remember(batch.base, self._map)
            self._heads.update(batch.heads)
            self._map = batch.map
            self._gsize = batch.gsize

    def begin(self, w: Any, *, start: int) -> SliceGrower:
        """Start growing the slices by a batch, in its write transaction ``w``, on a global
        tree of ``start`` leaves. Slices behind ``start`` (a database migrated with events
        already stored) are first built from the stored events.

        Raises :class:`IntegrityError` if the slices are built beyond the ledger.
        """
        with self._lock:
            built = self._sync(w, writer=True)
            grower = SliceGrower(self, w, built, self._map)
        if built > start:
            raise IntegrityError(
                f"the merchant slices are built to tree size {built}, beyond the ledger's "
                f"{start}: events were removed"
            )
        if built < start:
            for rows in w.access_leaves(built, start):
                grower.add(
                    [(m, slice_leaf_hash(seq, leaf_hash(body.encode()))) for seq, m, body in rows],
                    gsize=start,
                )
        return grower

    def prepare(
        self, w: Any, *, start: int, leaves: Sequence[tuple[int, str, bytes]], end: int
    ) -> SliceBatch:
        """:meth:`begin`, add ``leaves`` (``(leaf index, merchant, event leaf hash)``), and
        :meth:`SliceGrower.finish` at ``end``, in one call."""
        grower = self.begin(w, start=start)
        grower.add([(m, slice_leaf_hash(seq, lh)) for seq, m, lh in leaves], gsize=end)
        return grower.finish(end)

    def _olds(self, merchants: Iterable[str]) -> dict[str, tuple[int, bytes, bytes]]:
        empty = (0, EMPTY_ROOT, b"")
        with self._lock:
            heads = self._heads
            return {m: heads.get(m, empty) for m in merchants}

    def warm(self, src: SliceReads) -> int:
        """Build this process's map now, through ``src`` (a read transaction), rather than
        in the first request that needs it: built from every merchant's latest row, it takes
        seconds at 100,000 merchants (docs/ledger.md). Returns the tree size it is built to."""
        with self._lock:
            return self._sync(src, writer=False)

    def map_at(self, src: SliceReads, gsize: int) -> Node:
        """The map at global tree size ``gsize`` (a checkpoint's), read through ``src`` (a read
        transaction). Raises :class:`SliceQueryError` if the slices are not built to it."""
        with self._lock:
            built = self._sync(src, writer=False)
            if gsize > built:
                raise SliceQueryError(
                    "to", f"the merchant slices are built to tree size {built}, not {gsize}"
                )
            if gsize == self._gsize:
                return self._map
            if gsize in self._past:
                self._past.move_to_end(gsize)
                return self._past[gsize]
            # A map this process had at a size in [gsize, built]: what grew after gsize up
            # to it, the read transaction sees, and puts back.
            known = [g for g in self._past if gsize <= g <= built]
            if self._gsize is not None and self._gsize <= built:
                known.append(self._gsize)
            base_size = min(known) if known else None
            base: Node = None
            if base_size is not None:
                base = self._map if base_size == self._gsize else self._past[base_size]
        if base_size is None:  # an older read than every map here: rebuild at its size
            rows = src.slice_heads_since(-1)
            base = map_update(None, ((m, s, r) for m, s, r, _, _ in rows))
        grown = src.slice_heads_since(gsize, built=built)
        then = []
        for merchant, *_ in grown:
            head = src.slice_head_at(merchant, gsize)
            then.append((merchant, *(head or (0, EMPTY_ROOT))))
        node = map_update(base, then)
        with self._lock:
            self._remember(gsize, node)
        return node


# -- answers ---------------------------------------------------------------------------------
class SliceQueryError(Error):
    """A slice was asked for with a wrong parameter (``param``: ``from``, ``to`` or
    ``cursor``); the API answers 422 naming it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class SliceSide:
    """One end of a slice answer: the checkpoint of tree ``size`` (its signed ``note``; none
    at size 0), the merchant's slice then, and its map proof (none at size 0)."""

    size: int
    note: str | None
    head: SliceHead
    proof: MapProof | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as :func:`sentinelle.transparency.verify.verify_slice` reads it."""
        proof = None
        if self.proof is not None:
            other = None
            if self.proof.other_key is not None and self.proof.other_leaf is not None:
                other = {
                    "key": self.proof.other_key.hex(),
                    "leaf_hash": self.proof.other_leaf.hex(),
                }
            proof = {"siblings": [h.hex() for h in self.proof.siblings], "other": other}
        return {
            "size": self.size,
            "checkpoint": self.note,
            "slice": {"size": self.head.size, "root": self.head.root.hex()},
            "map_proof": proof,
        }


@dataclass(frozen=True, slots=True)
class SlicePage:
    """A page of a merchant's slice between two checkpoints: both ends, the slice's
    consistency proof, the entries from slice index ``start`` (``(leaf index, stored event,
    inclusion proof)``), and where the next page starts (``(slice index, leaf index)``,
    ``None`` on the last page)."""

    merchant: str
    origin: SliceSide
    to: SliceSide
    consistency: Sequence[bytes]
    start: int
    entries: Sequence[tuple[int, str, Sequence[bytes]]]
    next: tuple[int, int] | None

    def to_dict(self, next_cursor: str | None = None) -> dict[str, Any]:
        """JSON form (``next`` is the cursor the caller made of :attr:`next`)."""
        return {
            "merchant": self.merchant,
            "from": self.origin.to_dict(),
            "to": self.to.to_dict(),
            "consistency": [h.hex() for h in self.consistency],
            "start": self.start,
            "entries": [
                {
                    "slice_index": self.start + i,
                    "leaf_index": seq,
                    "event": body,
                    "proof": [h.hex() for h in proof],
                }
                for i, (seq, body, proof) in enumerate(self.entries)
            ],
            "next": next_cursor,
        }


class _SliceNodes:
    """Node hashes of one merchant's slice, read from ``slice_nodes`` rows as needed."""

    def __init__(self, store: Any, merchant: str) -> None:
        self._store = store
        self._merchant = merchant
        self._sizes: list[int] = []
        self._rows: dict[int, tuple[int, bytes]] = {}
        self._memo: dict[tuple[int, int], bytes] = {}

    def _add(self, lo: int, size: int, blob: bytes) -> None:
        if size not in self._rows:
            self._rows[size] = (lo, blob)
            insort(self._sizes, size)

    def prefetch(self, lo: int, hi: int) -> None:
        """Read the rows of the nodes whose last leaf is in ``[lo, hi)`` at once."""
        if hi > lo:
            for row in self._store.slice_node_rows(self._merchant, lo, hi):
                self._add(*row)

    def node(self, level: int, index: int) -> bytes:
        """The hash of node ``(level, index)``: leaves ``index·2^level`` on, ``2^level`` of them."""
        got = self._memo.get((level, index))
        if got is not None:
            return got
        last = ((index + 1) << level) - 1
        i = bisect_right(self._sizes, last)
        if i == len(self._sizes) or self._rows[self._sizes[i]][0] > last:
            row = self._store.slice_node_row(self._merchant, last)
            if row is None or row[0] > last:
                raise IntegrityError(
                    f"the slice of merchant {self._merchant!r} has no stored node for entry "
                    f"{last}: its slice_nodes rows were removed"
                )
            self._add(*row)
            i = bisect_right(self._sizes, last)
        size = self._sizes[i]
        lo, blob = self._rows[size]
        offset = sum((size >> j) - (lo >> j) for j in range(level)) + index - (lo >> level)
        got = blob[offset * _H : (offset + 1) * _H]
        if len(got) != _H:
            raise IntegrityError(
                f"the slice of merchant {self._merchant!r}: its stored nodes up to entry {size} "
                "are truncated"
            )
        self._memo[(level, index)] = got
        return got

    def subtree(self, start: int, end: int) -> bytes:
        """``MTH`` of slice entries ``start .. end-1`` (a node of the RFC tree)."""
        return combine([self.node(level, i) for level, i in perfect_subtrees(start, end)])


def _has_map_line(note: str) -> bool:
    lines = Checkpoint.from_body(parse_note(note)[0]).extensions
    return any(line.startswith(MAP_LINE_PREFIX) for line in lines)


def _side(
    store: Any, slices: MerchantSlices, merchant: str, size: int, param: str
) -> tuple[SliceSide, int]:
    if size == 0:
        return SliceSide(0, None, SliceHead(0, EMPTY_ROOT), None), 0
    cp = store.checkpoint_at(size)
    if cp is None:
        raise SliceQueryError(param, f"no checkpoint is recorded at tree size {size}")
    if not _has_map_line(cp.note):
        raise SliceQueryError(
            param,
            f"the checkpoint of tree size {size} carries no merchant map (it was made before "
            "merchant slices): completeness cannot be proven against it; pick a later checkpoint"
            + (", or from=0" if param == "from" else ""),
        )
    node = slices.map_at(store, size)
    head = store.slice_head_at(merchant, size)
    slice_head = SliceHead(*head) if head else SliceHead(0, EMPTY_ROOT)
    return SliceSide(size, cp.note, slice_head, _prove(node, map_key(merchant))), slice_head.size


def slice_page(
    store: Any,
    slices: MerchantSlices,
    merchant: str,
    *,
    from_size: int,
    to_size: int,
    after: tuple[int, int] | None = None,
    limit: int = 500,
) -> SlicePage:
    """A page of ``merchant``'s slice between the checkpoints of tree sizes ``from_size`` (0:
    the beginning) and ``to_size``, from ``after`` (the :attr:`SlicePage.next` of the previous
    page). Run it in one read transaction (:meth:`Store.snapshot`).

    Built from the store as it is, not checked: a changed or removed event, or a changed slice
    row, makes the merchant's verification fail (naming it), as it should.

    Raises :class:`SliceQueryError` for a size that is not a recorded checkpoint with a
    merchant map, ``from_size > to_size``, or an ``after`` outside the range.
    """
    if from_size > to_size:
        raise SliceQueryError("from", f"from ({from_size}) is after to ({to_size})")
    if to_size == 0:
        raise SliceQueryError("to", "to must be the size of a recorded checkpoint, not 0")
    to, n2 = _side(store, slices, merchant, to_size, "to")
    origin, n1 = _side(store, slices, merchant, from_size, "from")
    nodes = _SliceNodes(store, merchant)
    consistency = consistency_proof(n1, n2, nodes.subtree) if n1 <= n2 else []
    start, seq = after if after is not None else (n1, from_size)
    if not (n1 <= start <= n2 and from_size <= seq <= to_size):
        raise SliceQueryError("cursor", "it does not continue this slice between these sizes")
    rows = store.slice_events(merchant, from_seq=seq, to_seq=to_size, limit=limit + 1)
    page = rows[:limit]
    nodes.prefetch(start, min(start + len(page), n2))
    entries = []
    for i, (leaf, body) in enumerate(page):
        index = start + i
        proof = inclusion_proof(index, n2, nodes.subtree) if index < n2 else []
        entries.append((leaf, body, proof))
    following = (start + len(page), page[-1][0] + 1) if len(rows) > limit else None
    return SlicePage(merchant, origin, to, consistency, start, entries, following)
