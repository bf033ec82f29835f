"""Storage of the merchants' slices (migration 18): each merchant's access events as its own
RFC 9162 log, and what the merchant map of every checkpoint is built from.

Written at ingest, in the events' transaction (:mod:`sentinelle.ledger.slices` computes the
rows): ``slice_nodes`` one row per merchant per batch that grew it (the slice root and frontier
at that checkpoint, and the nodes the batch completed), and ``slice_state`` the global tree size
the slices are built to. Rows are ``(merchant, size, lo, gsize, root, frontier, nodes)``, as in
the migration; a merchant's latest row (its largest ``size``) is its slice now, its *head*
``(merchant, size, root, frontier, gsize)``.

One statement per batch (``COPY`` on PostgreSQL), and no index but the key: a process catching
up with what another wrote finds the merchants that grew in the events it has not seen, then
each one's latest row by its key (:meth:`_SliceReads.slice_heads_since`); a new process reads
every merchant's latest row jumping along the key from merchant to merchant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from sentinelle.events import ACCESS_ACTIONS

__all__ = ["HeadRow", "NodeRow", "SliceStoreMixin", "SliceWriterMixin"]

HeadRow = tuple[str, int, bytes, bytes, int]  # merchant, size, root, frontier, gsize
NodeRow = tuple[str, int, int, int, bytes, bytes, bytes]  # merchant, size, lo, gsize, root,
# frontier, nodes

# The events a slice holds: the same list of actions ingest grows the slices by.
_ACCESS: Final = "action IN (" + ", ".join(f"'{a}'" for a in ACCESS_ACTIONS) + ")"
# The latest row of each merchant of ``w``, found by its key (the largest size, then the row).
_HEADS_OF_W: Final = (
    "SELECT n.merchant, n.size, n.root, n.frontier, n.gsize FROM w JOIN slice_nodes AS n "
    "ON n.merchant = w.merchant AND n.size = "
    "(SELECT max(size) FROM slice_nodes AS l WHERE l.merchant = w.merchant)"
)
# Every merchant's: from each merchant to the next along the key (a loose index scan, as many
# lookups as merchants, whatever their rows).
_ALL_HEADS: Final = (
    "WITH RECURSIVE w (merchant) AS (SELECT min(merchant) FROM slice_nodes UNION ALL "  # noqa: S608
    "SELECT (SELECT min(merchant) FROM slice_nodes WHERE merchant > w.merchant) FROM w "
    f"WHERE w.merchant IS NOT NULL) {_HEADS_OF_W} WHERE n.gsize > ?"
)
# Behind by at most this many events, a reader finds the slices that grew from those events
# (a range of the events' key, then the heads by theirs); further behind, every merchant's.
CATCH_UP_EVENTS: Final = 20_000
_IN: Final = 500  # merchants per "IN (...)" lookup


def _head(r: Sequence[Any]) -> HeadRow:
    return (r[0], int(r[1]), bytes(r[2]), bytes(r[3]), int(r[4]))


class _SliceReads:
    """The reads both a read connection and a write transaction make (ingest catches up with
    what another process wrote, in its own transaction)."""

    if TYPE_CHECKING:

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def slice_state(self) -> int:
        """The global tree size the slices are built to."""
        return int(self._rows("SELECT size FROM slice_state WHERE id = 1")[0][0])

    def slice_heads_since(self, gsize: int, *, built: int | None = None) -> list[HeadRow]:
        """The slices that grew after global tree size ``gsize`` (-1: every slice), as they
        are now; ``built``: the size they are built to (:meth:`slice_state`), if known.

        A slice grew after ``gsize`` exactly when its merchant has an access event with seq in
        ``[gsize, built)``: for a small gap those merchants come from the events' key and their
        latest rows from theirs; otherwise every merchant's latest row is read (no index on
        ``gsize``: every batch would update it).
        """
        if gsize < 0 or built is None or built - gsize > CATCH_UP_EVENTS:
            return [_head(r) for r in self._rows(_ALL_HEADS, (gsize,))]
        grew = [
            r[0]
            for r in self._rows(
                "SELECT DISTINCT merchant FROM events WHERE seq >= ? AND seq < ? "  # noqa: S608
                f"AND merchant IS NOT NULL AND {_ACCESS}",
                (gsize, built),
            )
        ]
        out = []
        for i in range(0, len(grew), _IN):
            part = grew[i : i + _IN]
            values = ", ".join(["(?)"] * len(part))
            sql = f"WITH w (merchant) AS (VALUES {values}) {_HEADS_OF_W}"
            out += self._rows(sql, part)
        return [_head(r) for r in out]

    def slice_head(self, merchant: str) -> HeadRow | None:
        """``merchant``'s slice now, if it has one."""
        rows = self._rows(
            "SELECT merchant, size, root, frontier, gsize FROM slice_nodes WHERE merchant = ? "
            "ORDER BY size DESC LIMIT 1",
            (merchant,),
        )
        return _head(rows[0]) if rows else None

    def slice_head_at(self, merchant: str, gsize: int) -> tuple[int, bytes] | None:
        """``(size, root)`` of ``merchant``'s slice at global tree size ``gsize`` (``None``:
        it had no access yet)."""
        rows = self._rows(
            "SELECT size, root FROM slice_nodes WHERE merchant = ? AND gsize <= ? "
            "ORDER BY size DESC LIMIT 1",
            (merchant, gsize),
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def slice_node_rows(self, merchant: str, lo: int, hi: int) -> list[tuple[int, int, bytes]]:
        """``(lo, size, nodes)`` of the rows of ``merchant`` holding the nodes whose last leaf is
        in ``[lo, hi)``, by size."""
        rows = self._rows(
            "SELECT lo, size, nodes FROM slice_nodes WHERE merchant = ? AND size > ? AND lo < ? "
            "ORDER BY size",
            (merchant, lo, hi),
        )
        return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    def slice_node_row(self, merchant: str, leaf: int) -> tuple[int, int, bytes] | None:
        """``(lo, size, nodes)`` of the row holding the nodes whose last leaf is ``leaf``."""
        rows = self._rows(
            "SELECT lo, size, nodes FROM slice_nodes WHERE merchant = ? AND size > ? "
            "ORDER BY size LIMIT 1",
            (merchant, leaf),
        )
        return (int(rows[0][0]), int(rows[0][1]), bytes(rows[0][2])) if rows else None

    def slice_events(
        self, merchant: str, *, from_seq: int, to_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """``(seq, body)`` of ``merchant``'s access events with seq in ``[from, to)``, oldest
        first, at most ``limit``: its slice's entries in that part of the log, in order."""
        rows = self._rows(
            f"SELECT seq, body FROM events WHERE merchant = ? AND seq >= ? AND seq < ? "  # noqa: S608
            f"AND {_ACCESS} ORDER BY seq LIMIT ?",
            (merchant, from_seq, to_seq, limit),
        )
        return [(int(r[0]), r[1]) for r in rows]

    def access_leaves(
        self, start: int, end: int, *, batch: int = 20_000
    ) -> Iterator[list[tuple[int, str, str]]]:
        """``(seq, merchant, body)`` of the access events with seq in ``[start, end)``, in seq
        order, in lists of up to ``batch``: what the slices are built from."""
        after = start - 1
        while True:
            rows = self._rows(
                f"SELECT seq, merchant, body FROM events WHERE seq > ? AND seq < ? "  # noqa: S608
                f"AND merchant IS NOT NULL AND {_ACCESS} ORDER BY seq LIMIT ?",
                (after, end, batch),
            )
            if not rows:
                return
            yield [(int(r[0]), r[1], r[2]) for r in rows]
            after = int(rows[-1][0])


class SliceWriterMixin(_SliceReads):
    """Slice writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
        def _load(self, table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._x(sql, params).fetchall())

    def set_slice_state(self, size: int) -> None:
        """Record that the slices are built to global tree size ``size``."""
        self._x("UPDATE slice_state SET size = ? WHERE id = 1", (size,))

    def put_slices(self, rows: Sequence[NodeRow]) -> None:
        """Store what a batch grew: one row per merchant whose slice it grew."""
        self._load("slice_nodes", "merchant, size, lo, gsize, root, frontier, nodes", rows)


class SliceStoreMixin(_SliceReads):
    """Slice reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._x(sql, params))
