"""Storage of the ledger (migrations 1, 7): its size, the tree's tiles, the signed checkpoints
and the verifier keys that signed them (public keys only, never a private key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sentinelle.timeutil import now_us

__all__ = ["LedgerStoreMixin", "LedgerWriterMixin", "StoredCheckpoint"]

_LEDGER_KEYS_SELECT: Final = (
    "SELECT seq, verifier_key, from_size, added_us, added_by, reason, statement "
    "FROM ledger_keys ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint as recorded: tree size, root hash and the signed note text."""

    size: int
    root: bytes
    note: str
    created_us: int


class LedgerWriterMixin:
    """Ledger writes of one transaction (size, tiles, checkpoints, keys); a base of
    :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def ledger_size(self) -> int:
        """Leaves in the ledger, as of this transaction."""
        return int(self._x("SELECT size FROM ledger_state WHERE id = 1").fetchone()[0])

    def set_ledger_size(self, size: int) -> None:
        """Record the new number of leaves."""
        self._x("UPDATE ledger_state SET size = ? WHERE id = 1", (size,))

    def partial_tiles(self, size: int) -> dict[int, bytes]:
        """The rightmost tile of each tile level for a tree of ``size`` leaves."""
        out: dict[int, bytes] = {}
        level, n = 0, size
        while n:
            if n & 255:
                row = self._x(
                    "SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, n >> 8)
                ).fetchone()
                if row is not None:
                    out[level] = bytes(row[0])
            level, n = level + 1, n >> 8
        return out

    def add_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Record a checkpoint, or return the one already recorded at this size."""
        row = self._x(
            "SELECT size, root, note, created_us FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        if row is not None:
            return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], int(row[3]))
        created = now_us()
        self._x(
            "INSERT INTO checkpoints (size, root, note, created_us) VALUES (?, ?, ?, ?)",
            (size, root, note, created),
        )
        return StoredCheckpoint(size, root, note, created)

    def ledger_keys(self) -> list[tuple[Any, ...]]:
        """Recorded verifier keys as of this transaction, oldest first (as in
        :meth:`add_ledger_key`)."""
        return [tuple(r) for r in self._x(_LEDGER_KEYS_SELECT).fetchall()]

    def add_ledger_key(self, row: Sequence[Any]) -> None:
        """Record a verifier key ``(seq, verifier_key, from_size, added_us, added_by, reason,
        statement)``: the public key only, never the private key."""
        self._x(
            "INSERT INTO ledger_keys (seq, verifier_key, from_size, added_us, added_by, reason, "
            "statement) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )


class LedgerStoreMixin:
    """Ledger reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def ledger_size(self) -> int:
        """Leaves in the ledger."""
        return int(self._x("SELECT size FROM ledger_state WHERE id = 1")[0][0])

    def fetch_tiles(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored tiles by ``(level, index)``; missing keys are left out."""
        out: dict[tuple[int, int], bytes] = {}
        for i in range(0, len(keys), 100):  # one round trip per 100 tiles
            part = keys[i : i + 100]
            where = " OR ".join(["(level = ? AND idx = ?)"] * len(part))
            params = [v for key in part for v in key]
            rows = self._x(f"SELECT level, idx, data FROM tiles WHERE {where}", params)  # noqa: S608
            out.update(((int(r[0]), int(r[1])), bytes(r[2])) for r in rows)
        return out

    def tiles_range(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored tiles of one level with index in ``[first, last]``."""
        rows = self._x(
            "SELECT idx, data FROM tiles WHERE level = ? AND idx BETWEEN ? AND ?",
            (level, first, last),
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every recorded checkpoint, by size."""
        rows = self._x("SELECT size, root, note, created_us FROM checkpoints ORDER BY size")
        return [StoredCheckpoint(int(r[0]), bytes(r[1]), r[2], int(r[3])) for r in rows]

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint recorded for tree size ``size``, if any."""
        rows = self._x(
            "SELECT size, root, note, created_us FROM checkpoints WHERE size = ?", (size,)
        )
        return (
            StoredCheckpoint(int(rows[0][0]), bytes(rows[0][1]), rows[0][2], int(rows[0][3]))
            if rows
            else None
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest size, if any."""
        rows = self._x(
            "SELECT size, root, note, created_us FROM checkpoints ORDER BY size DESC LIMIT 1"
        )
        return (
            StoredCheckpoint(int(rows[0][0]), bytes(rows[0][1]), rows[0][2], int(rows[0][3]))
            if rows
            else None
        )

    def ledger_keys(self) -> list[tuple[Any, ...]]:
        """Recorded verifier keys, oldest first (columns as in :meth:`Writer.add_ledger_key`)."""
        return [tuple(r) for r in self._x(_LEDGER_KEYS_SELECT)]
