"""Storage of detection (migration 2): alerts, and the state live detection resumes from;
their triage (migration 9): the decisions on each alert, its current status and the
suppressions dismissals set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sentinelle.timeutil import now_us

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = [
    "BY_DETECTION",
    "AlertRow",
    "AlertStoreMixin",
    "AlertWriterMixin",
    "SuppressionRow",
    "TriageRow",
]

BY_DETECTION: Final = "sentinelle"
"""Who a decision was taken by when detection took it: a dismissed alert raised again."""
_GRADES: Final = {1: "low", 2: "medium", 3: "high", 4: "critical"}


class AlertRow(NamedTuple):
    """An ``alerts`` row; lists as stored JSON text (decoded by
    :func:`sentinelle.detect.runner.alert_from_row`)."""

    id: str
    actor: str
    detector: str
    time_us: int
    last_us: int
    severity: int
    score: float
    merchants_json: str
    events_json: str
    reasons_json: str


class TriageRow(NamedTuple):
    """An ``alert_triage`` row: one decision on an alert, who took it, when and why."""

    alert_id: str
    at_us: int
    by: str
    status: str
    reason: str
    incident: str | None
    suppress_until_us: int | None


class SuppressionRow(NamedTuple):
    """A suppression in force: findings of ``detector`` about ``actor`` in
    ``[from_us, until_us)`` raise no alert."""

    actor: str
    detector: str
    from_us: int
    until_us: int


_DETECT_STATE: Final = "SELECT cursor, state FROM detect_state WHERE id = 1"


def _detect_state(row: Any) -> tuple[int, bytes] | None:
    return (int(row[0]), bytes(row[1])) if row else None


class AlertWriterMixin:
    """Alert and detection-state writes of one transaction; a base of
    :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def upsert_alerts(self, rows: Sequence[AlertRow]) -> None:
        """Insert or replace alerts; a replaced alert keeps its triage status, except a
        dismissed one that new findings raised to a higher grade: it is ``new`` again, by a
        decision of ``sentinelle`` that says so (else a dismissal without a suppression would
        hide the case from the queue while its evidence grows)."""
        raised = self._dismissed_and_raised(rows)
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO alerts (id, actor, detector, time_us, last_us, severity, score, "
                "merchants, events, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, "
                "detector = excluded.detector, time_us = excluded.time_us, "
                "last_us = excluded.last_us, severity = excluded.severity, "
                "score = excluded.score, merchants = excluded.merchants, "
                "events = excluded.events, reasons = excluded.reasons"
            ),
            rows,
        )
        if raised:
            self.record_triage(raised)

    def _dismissed_and_raised(self, rows: Sequence[AlertRow]) -> list[TriageRow]:
        """The decisions that put back to ``new`` the dismissed alerts ``rows`` raise."""
        graded = {r.id: r.severity for r in rows}
        reopened = []
        at = now_us()
        for chunk in _chunks(list(graded)):
            marks = ", ".join("?" * len(chunk))
            query = (
                "SELECT id, severity FROM alerts "  # noqa: S608
                f"WHERE status = 'dismissed' AND id IN ({marks})"
            )
            for alert_id, was in self._x(query, chunk).fetchall():
                if graded[alert_id] > was:
                    now = _GRADES.get(graded[alert_id])
                    reason = (
                        f"raised from {_GRADES.get(was, was)} to {now} by new findings after "
                        "its dismissal: back in the queue"
                    )
                    reopened.append(
                        TriageRow(alert_id, at, BY_DETECTION, "new", reason, None, None)
                    )
        return reopened

    def record_triage(self, rows: Sequence[TriageRow]) -> None:
        """Record decisions on alerts, in order: each sets its alert's status, and sets (a
        dismissal with ``suppress_until_us``) or lifts (any other) the alert's suppression.

        Raises :class:`~sentinelle.errors.NotFoundError` naming the alerts, or an incident,
        that do not exist; the caller's transaction then writes nothing.
        """
        from sentinelle.errors import NotFoundError

        ids = list(dict.fromkeys(r.alert_id for r in rows))
        found: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT id, actor, detector FROM alerts WHERE id IN ({marks})"  # noqa: S608
            for r in self._x(query, chunk).fetchall():
                found[r[0]] = (r[1], r[2])
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(repr(i) for i in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise NotFoundError(f"no alert with id {shown}{more}")
        for incident in dict.fromkeys(r.incident for r in rows if r.incident is not None):
            if self._x("SELECT 1 FROM incidents WHERE id = ?", (incident,)).fetchone() is None:
                raise NotFoundError(f"no incident with id {incident!r}")
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO alert_triage (alert_id, at_us, decided_by, status, reason, "
                "incident, suppress_until_us) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )
        for row in rows:
            self._x("UPDATE alerts SET status = ? WHERE id = ?", (row.status, row.alert_id))
            self._x("DELETE FROM alert_suppressions WHERE alert_id = ?", (row.alert_id,))
            if row.status == "dismissed" and row.suppress_until_us is not None:
                actor, detector = found[row.alert_id]
                self._x(
                    "INSERT INTO alert_suppressions (alert_id, actor, detector, from_us, "
                    "until_us) VALUES (?, ?, ?, ?, ?)",
                    (row.alert_id, actor, detector, row.at_us, row.suppress_until_us),
                )

    def suppressions(self) -> list[SuppressionRow]:
        """The suppressions dismissals set (read in this transaction)."""
        return [_suppression(r) for r in self._x(_SUPPRESSIONS).fetchall()]

    def detect_state(self) -> tuple[int, bytes] | None:
        """``(cursor, state)`` of live detection, if it ran before."""
        return _detect_state(self._x(_DETECT_STATE).fetchone())

    def save_detect_state(self, cursor: int, state: bytes) -> None:
        """Record how far live detection got and its state."""
        self._x("DELETE FROM detect_state WHERE id = 1")
        self._x("INSERT INTO detect_state (id, cursor, state) VALUES (1, ?, ?)", (cursor, state))


class AlertStoreMixin:
    """Alert reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def saved_detect_state(self) -> tuple[int, bytes] | None:
        """``(cursor, state)`` live detection last saved, if it ran (a read, outside a
        writer's transaction: ``sentinelle feeds``)."""
        rows = self._x(_DETECT_STATE)
        return _detect_state(rows[0] if rows else None)

    def alerts(
        self,
        *,
        actor: str | None = None,
        since_us: int | None = None,
        min_severity: int = 1,
        status: str | None = None,
    ) -> list[AlertRow]:
        """Stored alert rows, oldest first (with this triage ``status``, if given)."""
        where, params = _filters(
            min_severity=min_severity, status=status, actor=actor, since_us=since_us
        )
        # Only fixed condition texts are joined; values are parameters.
        query = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY time_us, id"
        )
        return [_alert_row(r) for r in self._x(query, params)]

    def alert(self, alert_id: str) -> AlertRow | None:
        """One stored alert row."""
        rows = self._x(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))  # noqa: S608
        return _alert_row(rows[0]) if rows else None

    def alerts_page(
        self,
        *,
        limit: int,
        before: tuple[int, str] | None = None,
        min_severity: int = 1,
        detector: str | None = None,
        actor: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        status: str | None = None,
    ) -> list[AlertRow]:
        """Up to ``limit`` stored alert rows, newest first (by ``(time_us, id)``), triggered
        in ``[since, until)``; ``before`` is the ``(time_us, id)`` of the last row of the
        previous page (keyset pagination: each page is one index range scan); ``status``
        keeps the alerts of that triage status."""
        where, params = _filters(
            min_severity=min_severity,
            status=status,
            actor=actor,
            detector=detector,
            since_us=since_us,
            until_us=until_us,
        )
        if before is not None:
            # (time_us, id) < before, written so the time_us part bounds the index range
            where.append("time_us <= ? AND (time_us < ? OR id < ?)")
            params.extend((before[0], before[0], before[1]))
        params.append(limit)
        # Only fixed condition texts are joined; values are parameters.
        query = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY time_us DESC, id DESC LIMIT ?"
        )
        return [_alert_row(r) for r in self._x(query, params)]

    def alert_counts(self, *, status: str | None = None) -> dict[int, int]:
        """How many stored alerts there are of each severity (of this triage ``status``)."""
        where, params = _filters(min_severity=1, status=status)
        query = (
            f"SELECT severity, COUNT(*) FROM alerts WHERE {' AND '.join(where)} "  # noqa: S608
            "GROUP BY severity"
        )
        return {int(r[0]): int(r[1]) for r in self._x(query, params)}

    def alerts_by_severity(
        self,
        *,
        limit: int,
        after: tuple[int, int, str] | None = None,
        min_severity: int = 1,
        detector: str | None = None,
        actor: str | None = None,
        status: str | None = None,
    ) -> list[AlertRow]:
        """Up to ``limit`` stored alert rows, most severe first, then newest, then by id
        descending: the console's queue. ``after`` is the ``(severity, time_us, id)`` of the
        last row of the previous page (keyset pagination)."""
        where, params = _filters(
            min_severity=min_severity, status=status, actor=actor, detector=detector
        )
        if after is not None:
            severity, time_us, alert_id = after
            where.append(
                "(severity < ? OR (severity = ? AND (time_us < ? OR (time_us = ? AND id < ?))))"
            )
            params.extend((severity, severity, time_us, time_us, alert_id))
        params.append(limit)
        # Only fixed condition texts are joined; values are parameters.
        query = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY severity DESC, time_us DESC, id DESC LIMIT ?"
        )
        return [_alert_row(r) for r in self._x(query, params)]

    def alert_statuses(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """The current triage status of each of these alerts that exists."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(alert_ids))):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT id, status FROM alerts WHERE id IN ({marks})"  # noqa: S608
            found.update((r[0], r[1]) for r in self._x(query, chunk))
        return found

    def escalated_to(self, incident_id: str) -> list[tuple[str, str, int]]:
        """``(alert id, actor, severity)`` of the alerts escalated to ``incident_id`` (a
        decision naming it: by triage, or the incident opened from the alert), by id."""
        return [
            (r[0], r[1], int(r[2]))
            for r in self._x(
                "SELECT a.id, a.actor, a.severity FROM alerts a WHERE a.id IN "
                "(SELECT alert_id FROM alert_triage WHERE incident = ?) ORDER BY a.id",
                (incident_id,),
            )
        ]

    def triage_history(self, alert_ids: Sequence[str]) -> dict[str, list[TriageRow]]:
        """Every decision on each of these alerts, oldest first (alerts never triaged are
        left out)."""
        found: dict[str, list[TriageRow]] = {}
        for chunk in _chunks(list(dict.fromkeys(alert_ids))):
            marks = ", ".join("?" * len(chunk))
            query = (
                "SELECT alert_id, at_us, decided_by, status, reason, incident, "  # noqa: S608
                f"suppress_until_us FROM alert_triage WHERE alert_id IN ({marks}) "
                "ORDER BY alert_id, at_us"
            )
            for r in self._x(query, chunk):
                found.setdefault(r[0], []).append(
                    TriageRow(
                        r[0],
                        int(r[1]),
                        r[2],
                        r[3],
                        r[4],
                        r[5],
                        int(r[6]) if r[6] is not None else None,
                    )
                )
        for rows in found.values():
            rows.sort(key=lambda t: t.at_us)  # stable: decisions of one instant keep their order
        return found

    def suppressions(self) -> list[SuppressionRow]:
        """The suppressions dismissals set, those past included (detection replays history)."""
        return [_suppression(r) for r in self._x(_SUPPRESSIONS)]


_SUPPRESSIONS: Final = "SELECT actor, detector, from_us, until_us FROM alert_suppressions"
_CHUNK: Final = 500  # ids per IN (...): well under SQLite's limit of bound parameters


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _suppression(r: Sequence[Any]) -> SuppressionRow:
    return SuppressionRow(r[0], r[1], int(r[2]), int(r[3]))


_ALERT_COLUMNS: Final = (
    "id, actor, detector, time_us, last_us, severity, score, merchants, events, reasons"
)


def _alert_row(r: Sequence[Any]) -> AlertRow:
    return AlertRow(
        r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), float(r[6]), r[7], r[8], r[9]
    )


def _filters(
    *,
    min_severity: int,
    status: str | None = None,
    actor: str | None = None,
    detector: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> tuple[list[str], list[object]]:
    """The WHERE conditions (fixed texts) and their parameters of an alert query."""
    where: list[str] = ["severity >= ?"]
    params: list[object] = [min_severity]
    for condition, value in (
        ("status = ?", status),
        ("actor = ?", actor),
        ("detector = ?", detector),
        ("time_us >= ?", since_us),
        ("time_us < ?", until_us),
    ):
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params
