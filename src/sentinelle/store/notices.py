"""Storage of breach-notice deliveries (migration 5): the ``notices`` table.

One row per (incident, audience, notice version, recipient), where the recipient is the keyed
hash of the address: the address itself never reaches the store. A row goes
``pending`` → ``sending`` → ``sent`` or ``failed`` (see :mod:`sentinelle.notify.delivery` for
the protocol that makes each notice go out once). :class:`NoticeWriterMixin` adds the writes to
:class:`~sentinelle.store.base.Writer`, :class:`NoticeStoreMixin` the reads to
:class:`~sentinelle.store.base.Store`; both write SQL with ``?`` placeholders, which the store
adapts to its backend.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["NOTICE_STATUSES", "NoticeRow", "NoticeStatus", "NoticeStoreMixin", "NoticeWriterMixin"]


class NoticeStatus(enum.StrEnum):
    """Where one notice stands.

    PENDING: recorded, not handed to the server yet. SENDING: marked (committed) before the
    SMTP transaction: it may have reached the server, and a rerun sends it again with the same
    Message-ID. SENT: the server accepted it (250). FAILED: the server refused it for good (5xx).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """Whether no run sends it again (sent or failed)."""
        return self in (NoticeStatus.SENT, NoticeStatus.FAILED)


NOTICE_STATUSES: Final = tuple(s.value for s in NoticeStatus)


class NoticeRow(NamedTuple):
    """A ``notices`` row of one incident (the recipient is the keyed hash of the address)."""

    audience: str
    version: int
    recipient: str
    message_id: str
    status: NoticeStatus
    attempts: int
    updated_us: int
    reply_code: int | None
    reply_text: str | None


_NOTICE_COLUMNS: Final = (
    "audience, version, recipient, message_id, status, attempts, updated_us, reply_code, reply_text"
)
_KEY: Final = "incident = ? AND audience = ? AND version = ?"
_CHUNK: Final = 500  # recipients per IN (...) list: under every backend's parameter limit


class NoticeWriterMixin:
    """Notice writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def add_notices(
        self,
        incident: str,
        audience: str,
        version: int,
        rows: Sequence[tuple[str, str]],
        *,
        at_us: int,
    ) -> None:
        """Record ``(recipient, message_id)`` rows as ``pending``; rows already there are kept."""
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO notices (incident, audience, version, recipient, message_id, "
                "status, attempts, updated_us) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?) "
                "ON CONFLICT (incident, audience, version, recipient) DO NOTHING"
            ),
            [(incident, audience, version, r, m, at_us) for r, m in rows],
        )

    def notice_states(
        self, incident: str, audience: str, version: int, recipients: Sequence[str]
    ) -> dict[str, tuple[str, str, str | None]]:
        """``recipient → (status, message_id, claim)`` for those of ``recipients`` recorded."""
        out: dict[str, tuple[str, str, str | None]] = {}
        for i in range(0, len(recipients), _CHUNK):
            part = list(recipients[i : i + _CHUNK])
            marks = ",".join("?" * len(part))
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                "SELECT recipient, status, message_id, claim FROM notices "  # noqa: S608
                f"WHERE {_KEY} AND recipient IN ({marks})",
                (incident, audience, version, *part),
            ).fetchall()
            out.update((r[0], (r[1], r[2], r[3])) for r in rows)
        return out

    def claim_notices(
        self, incident: str, audience: str, version: int, recipients: Sequence[str], claim: str
    ) -> None:
        """Set the ``claim`` (the delivery run's token) of these rows."""
        self._cur.executemany(
            self._store.sql(f"UPDATE notices SET claim = ? WHERE {_KEY} AND recipient = ?"),  # noqa: S608
            [(claim, incident, audience, version, r) for r in recipients],
        )

    def mark_notices_sending(
        self, incident: str, audience: str, version: int, recipients: Sequence[str], *, at_us: int
    ) -> set[str]:
        """Mark rows ``sending`` (one more attempt) and return those marked.

        Only ``pending`` and ``sending`` rows are marked: one already ``sent`` or ``failed`` is
        left alone and left out of the result, so its caller must not send it.
        """
        marked: set[str] = set()
        for i in range(0, len(recipients), _CHUNK):
            part = list(recipients[i : i + _CHUNK])
            marks = ",".join("?" * len(part))
            rows = self._x(
                "UPDATE notices SET status = 'sending', attempts = attempts + 1, "  # noqa: S608
                f"updated_us = ? WHERE {_KEY} AND status IN ('pending', 'sending') "
                f"AND recipient IN ({marks}) RETURNING recipient",
                (at_us, incident, audience, version, *part),
            ).fetchall()
            marked.update(r[0] for r in rows)
        return marked

    def set_notice_outcomes(
        self,
        incident: str,
        audience: str,
        version: int,
        rows: Sequence[tuple[str, str, int | None, str | None, int]],
    ) -> None:
        """Record ``(recipient, status, reply_code, reply_text, at_us)`` outcomes.

        ``reply_text`` must not hold the address (delivery redacts it).
        """
        self._cur.executemany(
            self._store.sql(
                "UPDATE notices SET status = ?, reply_code = ?, reply_text = ?, "  # noqa: S608
                f"updated_us = ? WHERE {_KEY} AND recipient = ?"
            ),
            [(s, c, t, at, incident, audience, version, r) for r, s, c, t, at in rows],
        )


class NoticeStoreMixin:
    """Notice reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def notice_counts(self, incident: str) -> list[tuple[str, int, NoticeStatus, int]]:
        """``(audience, version, status, count)`` of an incident's notices."""
        rows = self._x(
            "SELECT audience, version, status, count(*) FROM notices WHERE incident = ? "
            "GROUP BY audience, version, status ORDER BY audience, version, status",
            (incident,),
        )
        return [(r[0], int(r[1]), NoticeStatus(r[2]), int(r[3])) for r in rows]

    def notice_rows(self, incident: str, *, batch: int = 10_000) -> Iterator[list[NoticeRow]]:
        """An incident's notice rows by (audience, version, recipient), in lists of ``batch``."""
        last: tuple[str, int, str] = ("", -(2**62), "")
        while True:
            rows = self._x(
                f"SELECT {_NOTICE_COLUMNS} FROM notices WHERE incident = ? AND "  # noqa: S608
                "(audience > ? OR (audience = ? AND (version > ? OR (version = ? AND "
                "recipient > ?)))) ORDER BY audience, version, recipient LIMIT ?",
                (incident, last[0], last[0], last[1], last[1], last[2], batch),
            )
            if not rows:
                return
            yield [
                NoticeRow(
                    r[0],
                    int(r[1]),
                    r[2],
                    r[3],
                    NoticeStatus(r[4]),
                    int(r[5]),
                    int(r[6]),
                    r[7],
                    r[8],
                )
                for r in rows
            ]
            last = (rows[-1][0], int(rows[-1][1]), rows[-1][2])
