"""``ledger verify``'s check of the merchants' slices and the merchant map (docs/ledger.md).

Every checkpoint carries, in its ``sentinelle/merchant-map/v1`` extension line, the root of the
merchant map: a sparse Merkle tree keyed by ``SHA-256(merchant)`` holding each merchant's slice
``(size, root)``, the slice being the merchant's access events as an RFC 9162 log whose leaves
are ``SHA-256(0x00 || uint64_be(leaf index) || event leaf hash)``. The definitions are
:mod:`sentinelle.transparency.verify`'s; the map is a function of the log, so an auditor holding
the events can recompute it. :class:`SliceCheck` does that while :meth:`Ledger.verify
<sentinelle.ledger.log.Ledger.verify>` streams the events: it is fed each access event as read
(the event's leaf hash, which verify computes anyway), keeps per merchant the slice's size and
frontier (its perfect subtrees' roots: ``O(log n)`` hashes, never the leaves), and keeps the map
as an immutable compact tree updated once per checkpoint for the merchants that grew since, as
ingest does, so each checkpoint costs about ``log2(merchants)`` hashes per merchant touched.

The slices are rebuilt here with their own few lines (a frontier per merchant, no nodes
kept). The map is updated with ingest's sparse Merkle tree code
(:func:`~sentinelle.ledger.slices.map_update`), so a fault of that code would be repeated
here; ``tests/unit/ledger/test_verify_slices_map.py`` compares the two with a map computed
from its definition alone.

What it checks:

* at every signed checkpoint (recorded, given with ``--checkpoint``, or cosigned by a trusted
  witness) whose note carries a map line, once the tree matched its root: the line is the map
  the events give. When it is not, the stored ``slice_nodes`` at that size tell whether the
  events or the map are at fault, and name the merchant whose slice differs;
* checkpoints without a map line: allowed before the first one with a line (a database migrated
  from before merchant slices); the checkpoint covering the ledger must have one once the
  slices are built to its size; a checkpoint without one after one with it fails (a log
  signing its checkpoints without the map stops committing to the merchants' slices);
* every merchant's latest ``slice_nodes`` row (its slice now, which the slice answers and the
  map of each process start from): size, root, frontier and tree size, against the slice the
  events give; a merchant with accesses but no row, or a row but no access, is named.

Older rows (a slice at an earlier checkpoint, and the inner nodes proofs are read from) are
not compared one by one: a wrong one makes the merchant's own check of an answer fail (the
proofs lead to another root than the signed map holds).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, Final

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import combine
from sentinelle.ledger.slices import Node, SliceReads, map_hash, map_root_of, map_update
from sentinelle.transparency import verify
from sentinelle.transparency.verify import EMPTY_ROOT

__all__ = ["MapCommitment", "SliceCheck", "SliceReport", "map_root_in"]

_NODE: Final = b"\x01"


def map_root_in(extensions: Iterable[str], label: str) -> bytes | None:
    """The merchant-map root a checkpoint's extension lines carry (``None``: no map line), as
    :func:`sentinelle.transparency.verify.map_root_in` reads it.

    Raises :class:`IntegrityError` naming ``label`` if there are two, or the root is not
    canonical base64 of 32 bytes.
    """
    try:
        return verify.map_root_in(tuple(extensions))
    except verify.NoteError as exc:
        raise IntegrityError(f"{label}: {exc}") from None


@dataclass(frozen=True, slots=True)
class MapCommitment:
    """A signed checkpoint as far as the map goes: its tree ``size``, how to name it, and the
    map root its note carries (``None``: no map line)."""

    size: int
    label: str
    map_root: bytes | None


@dataclass(frozen=True, slots=True)
class SliceReport:
    """What :meth:`SliceCheck.finish` checked: the merchants with a slice, the map lines
    compared."""

    merchants: int
    mapped: int


# -- the slices, rebuilt ---------------------------------------------------------------------
@dataclass(slots=True)
class _Slice:
    size: int = 0
    frontier: list[bytes] = field(default_factory=list)
    last: int = -1  # the leaf index of its newest entry

    def head(self) -> tuple[int, bytes]:
        return self.size, combine(self.frontier)


def _head_text(size: int) -> str:
    return f"{size} entr{'y' if size == 1 else 'ies'}"


class SliceCheck:
    """Rebuilds every merchant's slice and the map from the events :meth:`Ledger.verify
    <sentinelle.ledger.log.Ledger.verify>` reads, and compares them with the checkpoints' map
    lines and the stored slices.

    ``commitments`` are the signed checkpoints (every one verify checks the tree against);
    ``size`` the ledger's. Feed :meth:`add` each access event in log order, call
    :meth:`reached` once the tree matched the checkpoints of that size (0 included), and
    :meth:`finish` at the end. Each raises :class:`IntegrityError` naming what is wrong.
    """

    def __init__(self, store: Any, commitments: Sequence[MapCommitment], size: int) -> None:
        self._store: SliceReads = store
        self._built: int = self._store.slice_state()
        if self._built > size:
            raise IntegrityError(
                f"the merchant slices are built to tree size {self._built}, beyond the ledger's "
                f"{size}: events were removed (or slice_state altered)"
            )
        self._size = size
        self._by_size: dict[int, list[MapCommitment]] = {}
        for c in commitments:
            self._by_size.setdefault(c.size, []).append(c)
        self._sizes: list[int] = sorted(self._by_size)
        self._slices: dict[str, _Slice] = {}
        self._grown: set[str] = set()  # merchants whose map leaf is not yet updated
        self._map: Node = None
        self._first_mapped: MapCommitment | None = None
        self._mapped = 0
        self._at_built: dict[str, tuple[int, bytes, bytes, int]] | None = None

    def add(self, seq: int, merchant: str, event_leaf_hash: bytes) -> None:
        """An access event of ``merchant`` at leaf ``seq`` (the next in log order)."""
        s = self._slices.get(merchant)
        if s is None:
            s = self._slices[merchant] = _Slice()
        # transparency.verify.slice_leaf_hash, then slices._grow without its completed nodes,
        # inlined: once per access event verified.
        h = sha256(b"\x00" + seq.to_bytes(8, "big") + event_leaf_hash).digest()
        n, frontier = s.size, s.frontier
        while n & 1:
            h = sha256(_NODE + frontier.pop() + h).digest()
            n >>= 1
        frontier.append(h)
        s.size += 1
        s.last = seq
        self._grown.add(merchant)

    def map_root(self) -> bytes:
        """The map root of the slices so far."""
        if self._grown:
            grown = ((m, *self._slices[m].head()) for m in self._grown)
            self._map = map_update(self._map, grown)
            self._grown = set()
        return map_hash(self._map)

    def next_size(self, after: int) -> int | None:
        """The smallest checkpoint size above ``after`` (or the built size), if any."""
        i = bisect_left(self._sizes, after + 1)
        nxt = self._sizes[i] if i < len(self._sizes) else None
        if after < self._built and (nxt is None or self._built < nxt):
            return self._built
        return nxt

    def reached(self, size: int) -> int | None:
        """Every event below ``size`` was added and the tree has the signed roots there:
        check the map lines of the checkpoints of that size. Returns :meth:`next_size`."""
        if size == self._built:
            self._at_built = {
                m: (s.size, combine(s.frontier), b"".join(s.frontier), s.last)
                for m, s in self._slices.items()
            }
        for c in self._by_size.get(size, ()):
            if c.map_root is None:
                if self._first_mapped is not None:
                    raise IntegrityError(
                        f"{c.label} carries no merchant-map line, though "
                        f"{self._first_mapped.label} before it does: merchants cannot prove "
                        "their lists complete against it (was it signed again without the line?)"
                    )
                continue
            if self._first_mapped is None:
                self._first_mapped = c
            self._mapped += 1
            got = self.map_root()
            if got != c.map_root:
                raise IntegrityError(self._map_mismatch(c))
        return self.next_size(size)

    def _map_mismatch(self, c: MapCommitment) -> str:
        """What is wrong when the map line of ``c`` is not the map the events give."""
        log = {m: s.head() for m, s in self._slices.items()}
        merchants = set(log) | {row[0] for row in self._store.slice_heads_since(-1)}
        stored = {}
        for m in sorted(merchants):
            head = self._store.slice_head_at(m, c.size)
            if head is not None:
                stored[m] = head
        empty = (0, EMPTY_ROOT)
        differ = sorted(m for m in merchants if log.get(m, empty) != stored.get(m, empty))
        stored_root = map_root_of((m, n, r) for m, (n, r) in stored.items())
        others = f" (and {len(differ) - 1} other merchant(s))" if len(differ) > 1 else ""
        if differ and stored_root == c.map_root:
            m = differ[0]
            (n_log, r_log), (n_map, _) = log.get(m, empty), stored.get(m, empty)
            if n_log != n_map:
                what = f"{_head_text(n_log)} in the log, the map commits to {n_map}"
            else:
                what = (
                    f"its {_head_text(n_log)} in the log are not the ones the map commits to "
                    f"(slice root {r_log.hex()[:16]}…)"
                )
            return (
                f"merchant {m!r}'s slice at {c.label}: {what}{others}: an access event's "
                "merchant or action no longer gives the slice that checkpoint signed (events "
                "changed and the checkpoint signed again), or the map was built wrongly at ingest"
            )
        if not differ:
            return (
                f"{c.label}: its merchant-map line is not the map of the merchants' slices, on "
                "which the events and the slice_nodes rows agree: the map was built wrongly at "
                "ingest, or the note signed again with another map"
            )
        m = differ[0]
        n_log, n_rows = log.get(m, empty)[0], stored.get(m, empty)[0]
        return (
            f"{c.label}: its merchant-map line is the map neither of the events' slices nor of "
            f"the slice_nodes rows (merchant {m!r}: {_head_text(n_log)} in the log, "
            f"{n_rows} in slice_nodes{others}): the map or the rows were altered"
        )

    def finish(self) -> SliceReport:
        """After every event: the checkpoint covering the ledger must carry a map line once
        the slices are built to it, and every merchant's latest stored row must be its slice
        as the events give it (at the tree size the slices are built to)."""
        if self._sizes:
            top = self._sizes[-1]
            bare = [c for c in self._by_size[top] if c.map_root is None]
            if (
                len(bare) == len(self._by_size[top])
                and top
                and (self._first_mapped is not None or self._built >= top)
            ):
                raise IntegrityError(
                    f"{bare[0].label} carries no merchant-map line, though the merchants' slices "
                    "are built to its size"
                    + (f" and {self._first_mapped.label} has one" if self._first_mapped else "")
                    + ": nothing signed commits to the merchants' latest accesses (a checkpoint "
                    "made or signed again without the map)"
                )
        if self._built == 0:
            built: dict[str, tuple[int, bytes, bytes, int]] = {}
        else:
            built = self._at_built or {}
        rows = {r[0]: r for r in self._store.slice_heads_since(-1)}
        for m in sorted(set(built) | set(rows)):
            problem = _head_problem(m, built.get(m), rows.get(m), self._built)
            if problem is not None:
                raise IntegrityError(
                    f"{problem} (the signed map lines agree with the events: the stored slices, "
                    "not the events, were changed; answers built from them fail the merchant's "
                    "check)"
                )
        return SliceReport(len(self._slices), self._mapped)


def _head_problem(
    merchant: str,
    log: tuple[int, bytes, bytes, int] | None,
    row: tuple[str, int, bytes, bytes, int] | None,
    built: int,
) -> str | None:
    """What is wrong with ``merchant``'s latest ``slice_nodes`` row, given its slice from the
    events at tree size ``built``: ``(size, root, frontier, leaf index of its newest entry)``."""
    if row is None:
        return (
            f"merchant {merchant!r} has {_head_text(log[0] if log else 0)} in the log but no "
            "slice_nodes row: its rows were deleted"
        )
    _, size, root, frontier, gsize = row
    if log is None:
        return (
            f"slice_nodes rows of merchant {merchant!r} say {_head_text(size)}, but it has no "
            f"access event in the log below tree size {built}: rows were added, or its events "
            "removed"
        )
    n, want_root, want_frontier, last = log
    if size != n:
        return (
            f"slice_nodes rows of merchant {merchant!r} were altered: its latest row says "
            f"{_head_text(size)}, the log holds {n}"
        )
    if root != want_root or frontier != want_frontier:
        return (
            f"slice_nodes rows of merchant {merchant!r} were altered: the root or frontier of its "
            f"latest row (size {size}) is not the slice its access events give"
        )
    if not last < gsize <= built:
        return (
            f"slice_nodes rows of merchant {merchant!r} were altered: its latest row is dated "
            f"tree size {gsize}, but its newest access is leaf {last} and the slices are built "
            f"to {built}"
        )
    return None
