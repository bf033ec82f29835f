"""Storage of events (migrations 1, 4): the leaves of the ledger and their indexed columns.

Reads in ``seq`` order (the ledger's), in time order within a window, and the two reads an
incident's scope makes: the accesses of some actors, then the context events that decide
whether those accesses were justified.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from sentinelle.errors import StoreError

__all__ = ["DuplicateIdsError", "EventRow", "EventStoreMixin", "EventWriterMixin", "FacetedRow"]

# (seq, id, time_us, action, actor, merchant, ref, body): the leaf and its indexed columns.
# A plain tuple, not a named one: ingest builds one per event on its hot path.
EventRow = tuple[int, str, int, str, str | None, str | None, str | None, str]
# An EventRow and its page facets (``events.facets``, ``None`` for a context event): what ingest
# inserts, built once per event with the facets last.
FacetedRow = tuple[int, str, int, str, str | None, str | None, str | None, str, int | None]
_EVENT_COLUMNS: Final = "seq, id, time_us, action, actor, merchant, ref, body"


class DuplicateIdsError(StoreError):
    """A bulk insert hit an event id that is already stored (the writer handles it)."""


class EventWriterMixin:
    """Event reads of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def existing(self, ids: Sequence[str]) -> dict[str, str]:
        """Stored bodies of those of ``ids`` that are already stored."""
        found: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._x(f"SELECT id, body FROM events WHERE id IN ({marks})", part)  # noqa: S608
            found.update((r[0], r[1]) for r in rows.fetchall())
        return found

    def bodies(
        self, start: int, end: int, *, batch: int = 20_000
    ) -> Iterator[list[tuple[int, str]]]:
        """``(seq, body)`` of the events ``[start, end)`` as this transaction sees them (its own
        inserts included), in lists of up to ``batch``."""
        for low in range(start, end, batch):
            rows = self._x(
                "SELECT seq, body FROM events WHERE seq >= ? AND seq < ? ORDER BY seq",
                (low, min(low + batch, end)),
            ).fetchall()
            yield [(int(r[0]), r[1]) for r in rows]


class EventStoreMixin:
    """Event reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def event_by_id(self, event_id: str) -> tuple[int, str] | None:
        """``(seq, body)`` of a stored event."""
        rows = self._x("SELECT seq, body FROM events WHERE id = ?", (event_id,))
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def iter_events(self, start: int = 0, *, batch: int = 20_000) -> Iterator[list[EventRow]]:
        """Stored event rows in ``seq`` order from ``start``, in lists of up to ``batch``."""
        after = start - 1
        while True:
            rows = self._x(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after, batch),
            )
            if not rows:
                return
            yield [tuple(r) for r in rows]
            after = rows[-1][0]

    def events_by_seq(self, start: int, *, batch: int = 20_000) -> Iterator[list[tuple[int, str]]]:
        """``(seq, body)`` of events from ``start`` on, in lists of up to ``batch``."""
        after = start - 1
        while True:
            rows = self._x(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
            )
            if not rows:
                return
            yield [(int(r[0]), r[1]) for r in rows]
            after = rows[-1][0]

    def events_by_time(
        self, since_us: int | None, until_us: int | None, *, batch: int = 20_000
    ) -> Iterator[list[str]]:
        """Event bodies in time order (then seq), within ``[since, until)``."""
        lo = since_us if since_us is not None else -(2**62)
        hi = until_us if until_us is not None else 2**62
        last = (lo, -1)  # (time_us, seq) of the row before the first one wanted
        while True:
            rows = self._x(
                "SELECT time_us, seq, body FROM events WHERE time_us < ? AND "
                "time_us >= ? AND (time_us > ? OR seq > ?) ORDER BY time_us, seq LIMIT ?",
                (hi, last[0], last[0], last[1], batch),
            )
            if not rows:
                return
            yield [r[2] for r in rows]
            last = (int(rows[-1][0]), int(rows[-1][1]))

    def access_events_by_actors(
        self, actors: Sequence[str], since_us: int, until_us: int, *, batch: int = 20_000
    ) -> Iterator[list[tuple[int, int, str]]]:
        """``(time_us, seq, body)`` of the access events of ``actors`` with time in
        ``[since, until]`` (both included), in time order (then seq), in lists of up to ``batch``.

        Context events carry an actor too (a ticket's assignee, a grant's grantee); they are
        left out by their action.
        """
        from sentinelle.events import ACCESS_ACTIONS

        if not actors:
            return
        actor_marks = ",".join("?" * len(actors))
        action_marks = ",".join("?" * len(ACCESS_ACTIONS))
        last = (since_us, -1)  # the first row wanted: time >= since
        while True:
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE actor IN ({actor_marks}) "  # noqa: S608
                f"AND action IN ({action_marks}) AND time_us <= ? "
                "AND time_us >= ? AND (time_us > ? OR seq > ?) ORDER BY time_us, seq LIMIT ?",
                (*actors, *ACCESS_ACTIONS, until_us, last[0], last[0], last[1], batch),
            )
            if not rows:
                return
            yield [(int(r[0]), int(r[1]), r[2]) for r in rows]
            last = (int(rows[-1][0]), int(rows[-1][1]))

    def context_events_cited(
        self, refs: Collection[str], actors: Sequence[str], until_us: int, *, chunk: int = 500
    ) -> list[tuple[int, int, str]]:
        """``(time_us, seq, body)`` of the ``ticket.*``/``grant.*`` events about the tickets and
        grants in ``refs`` and of the ``staff.*`` events of ``actors``, with time up to
        ``until`` (included), in time order (then seq).

        Their whole history up to ``until``: what decides whether an access citing a ticket
        or grant was justified, read through the ``ref`` and ``actor`` indexes.
        """
        from sentinelle.events import CONTEXT_TYPES

        found: list[tuple[int, int, str]] = []
        wanted = sorted(refs)
        for i in range(0, len(wanted), chunk):
            part = wanted[i : i + chunk]
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE ref IN ({','.join('?' * len(part))}) "  # noqa: S608
                "AND time_us <= ?",
                (*part, until_us),
            )
            found.extend((int(r[0]), int(r[1]), r[2]) for r in rows)
        staff = [t for t in CONTEXT_TYPES if t.startswith("staff.")]
        for i in range(0, len(actors), chunk):
            part = list(actors[i : i + chunk])
            marks = ",".join("?" * len(part))
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE actor IN ({marks}) "  # noqa: S608
                f"AND action IN ({','.join('?' * len(staff))}) AND time_us <= ?",
                (*part, *staff, until_us),
            )
            found.extend((int(r[0]), int(r[1]), r[2]) for r in rows)
        found.sort()
        return found
