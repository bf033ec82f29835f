"""Storage of the guard (migration 13): just-in-time grants, suspended actors and the decisions
recorded (by their access event's id, for idempotent retries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["DecisionRow", "GrantRow", "GrantStoreMixin", "GrantWriterMixin"]

#: At most so many grants of one actor at one merchant are read for a decision (the live
#: ones, latest expiry first): a decision's cost stays flat whatever an actor accumulates.
MAX_GRANTS_READ: Final = 50


class GrantRow(NamedTuple):
    """A ``grants`` row; ``actions``, ``categories`` and ``approvals`` as stored JSON text."""

    id: str
    actor: str
    merchant: str
    actions_json: str
    categories_json: str
    max_records: int
    purpose: str | None
    reason: str
    ticket: str | None
    requested_by: str
    requested_us: int
    approvals_json: str
    expires_us: int
    state: str
    changed_us: int


class DecisionRow(NamedTuple):
    """A recorded decision: its access event's id, the request's hash, when, the answer."""

    id: str
    request_hash: str
    at_us: int
    response: str


_COLUMNS: Final = (
    "id, actor, merchant, actions, categories, max_records, purpose, reason, ticket, "
    "requested_by, requested_us, approvals, expires_us, state, changed_us"
)


def _grant(r: Sequence[Any]) -> GrantRow:
    return GrantRow(
        r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], r[9], int(r[10]), r[11],
        int(r[12]), r[13], int(r[14]),
    )  # fmt: skip


class GrantWriterMixin:
    """Grant, suspension and decision writes of one transaction; a base of
    :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def insert_grant(self, row: GrantRow) -> None:
        """Store a new grant."""
        self._x(f"INSERT INTO grants ({_COLUMNS}) VALUES ({','.join('?' * 15)})", row)  # noqa: S608

    def update_grant(
        self, grant_id: str, *, approvals_json: str, expires_us: int, state: str, at_us: int
    ) -> None:
        """Record a grant's approvals, expiry and state as of ``at_us``."""
        self._x(
            "UPDATE grants SET approvals = ?, expires_us = ?, state = ?, changed_us = ? "
            "WHERE id = ?",
            (approvals_json, expires_us, state, at_us, grant_id),
        )

    def suspend(self, actor: str, *, by: str, reason: str, at_us: int) -> None:
        """Suspend ``actor`` from now on (every decision about it is a denial)."""
        self._x("DELETE FROM suspensions WHERE actor = ?", (actor,))
        self._x(
            "INSERT INTO suspensions (actor, since_us, suspended_by, reason, lifted_us) "
            "VALUES (?, ?, ?, ?, NULL)",
            (actor, at_us, by, reason),
        )

    def lift_suspension(self, actor: str, *, at_us: int) -> None:
        """End ``actor``'s suspension."""
        self._x(
            "UPDATE suspensions SET lifted_us = ? WHERE actor = ? AND lifted_us IS NULL",
            (at_us, actor),
        )

    def record_decisions(self, rows: Sequence[DecisionRow]) -> None:
        """Store decisions; an id already stored keeps its first answer."""
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO guard_decisions (id, request_hash, at_us, response) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            ),
            rows,
        )

    def decisions(self, ids: Sequence[str]) -> dict[str, DecisionRow]:
        """The stored decisions among ``ids`` (in this transaction)."""
        return _decisions(lambda q, p: self._x(q, p).fetchall(), ids)


class GrantStoreMixin:
    """Grant reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def grant(self, grant_id: str) -> GrantRow | None:
        """The grant called ``grant_id``, or ``None``."""
        rows = self._x(f"SELECT {_COLUMNS} FROM grants WHERE id = ?", (grant_id,))  # noqa: S608
        return _grant(rows[0]) if rows else None

    def grants_of(self, actor: str, merchant: str, *, now_us: int) -> list[GrantRow]:
        """``actor``'s grants at ``merchant`` that may still hold (requested or approved, not
        expired at ``now_us``), latest expiry first, at most :data:`MAX_GRANTS_READ`: one
        range of the ``(actor, merchant, expires_us)`` index."""
        rows = self._x(
            f"SELECT {_COLUMNS} FROM grants WHERE actor = ? AND merchant = ? "  # noqa: S608
            "AND expires_us > ? AND state IN ('requested', 'approved') "
            "ORDER BY expires_us DESC LIMIT ?",
            (actor, merchant, now_us, MAX_GRANTS_READ),
        )
        return [_grant(r) for r in rows]

    def suspended(self, actor: str) -> bool:
        """Whether ``actor`` is suspended now."""
        return bool(
            self._x("SELECT 1 FROM suspensions WHERE actor = ? AND lifted_us IS NULL", (actor,))
        )

    def decision(self, event_id: str) -> DecisionRow | None:
        """The decision recorded by the access event ``event_id``, or ``None``."""
        return _decisions(self._x, [event_id]).get(event_id)


def _decisions(run: Any, ids: Sequence[str]) -> dict[str, DecisionRow]:
    found: dict[str, DecisionRow] = {}
    for i in range(0, len(ids), 500):
        part = list(ids[i : i + 500])
        rows = run(
            "SELECT id, request_hash, at_us, response FROM guard_decisions "  # noqa: S608
            f"WHERE id IN ({','.join('?' * len(part))})",
            part,
        )
        found.update((r[0], DecisionRow(r[0], r[1], int(r[2]), r[3])) for r in rows)
    return found
