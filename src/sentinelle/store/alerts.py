"""Storage of detection (migration 2): alerts, and the state live detection resumes from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["AlertRow", "AlertStoreMixin", "AlertWriterMixin"]


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


class AlertWriterMixin:
    """Alert and detection-state writes of one transaction; a base of
    :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def upsert_alerts(self, rows: Sequence[AlertRow]) -> None:
        """Insert or replace alerts."""
        for row in rows:
            self._x("DELETE FROM alerts WHERE id = ?", (row.id,))
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO alerts (id, actor, detector, time_us, last_us, severity, score, "
                "merchants, events, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )

    def detect_state(self) -> tuple[int, bytes] | None:
        """``(cursor, state)`` of live detection, if it ran before."""
        row = self._x("SELECT cursor, state FROM detect_state WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def save_detect_state(self, cursor: int, state: bytes) -> None:
        """Record how far live detection got and its state."""
        self._x("DELETE FROM detect_state WHERE id = 1")
        self._x("INSERT INTO detect_state (id, cursor, state) VALUES (1, ?, ?)", (cursor, state))


class AlertStoreMixin:
    """Alert reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def alerts(
        self, *, actor: str | None = None, since_us: int | None = None, min_severity: int = 1
    ) -> list[AlertRow]:
        """Stored alert rows, oldest first."""
        where: list[str] = ["severity >= ?"]
        params: list[object] = [min_severity]
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if since_us is not None:
            where.append("time_us >= ?")
            params.append(since_us)
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
    ) -> list[AlertRow]:
        """Up to ``limit`` stored alert rows, newest first (by ``(time_us, id)``), triggered
        in ``[since, until)``; ``before`` is the ``(time_us, id)`` of the last row of the
        previous page (keyset pagination: each page is one index range scan)."""
        where: list[str] = ["severity >= ?"]
        params: list[object] = [min_severity]
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if detector is not None:
            where.append("detector = ?")
            params.append(detector)
        if since_us is not None:
            where.append("time_us >= ?")
            params.append(since_us)
        if until_us is not None:
            where.append("time_us < ?")
            params.append(until_us)
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


_ALERT_COLUMNS: Final = (
    "id, actor, detector, time_us, last_us, severity, score, merchants, events, reasons"
)


def _alert_row(r: Sequence[Any]) -> AlertRow:
    return AlertRow(
        r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), float(r[6]), r[7], r[8], r[9]
    )
