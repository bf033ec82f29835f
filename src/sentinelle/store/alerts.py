"""Storage of detection (migration 2): alerts, and the state live detection resumes from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

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
            "SELECT id, actor, detector, time_us, last_us, severity, score, merchants, events, "  # noqa: S608
            f"reasons FROM alerts WHERE {' AND '.join(where)} ORDER BY time_us, id"
        )
        return [
            AlertRow(
                r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), float(r[6]), r[7], r[8], r[9]
            )
            for r in self._x(query, params)
        ]
