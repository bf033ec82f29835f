"""Storage of the guard (migration 13): just-in-time grants, suspended actors and the decisions
recorded (by their access event's id, for idempotent retries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import msgspec

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = [
    "DecisionRow",
    "GrantApproval",
    "GrantRow",
    "GrantStoreMixin",
    "GrantWriterMixin",
    "LinkRow",
    "approvals_json",
]

#: At most so many grants of one actor at one merchant are read for a decision (the live
#: ones, latest expiry first): a decision's cost stays flat whatever an actor accumulates.
MAX_GRANTS_READ: Final = 50


class GrantApproval(msgspec.Struct, frozen=True):
    """One approval of a grant as its row stores it: as whom (``merchant`` or ``staff``), by
    whom (a key label, an account or a name), when (microseconds)."""

    as_: str = msgspec.field(name="as")
    by: str
    at_us: int


_approvals_of: Final = msgspec.json.Decoder(list[GrantApproval])
_encode: Final = msgspec.json.Encoder().encode


def approvals_json(approvals: Sequence[GrantApproval]) -> str:
    """The stored text of a grant's approvals (:meth:`GrantRow.approvals` reads it back)."""
    return _encode(list(approvals)).decode()


class GrantRow(NamedTuple):
    """A ``grants`` row; ``actions``, ``categories`` and ``approvals`` as stored JSON text
    (:meth:`approvals` reads the last)."""

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

    def approvals(self) -> list[GrantApproval]:
        """The approvals the grant has, in the order given."""
        return _approvals_of.decode(self.approvals_json)


class LinkRow(NamedTuple):
    """An ``approval_links`` row: the SHA-256 of a one-time e-mail link's token (never the
    token), the grant and merchant it is bound to, its life and when it was used, as what."""

    token_hash: str
    grant_id: str
    merchant: str
    created_us: int
    expires_us: int
    used_us: int | None
    used_as: str | None


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


def _citing(grant: GrantRow, columns: str) -> tuple[str, tuple[Any, ...]]:
    """The accesses citing ``grant``: the grantee's at its merchant from its request to its
    expiry (one range of the ``(actor, time_us)`` index), the grant found in the stored
    canonical JSON (``"grant":"g-…"``; grant ids hold no LIKE wildcard)."""
    return (
        f"SELECT {columns} FROM events WHERE actor = ? AND time_us >= ? "  # noqa: S608
        "AND time_us <= ? AND merchant = ? AND action IN ('view', 'search', 'export', "
        "'download', 'update', 'delete') AND body LIKE ?",
        (
            grant.actor,
            grant.requested_us,
            grant.expires_us,
            grant.merchant,
            '%"grant":"' + grant.id + '"%',
        ),
    )


def _link(r: Sequence[Any]) -> LinkRow:
    used = None if r[5] is None else int(r[5])
    return LinkRow(r[0], r[1], r[2], int(r[3]), int(r[4]), used, r[6])


