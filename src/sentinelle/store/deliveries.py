"""Storage of alert deliveries to webhooks (migration 17): the ``alert_deliveries`` table.

One row per (alert, destination): the primary key is what makes an alert go to a webhook once.
A row goes ``pending`` → ``sending`` (leased to one delivery run until ``next_at_us``) →
``delivered``, back to ``pending`` after a failure (due again at ``next_at_us``), or ``failed``
after the last attempt. :mod:`sentinelle.connectors.outbound` runs the protocol.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["DeliveryRow", "DeliveryState", "DeliveryStoreMixin", "DeliveryWriterMixin"]


class DeliveryState(enum.StrEnum):
    """Where one alert's delivery to one webhook stands.

    PENDING: due at ``next_at_us``. SENDING: a run marked it (committed) before its POST and
    holds it until ``next_at_us``; if that run dies, the row is due again then, and is sent
    again with the same ``X-Sentinelle-Delivery`` key. DELIVERED: the webhook answered 2xx.
    FAILED: every attempt failed; no run sends it again.
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryRow(NamedTuple):
    """An ``alert_deliveries`` row."""

    alert_id: str
    destination: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_at_us: int
    delivered_us: int | None


_COLUMNS: Final = "alert_id, destination, state, attempts, last_error, next_at_us, delivered_us"
_KEY: Final = "alert_id = ? AND destination = ?"


class DeliveryWriterMixin:
    """Delivery writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def enqueue_deliveries(self, keys: Sequence[tuple[str, str]], *, at_us: int) -> int:
        """Record ``(alert_id, destination)`` pairs as ``pending``, due at ``at_us``; a pair
        already recorded (whatever its state) is left alone. Returns how many were new."""
        new = 0
        for alert_id, destination in keys:
            new += len(
                self._x(
                    f"INSERT INTO alert_deliveries ({_COLUMNS}) "  # noqa: S608
                    "VALUES (?, ?, 'pending', 0, NULL, ?, NULL) "
                    "ON CONFLICT (alert_id, destination) DO NOTHING RETURNING alert_id",
                    (alert_id, destination, at_us),
                ).fetchall()
            )
        return new

    def claim_deliveries(self, *, now_us: int, lease_us: int, limit: int) -> list[DeliveryRow]:
        """Mark up to ``limit`` due rows (``pending`` or ``sending`` whose lease has ended,
        ``next_at_us <= now_us``) ``sending``, one more attempt, leased until
        ``now_us + lease_us``; returns them as marked. The caller's transaction holds the
        store's write lock, so two runs never claim the same row at once."""
        due = self._x(
            "SELECT alert_id, destination FROM alert_deliveries "
            "WHERE state IN ('pending', 'sending') AND next_at_us <= ? "
            "ORDER BY next_at_us, alert_id, destination LIMIT ?",
            (now_us, limit),
        ).fetchall()
        out: list[DeliveryRow] = []
        for alert_id, destination in due:
            row = self._x(
                "UPDATE alert_deliveries SET state = 'sending', attempts = attempts + 1, "  # noqa: S608
                f"next_at_us = ? WHERE {_KEY} RETURNING {_COLUMNS}",
                (now_us + lease_us, alert_id, destination),
            ).fetchone()
            out.append(_row(row))
        return out

    def finish_delivery(
        self,
        alert_id: str,
        destination: str,
        *,
        state: DeliveryState,
        last_error: str | None,
        next_at_us: int,
        delivered_us: int | None,
    ) -> None:
        """Record the outcome of a claimed row's attempt (the row must still be ``sending``)."""
        self._x(
            "UPDATE alert_deliveries SET state = ?, last_error = ?, next_at_us = ?, "  # noqa: S608
            f"delivered_us = ? WHERE {_KEY} AND state = 'sending'",
            (state.value, last_error, next_at_us, delivered_us, alert_id, destination),
        )


class DeliveryStoreMixin:
    """Delivery reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def alert_deliveries(self, alert_id: str | None = None) -> list[DeliveryRow]:
        """Every delivery row (of ``alert_id`` only, if given), by alert and destination."""
        where, params = ("WHERE alert_id = ?", (alert_id,)) if alert_id else ("", ())
        return [
            _row(r)
            for r in self._x(
                f"SELECT {_COLUMNS} FROM alert_deliveries {where} "  # noqa: S608
                "ORDER BY alert_id, destination",
                params,
            )
        ]


def _row(r: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(
        r[0],
        r[1],
        DeliveryState(r[2]),
        int(r[3]),
        r[4],
        int(r[5]),
        None if r[6] is None else int(r[6]),
    )
