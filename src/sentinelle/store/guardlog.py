"""Storage of the guard's human steps (migration 15): ``guard_log``, one row per step —
an actor suspended or lifted, a grant request seen, an approval link sent or used, a request
expired — with when, who and why. Kept after the grant or suspension has ended, so "who saw
this request before it expired" and "who lifted this suspension, why" can always be answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["GuardLogRow", "GuardLogStoreMixin", "GuardLogWriterMixin"]


class GuardLogRow(NamedTuple):
    """One step: ``subject`` is the actor (suspensions) or the grant id; ``kind`` one of
    suspended, lifted, seen, link_sent, link_used, expired."""

    id: str
    at_us: int
    subject: str
    kind: str
    done_by: str
    reason: str


class GuardLogWriterMixin:
    """Guard log writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    def log_guard(self, rows: Sequence[GuardLogRow]) -> None:
        """Record steps; a step whose id is already stored is kept as first written."""
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO guard_log (id, at_us, subject, kind, done_by, reason) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            ),
            rows,
        )


class GuardLogStoreMixin:
    """Guard log reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def guard_log(self, subjects: Sequence[str], *, limit: int = 1000) -> list[GuardLogRow]:
        """The steps about ``subjects`` (actors or grant ids), oldest first, at most ``limit``."""
        found: list[GuardLogRow] = []
        for i in range(0, len(subjects), 500):
            part = list(subjects[i : i + 500])
            rows = self._x(
                "SELECT id, at_us, subject, kind, done_by, reason FROM guard_log "  # noqa: S608
                f"WHERE subject IN ({','.join('?' * len(part))}) ORDER BY at_us, id LIMIT ?",
                [*part, limit],
            )
            found.extend(GuardLogRow(r[0], int(r[1]), r[2], r[3], r[4], r[5]) for r in rows)
        found.sort(key=lambda r: (r.at_us, r.id))
        return found[:limit]
