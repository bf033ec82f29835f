"""Storage of what is sent out (migrations 17 and 19): the ``outbound_deliveries`` table.

One row per (message, destination): the primary key is what makes a message go to a
destination once. A message is an alert (``kind`` ``alert``: its id is the alert's, its content
is read from ``alerts`` when sent), a suspension or its lift, or a 72-hour deadline warning
(their content is kept in the row's ``facts``, JSON, as it was when queued). A row goes
``pending`` → ``sending`` (leased to one delivery run until ``next_at_us``) → ``delivered``,
back to ``pending`` after a failure (due again at ``next_at_us``), or ``failed`` after the last
attempt. :mod:`sentinelle.connectors.outbound` runs the protocol.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sentinelle.store.incidents import _INCIDENT_COLUMNS, IncidentRow, LogRow, _incident, _log

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = [
    "DeliveryCount",
    "DeliveryRow",
    "DeliveryState",
    "DeliveryStoreMixin",
    "DeliveryWriterMixin",
    "Queued",
]


class DeliveryState(enum.StrEnum):
    """Where one message's delivery to one destination stands.

    PENDING: due at ``next_at_us``. SENDING: a run marked it (committed) before sending it and
    holds it until ``next_at_us``; if that run dies, the row is due again then, and is sent
    again with the same delivery key. DELIVERED: the destination took it (a 2xx answer, the
    relay's 250, the bytes written to the syslog socket). FAILED: every attempt failed; no run
    sends it again. OBSOLETE: not sent, because what it warned of was settled before it could
    go (a deadline warning whose incident's authority notification was recorded, or which was
    closed, meanwhile).
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    OBSOLETE = "obsolete"


class Queued(NamedTuple):
    """A message to queue: its id, kind and, for any kind but ``alert``, its facts (JSON)."""

    message: str
    kind: str
    facts: str | None = None


class DeliveryRow(NamedTuple):
    """An ``outbound_deliveries`` row."""

    message: str
    destination: str
    kind: str
    facts: str | None
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_at_us: int
    delivered_us: int | None


class DeliveryCount(NamedTuple):
    """How many rows of one destination and kind are in one state; ``oldest_us`` is the
    earliest ``next_at_us`` among them (when the oldest pending row is due)."""

    destination: str
    kind: str
    state: DeliveryState
    rows: int
    oldest_us: int


_COLUMNS: Final = (
    "message, destination, kind, facts, state, attempts, last_error, next_at_us, delivered_us"
)
_KEY: Final = "message = ? AND destination = ?"


class DeliveryWriterMixin:
    """Delivery writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def enqueue_deliveries(
        self, messages: Iterable[Queued], destinations: Sequence[str], *, at_us: int
    ) -> int:
        """Record each message for each destination as ``pending``, due at ``at_us``; a pair
        already recorded (whatever its state) is left alone. Returns how many were new."""
        new = 0
        for queued in messages:
            for destination in destinations:
                new += len(
                    self._x(
                        f"INSERT INTO outbound_deliveries ({_COLUMNS}) "  # noqa: S608
                        "VALUES (?, ?, ?, ?, 'pending', 0, NULL, ?, NULL) "
                        "ON CONFLICT (message, destination) DO NOTHING RETURNING message",
                        (queued.message, destination, queued.kind, queued.facts, at_us),
                    ).fetchall()
                )
        return new

    def claim_deliveries(
        self,
        *,
        now_us: int,
        lease_us: int,
        limit: int,
        destinations: Sequence[str] | None = None,
    ) -> list[DeliveryRow]:
        """Mark up to ``limit`` due rows (``pending`` or ``sending`` whose lease has ended,
        ``next_at_us <= now_us``) ``sending``, one more attempt, leased until
        ``now_us + lease_us``; returns them as marked. ``destinations``: only rows to those
        (the ones the caller can send to; a process missing one leaves its rows to another).
        The caller's transaction holds the store's write lock, so two runs never claim the
        same row at once."""
        if destinations is not None and not destinations:
            return []
        only = (
            ""
            if destinations is None
            else f" AND destination IN ({', '.join('?' * len(destinations))})"
        )
        due = self._x(
            "SELECT message, destination FROM outbound_deliveries "  # noqa: S608 - placeholders
            f"WHERE state IN ('pending', 'sending') AND next_at_us <= ?{only} "
            "ORDER BY next_at_us, message, destination LIMIT ?",
            (now_us, *(destinations or ()), limit),
        ).fetchall()
        out: list[DeliveryRow] = []
        for message, destination in due:
            row = self._x(
                "UPDATE outbound_deliveries SET state = 'sending', attempts = attempts + 1, "  # noqa: S608
                f"next_at_us = ? WHERE {_KEY} RETURNING {_COLUMNS}",
                (now_us + lease_us, message, destination),
            ).fetchone()
            out.append(_row(row))
        return out

    def finish_delivery(
        self,
        message: str,
        destination: str,
        *,
        state: DeliveryState,
        last_error: str | None,
        next_at_us: int,
        delivered_us: int | None,
        attempts: int,
    ) -> bool:
        """Record the outcome of a claimed row's attempt, ``attempts`` being the row's count as
        claimed: the row must still be ``sending`` at that attempt (a run whose hold ended,
        the row claimed again by another, records nothing over that one's outcome). Returns
        whether it was recorded."""
        done = self._x(
            "UPDATE outbound_deliveries SET state = ?, last_error = ?, next_at_us = ?, "  # noqa: S608
            f"delivered_us = ? WHERE {_KEY} AND state = 'sending' AND attempts = ?",
            (state.value, last_error, next_at_us, delivered_us, message, destination, attempts),
        )
        return bool(done.rowcount)


class DeliveryStoreMixin:
    """Delivery reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def deliveries(self, message: str | None = None) -> list[DeliveryRow]:
        """Every delivery row (of ``message`` only, if given), by message and destination."""
        where, params = ("WHERE message = ?", (message,)) if message else ("", ())
        return [
            _row(r)
            for r in self._x(
                f"SELECT {_COLUMNS} FROM outbound_deliveries {where} "  # noqa: S608
                "ORDER BY message, destination",
                params,
            )
        ]

    def queued_pairs(self, messages: Sequence[str]) -> set[tuple[str, str]]:
        """The (message, destination) pairs already recorded among ``messages``: a due-check
        reads them first, and takes the write lock only when something is new."""
        if not messages:
            return set()
        marks = ", ".join("?" * len(messages))
        rows = self._x(
            f"SELECT message, destination FROM outbound_deliveries WHERE message IN ({marks})",  # noqa: S608
            list(messages),
        )
        return {(str(m), str(d)) for m, d in rows}

    def delivery_counts(self) -> list[DeliveryCount]:
        """Rows per destination, kind and state, with the earliest ``next_at_us`` of each."""
        rows = self._x(
            "SELECT destination, kind, state, count(*), min(next_at_us) FROM outbound_deliveries "
            "GROUP BY destination, kind, state ORDER BY destination, kind, state"
        )
        return [DeliveryCount(d, k, DeliveryState(s), int(n), int(o)) for d, k, s, n, o in rows]

    def delivery_problems(self, limit: int) -> list[DeliveryRow]:
        """Up to ``limit`` rows that failed at least once and are not delivered (``failed``,
        or waiting for a retry), newest attempt first: what a person should look at."""
        return [
            _row(r)
            for r in self._x(
                f"SELECT {_COLUMNS} FROM outbound_deliveries "  # noqa: S608
                "WHERE state <> 'delivered' AND last_error IS NOT NULL "
                "ORDER BY next_at_us DESC, message, destination LIMIT ?",
                (limit,),
            )
        ]

    def deadline_watch(
        self, change: str, incident: str | None = None
    ) -> tuple[list[IncidentRow], list[LogRow]]:
        """The incidents not closed (only ``incident``, if given), oldest first, and their log
        entries of kind ``change`` in order: what a 72-hour due-check reads (the incidents
        whose clock the deadline warnings watch, and their authority notifications), in two
        queries whatever the number of incidents, decoding no closed incident and no other
        log entry."""
        where, params = ("AND id = ?", (incident,)) if incident is not None else ("", ())
        incidents = self._x(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents "  # noqa: S608
            f"WHERE state <> 'closed' {where} ORDER BY created_us, id",
            params,
        )
        log = self._x(
            "SELECT incident, at_us, changed_by, change, details FROM incident_log "  # noqa: S608
            f"WHERE change = ? AND incident IN (SELECT id FROM incidents "
            f"WHERE state <> 'closed' {where}) ORDER BY at_us, incident",
            (change, *params),
        )
        return [_incident(r) for r in incidents], [_log(r) for r in log]


def _row(r: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(
        r[0],
        r[1],
        r[2],
        r[3],
        DeliveryState(r[4]),
        int(r[5]),
        r[6],
        int(r[7]),
        None if r[8] is None else int(r[8]),
    )
