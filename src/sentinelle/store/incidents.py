"""Storage of incidents, their change log (migration 3, 6) and leases (migration 6).

Rows come back as named tuples (:class:`IncidentRow`, :class:`LogRow`, :class:`LeaseRow`),
never as positional tuples; decoding their JSON columns into typed records is the
incidents package's job (:meth:`sentinelle.incidents.Incident.from_row`).
:class:`IncidentWriterMixin` adds the writes to :class:`~sentinelle.store.base.Writer`,
:class:`IncidentStoreMixin` the reads to :class:`~sentinelle.store.base.Store`; both write
SQL with ``?`` placeholders, which the store adapts to its backend.

A lease gives one holder a name until it expires; the holder renews it (a heartbeat) while
it works. It is read and taken inside one writer transaction, which holds the store's write
lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so two hosts sharing the
database cannot both take it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

__all__ = ["IncidentRow", "IncidentStoreMixin", "IncidentWriterMixin", "LeaseRow", "LogRow"]


class IncidentRow(NamedTuple):
    """An ``incidents`` row; JSON columns as stored text."""

    id: str
    title: str
    state: str
    actors_json: str
    from_us: int
    to_us: int
    created_us: int
    created_by: str
    facts_json: str | None
    assessment_json: str | None
    facts_given_json: str | None
    scope_basis: str | None


class LogRow(NamedTuple):
    """An ``incident_log`` row: who changed what, when and why (``details_json``)."""

    incident: str
    at_us: int
    by: str
    change: str
    details_json: str


class LeaseRow(NamedTuple):
    """A ``leases`` row."""

    name: str
    holder: str
    acquired_us: int
    expires_us: int


_INCIDENT_COLUMNS: Final = (
    "id, title, state, actors, from_us, to_us, created_us, created_by, facts, assessment, "
    "facts_given, scope_basis"
)


def _incident(row: Sequence[Any]) -> IncidentRow:
    return IncidentRow(
        row[0],
        row[1],
        row[2],
        row[3],
        int(row[4]),
        int(row[5]),
        int(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
    )


def _log(row: Sequence[Any]) -> LogRow:
    return LogRow(row[0], int(row[1]), row[2], row[3], row[4])


class IncidentWriterMixin:
    """Incident and lease writes of one transaction; a base of
    :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def insert_incident(self, row: IncidentRow) -> None:
        """Insert a new incident."""
        self._x(
            f"INSERT INTO incidents ({_INCIDENT_COLUMNS}) "  # noqa: S608 - fixed column list
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(row),
        )

    def incident_row(self, incident_id: str) -> IncidentRow | None:
        """An incident's row as of this transaction (no other writer runs until it ends)."""
        row = self._x(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?",  # noqa: S608
            (incident_id,),
        ).fetchone()
        return _incident(row) if row is not None else None

    def update_incident(
        self,
        incident_id: str,
        *,
        state: str | None = None,
        facts_json: str | None = None,
        assessment_json: str | None = None,
        facts_given_json: str | None = None,
        scope_basis: str | None = None,
        actors_json: str | None = None,
        from_us: int | None = None,
        to_us: int | None = None,
    ) -> None:
        """Set some columns of an incident (``None`` leaves a column as it is)."""
        for column, value in (
            ("state", state),
            ("actors", actors_json),
            ("from_us", from_us),
            ("to_us", to_us),
            ("facts", facts_json),
            ("assessment", assessment_json),
            ("facts_given", facts_given_json),
            ("scope_basis", scope_basis),
        ):
            if value is not None:
                # Only the fixed column names above are interpolated; the value is a parameter.
                self._x(f"UPDATE incidents SET {column} = ? WHERE id = ?", (value, incident_id))  # noqa: S608

    def incident_log_rows(self, incident_id: str) -> list[LogRow]:
        """The incident's log as of this transaction, in order."""
        rows = self._x(
            "SELECT incident, at_us, changed_by, change, details FROM incident_log "
            "WHERE incident = ? ORDER BY at_us",
            (incident_id,),
        ).fetchall()
        return [_log(r) for r in rows]

    def incident_last_log_us(self, incident_id: str) -> int | None:
        """Time of the incident's latest log entry, as of this transaction."""
        row = self._x(
            "SELECT max(at_us) FROM incident_log WHERE incident = ?", (incident_id,)
        ).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else None

    def add_incident_log(
        self, incident_id: str, *, at_us: int, by: str, change: str, details_json: str
    ) -> None:
        """Record one change of an incident: who, when, what and why."""
        self._x(
            "INSERT INTO incident_log (incident, at_us, changed_by, change, details) "
            "VALUES (?, ?, ?, ?, ?)",
            (incident_id, at_us, by, change, details_json),
        )

    # -- leases --------------------------------------------------------------------------------
    def lease(self, name: str) -> LeaseRow | None:
        """The lease on ``name`` as of this transaction."""
        row = self._x(
            "SELECT name, holder, acquired_us, expires_us FROM leases WHERE name = ?", (name,)
        ).fetchone()
        return LeaseRow(row[0], row[1], int(row[2]), int(row[3])) if row is not None else None

    def put_lease(self, row: LeaseRow) -> None:
        """Give the lease ``row.name`` to ``row.holder`` (replacing whoever held it)."""
        self._x("DELETE FROM leases WHERE name = ?", (row.name,))
        self._x(
            "INSERT INTO leases (name, holder, acquired_us, expires_us) VALUES (?, ?, ?, ?)",
            tuple(row),
        )

    def renew_lease(self, name: str, holder: str, expires_us: int) -> bool:
        """Move the expiry of ``holder``'s lease; ``False`` if it no longer holds it."""
        cur = self._x(
            "UPDATE leases SET expires_us = ? WHERE name = ? AND holder = ?",
            (expires_us, name, holder),
        )
        return int(cur.rowcount) == 1

    def drop_lease(self, name: str, holder: str) -> None:
        """Give up ``holder``'s lease on ``name`` (nothing if it no longer holds it)."""
        self._x("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


class IncidentStoreMixin:
    """Incident reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def incident_rows(self, incident_id: str | None = None) -> list[IncidentRow]:
        """Incident rows, oldest first; only ``incident_id``'s if given."""
        where, params = ("WHERE id = ?", (incident_id,)) if incident_id is not None else ("", ())
        rows = self._x(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents {where} "  # noqa: S608
            "ORDER BY created_us, id",
            params,
        )
        return [_incident(r) for r in rows]

    def incident_log_rows(self, incident_id: str | None = None) -> list[LogRow]:
        """Log rows in the order they were recorded; only ``incident_id``'s if given."""
        where, params = (
            ("WHERE incident = ?", (incident_id,)) if incident_id is not None else ("", ())
        )
        rows = self._x(
            "SELECT incident, at_us, changed_by, change, details FROM incident_log "  # noqa: S608
            f"{where} ORDER BY at_us, incident",
            params,
        )
        return [_log(r) for r in rows]
