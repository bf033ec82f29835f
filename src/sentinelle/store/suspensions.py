"""Storage of suspensions (migrations 13 and 15): who is suspended since when, by whom, on which
alert and why, and who lifted it, when and why. One row per actor (the latest suspension);
the steps before it stay in ``guard_log`` (:mod:`.guardlog`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["SuspensionRow", "SuspensionStoreMixin", "SuspensionWriterMixin"]

_COLUMNS: Final = "actor, since_us, suspended_by, reason, alert, lifted_us, lifted_by, lift_reason"


class SuspensionRow(NamedTuple):
    """A ``suspensions`` row: in force while ``lifted_us`` is ``None``."""

    actor: str
    since_us: int
    suspended_by: str
    reason: str
    alert: str | None
    lifted_us: int | None
    lifted_by: str | None
    lift_reason: str | None


def _row(r: Sequence[Any]) -> SuspensionRow:
    lifted = None if r[5] is None else int(r[5])
    return SuspensionRow(r[0], int(r[1]), r[2], r[3], r[4], lifted, r[6], r[7])


class SuspensionWriterMixin:
    """Suspension writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def suspension_in_force(self, actor: str) -> SuspensionRow | None:
        """``actor``'s suspension in force, read in this transaction (``None``: not suspended)."""
        found = self._x(
            f"SELECT {_COLUMNS} FROM suspensions WHERE actor = ? AND lifted_us IS NULL",  # noqa: S608
            (actor,),
        ).fetchone()
        return _row(found) if found else None

    def suspend(
        self, actor: str, *, by: str, reason: str, at_us: int, alert: str | None = None
    ) -> None:
        """Suspend ``actor`` from ``at_us`` (replacing an earlier, lifted suspension's row)."""
        self._x("DELETE FROM suspensions WHERE actor = ?", (actor,))
        self._x(
            "INSERT INTO suspensions (actor, since_us, suspended_by, reason, alert, lifted_us, "
            "lifted_by, lift_reason) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
            (actor, at_us, by, reason, alert),
        )

    def lift_suspension(
        self, actor: str, *, at_us: int, by: str | None = None, reason: str | None = None
    ) -> bool:
        """Lift ``actor``'s suspension in force (by whom, why); whether there was one."""
        cur = self._x(
            "UPDATE suspensions SET lifted_us = ?, lifted_by = ?, lift_reason = ? "
            "WHERE actor = ? AND lifted_us IS NULL",
            (at_us, by, reason, actor),
        )
        return bool(cur.rowcount)


class SuspensionStoreMixin:
    """Suspension reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def suspended(self, actor: str) -> bool:
        """Whether ``actor`` is suspended now."""
        return bool(
            self._x("SELECT 1 FROM suspensions WHERE actor = ? AND lifted_us IS NULL", (actor,))
        )

    def suspension(self, actor: str) -> SuspensionRow | None:
        """``actor``'s latest suspension, in force or lifted; ``None`` if never suspended."""
        rows = self._x(f"SELECT {_COLUMNS} FROM suspensions WHERE actor = ?", (actor,))  # noqa: S608
        return _row(rows[0]) if rows else None

    def suspensions(self, *, lifted: bool = False, limit: int = 1000) -> list[SuspensionRow]:
        """Suspensions in force (with ``lifted``, the lifted ones too), latest first."""
        where = "" if lifted else "WHERE lifted_us IS NULL "
        rows = self._x(
            f"SELECT {_COLUMNS} FROM suspensions {where}ORDER BY since_us DESC, actor LIMIT ?",  # noqa: S608
            (limit,),
        )
        return [_row(r) for r in rows]

    def suspended_among(self, actors: Sequence[str]) -> set[str]:
        """Which of ``actors`` are suspended now."""
        found: set[str] = set()
        for i in range(0, len(actors), 500):
            part = list(actors[i : i + 500])
            rows = self._x(
                "SELECT actor FROM suspensions WHERE lifted_us IS NULL "  # noqa: S608
                f"AND actor IN ({','.join('?' * len(part))})",
                part,
            )
            found.update(r[0] for r in rows)
        return found