class GrantWriterMixin:
    """Grant and decision writes of one transaction; a base of
    :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def insert_grant(self, row: GrantRow) -> None:
        """Store a new grant."""
        self._x(f"INSERT INTO grants ({_COLUMNS}) VALUES ({','.join('?' * 15)})", row)  # noqa: S608

    def update_grant(
        self,
        grant_id: str,
        *,
        approvals_json: str,
        expires_us: int,
        state: str,
        at_us: int,
        was: str | None = None,
    ) -> bool:
        """Record a grant's approvals, expiry and state as of ``at_us``; with ``was``, only if
        its state is still ``was`` (whether it changed: another writer may have been first)."""
        sql = (
            "UPDATE grants SET approvals = ?, expires_us = ?, state = ?, changed_us = ? "
            "WHERE id = ?"
        )
        params: tuple[Any, ...] = (approvals_json, expires_us, state, at_us, grant_id)
        if was is not None:
            sql, params = sql + " AND state = ?", (*params, was)
        return bool(self._x(sql, params).rowcount)

    def insert_approval_link(self, row: LinkRow) -> None:
        """Store a one-time approval link (its token's hash)."""
        self._x(
            "INSERT INTO approval_links (token_hash, grant_id, merchant, created_us, "
            "expires_us, used_us, used_as) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def use_approval_links(self, grant_id: str, *, at_us: int, used_as: str) -> int:
        """Mark every unused link of ``grant_id`` used (one used, its pair dies too); how many
        were."""
        cur = self._x(
            "UPDATE approval_links SET used_us = ?, used_as = ? "
            "WHERE grant_id = ? AND used_us IS NULL",
            (at_us, used_as, grant_id),
        )
        return int(cur.rowcount)

    def record_decisions(self, rows: Sequence[DecisionRow]) -> None:
        """Store decisions; an id already stored keeps its first answer."""
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO guard_decisions (id, request_hash, at_us, response) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
            ),
            rows,
        )


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

    def live_grants_of_actor(self, actor: str, *, now_us: int) -> list[GrantRow]:
        """Every grant of ``actor``, at any merchant, that may still hold (requested or
        approved, not expired at ``now_us``): one prefix of the ``(actor, merchant,
        expires_us)`` index."""
        rows = self._x(
            f"SELECT {_COLUMNS} FROM grants WHERE actor = ? AND expires_us > ? "  # noqa: S608
            "AND state IN ('requested', 'approved') ORDER BY merchant, expires_us, id",
            (actor, now_us),
        )
        return [_grant(r) for r in rows]

    def grants_due(self, now_us: int, *, limit: int) -> list[GrantRow]:
        """Grants still ``requested`` or ``approved`` whose deadline or expiry is at or before
        ``now_us`` (the oldest first, at most ``limit``): two ranges of the ``(state,
        expires_us)`` index, whatever the number of grants."""
        found: list[GrantRow] = []
        for state in ("requested", "approved"):
            rows = self._x(
                f"SELECT {_COLUMNS} FROM grants WHERE state = ? "  # noqa: S608
                "AND expires_us <= ? ORDER BY expires_us, id LIMIT ?",
                (state, now_us, limit),
            )
            found.extend(_grant(r) for r in rows)
        found.sort(key=lambda g: (g.expires_us, g.id))
        return found[:limit]

    def grants_page(
        self,
        *,
        merchant: str | None = None,
        actor: str | None = None,
        before: tuple[int, str] | None = None,
        state: str | None = None,
        limit: int,
    ) -> list[GrantRow]:
        """The grants of ``merchant`` (the ``(merchant, requested_us)`` index) or of
        ``actor`` (every merchant), newest request first, after the keyset cursor ``before``
        (``(requested_us, id)`` of the last grant of the previous page), in ``state`` if
        given, at most ``limit``."""
        params: list[Any] = [merchant]
        where = "merchant = ?"
        if actor is not None:
            where, params = "actor = ?", [actor]
            if merchant is not None:
                where, params = "actor = ? AND merchant = ?", [actor, merchant]
        if state is not None:
            where += " AND state = ?"
            params.append(state)
        if before is not None:
            where += " AND (requested_us < ? OR (requested_us = ? AND id < ?))"
            params += [before[0], before[0], before[1]]
        rows = self._x(
            f"SELECT {_COLUMNS} FROM grants WHERE {where} "  # noqa: S608
            "ORDER BY requested_us DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_grant(r) for r in rows]

    def grant_uses(self, grant: GrantRow) -> int:
        """How many recorded accesses cite ``grant`` (``justification.grant``)."""
        return int(self._x(*_citing(grant, "count(*)"))[0][0])

    def grant_accesses(self, grant: GrantRow, *, limit: int) -> list[tuple[int, str]]:
        """``(seq, body)`` of the recorded accesses citing ``grant``, newest first, at most
        ``limit``."""
        sql, params = _citing(grant, "seq, body")
        rows = self._x(sql + " ORDER BY time_us DESC, seq DESC LIMIT ?", (*params, limit))
        return [(int(r[0]), r[1]) for r in rows]

    def approval_link(self, token_hash: str) -> LinkRow | None:
        """The approval link whose token hashes to ``token_hash``, or ``None``."""
        rows = self._x(
            "SELECT token_hash, grant_id, merchant, created_us, expires_us, used_us, used_as "
            "FROM approval_links WHERE token_hash = ?",
            (token_hash,),
        )
        return _link(rows[0]) if rows else None

    def decisions(self, event_ids: Sequence[str]) -> dict[str, DecisionRow]:
        """The decisions recorded among ``event_ids``, by id."""
        found: dict[str, DecisionRow] = {}
        for i in range(0, len(event_ids), 500):
            part = list(event_ids[i : i + 500])
            rows = self._x(
                "SELECT id, request_hash, at_us, response FROM guard_decisions "  # noqa: S608
                f"WHERE id IN ({','.join('?' * len(part))})",
                part,
            )
            found.update((r[0], DecisionRow(r[0], r[1], int(r[2]), r[3])) for r in rows)
        return found
