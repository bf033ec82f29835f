"""Storage of the ledger's witnesses (migration 16): the cosignatures witnesses gave its
checkpoints, and per witness the tree size it last cosigned.

A cosignature row keeps the root it signs, not only the line: if the checkpoint row of its
size is deleted, the witness's word on that size remains, and verification can still check
the tree against it (and names the deleted checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

__all__ = ["CosignatureRow", "WitnessStoreMixin", "WitnessWriterMixin"]

_COLUMNS: Final = "size, witness, root, line, cosigned_s, extensions"


class CosignatureRow(NamedTuple):
    """A ``cosignatures`` row: ``witness`` (its verifier key) cosigned ``root`` at ``size``."""

    size: int
    witness: str
    root: bytes
    line: str
    cosigned_s: int
    extensions: str = ""  # the checkpoint's extension lines, each with its newline (the
    # cosignature signs them too; migration 18)


def _row(r: Sequence[Any]) -> CosignatureRow:
    return CosignatureRow(int(r[0]), r[1], bytes(r[2]), r[3], int(r[4]), r[5])


class WitnessWriterMixin:
    """Witness writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def add_cosignature(
        self,
        *,
        size: int,
        witness: str,
        root: bytes,
        line: str,
        cosigned_s: int,
        extensions: str = "",
    ) -> None:
        """Record a cosignature (replacing that witness's earlier one at the same size), with
        the extension lines of the checkpoint it signs."""
        self._x("DELETE FROM cosignatures WHERE size = ? AND witness = ?", (size, witness))
        self._x(
            f"INSERT INTO cosignatures ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
            (size, witness, root, line, cosigned_s, extensions),
        )

    def set_witness_size(self, witness: str, *, url: str, size: int, at_us: int) -> None:
        """Record the tree size ``witness`` last cosigned (its ``old`` size next time)."""
        self._x("DELETE FROM witness_state WHERE witness = ?", (witness,))
        self._x(
            "INSERT INTO witness_state (witness, url, size, updated_us) VALUES (?, ?, ?, ?)",
            (witness, url, size, at_us),
        )


class WitnessStoreMixin:
    """Witness reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def cosignatures(self, size: int | None = None) -> list[CosignatureRow]:
        """Every recorded cosignature by size then witness, or only those at ``size``."""
        if size is None:
            rows = self._x(f"SELECT {_COLUMNS} FROM cosignatures ORDER BY size, witness")  # noqa: S608
        else:
            rows = self._x(
                f"SELECT {_COLUMNS} FROM cosignatures WHERE size = ? ORDER BY witness",  # noqa: S608
                (size,),
            )
        return [_row(r) for r in rows]

    def newest_cosigned_size(self, *, below: int | None = None) -> int | None:
        """The largest tree size with a recorded cosignature (below ``below``, if given), or
        ``None``: one step down the primary key, however many cosignatures there are."""
        if below is None:
            rows = self._x("SELECT MAX(size) FROM cosignatures")
        else:
            rows = self._x("SELECT MAX(size) FROM cosignatures WHERE size < ?", (below,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def witness_size(self, witness: str) -> int | None:
        """The tree size ``witness`` last cosigned, as recorded (``None``: never)."""
        rows = self._x("SELECT size FROM witness_state WHERE witness = ?", (witness,))
        return int(rows[0][0]) if rows else None
