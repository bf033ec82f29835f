"""Running detection against a store: live after each batch, or over history.

* :meth:`DetectionRunner.catch_up` continues from where the last run stopped (a cursor over
  leaf indices) with the saved engine state, so every ingested event is seen exactly once,
  whichever process ingested it; the alerts, the new state (with its reorder buffer, see
  :meth:`~sentinelle.detect.engine.Engine.feed`) and the cursor are written in one
  transaction. It never raises: ingest has committed its batch before, and a failure of live
  detection must not fail it. A failure is logged (its type and place, no event data); unless
  the store itself failed (then the next run simply retries), the events of the failed run are
  skipped by live detection, so one bad event cannot stop it for good, and after
  :data:`RESET_AFTER` failed runs in a row the saved state starts afresh.
* :meth:`DetectionRunner.replay` runs a fresh engine over a time range, warming its baselines
  up on the weeks before; alert ids are derived from what triggered them, so a rerun replaces
  alerts instead of duplicating them.

Both honour the triage suppressions stored when they start (:mod:`sentinelle.detect.triage`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Final

import msgspec

from sentinelle.collector import bulk_work
from sentinelle.detect.base import Alert
from sentinelle.detect.context import TICKET_FEED_DAYS, UNMATCHED_ADVICE, unmatched_tickets
from sentinelle.detect.engine import DetectConfig, Engine, EngineState, where
from sentinelle.detect.triage import Suppressions
from sentinelle.errors import StoreError
from sentinelle.events import Event, decode_event, time_us
from sentinelle.store import Store, Writer
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import DAY, iso

if TYPE_CHECKING:
    from sentinelle.detect.pipelined import Ahead

__all__ = [
    "NOTED",
    "RESET_AFTER",
    "WARM_UP_DAYS",
    "DetectionRunner",
    "alert_from_row",
    "alert_row",
    "risk_by_actor",
]

_logger = logging.getLogger(__name__)

#: The engine state each store's last live run in this process saved, with the bytes it saved:
#: the next run reuses the state instead of decoding the bytes again (decoding was about 60 %
#: of a run at 60k events), as long as the stored bytes are still exactly those. Another
#: process's run, a reset or a run that failed (the state is taken out while in use and put
#: back only after its transaction committed) leave other bytes or nothing here: the stored
#: state is decoded as before. Keyed weakly: a closed store leaves nothing behind.
_WARM: Final[weakref.WeakKeyDictionary[Store, tuple[bytes, EngineState]]] = (
    weakref.WeakKeyDictionary()
)

WARM_UP_DAYS: Final = 28
RESET_AFTER: Final = 3

#: ``extra`` of a log record whose words a run's :attr:`DetectionRunner.notes` also carry:
#: the CLI prints the notes and leaves such records out of its log on stderr (by the
#: attribute's name, so ``--no-detect`` imports nothing of detection), a server logs both.
NOTED: Final = {"noted": True}


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


def alert_row(alert: Alert) -> AlertRow:
    """The stored form of an alert."""
    return AlertRow(
        id=alert.id,
        actor=alert.actor,
        detector=alert.detector,
        time_us=alert.time_us,
        last_us=alert.last_us,
        severity=int(alert.severity),
        score=float(alert.score),
        merchants_json=json.dumps(alert.merchants),
        events_json=json.dumps(alert.events),
        reasons_json=json.dumps(alert.reasons),
    )


def alert_from_row(row: AlertRow) -> Alert:
    """Inverse of :func:`alert_row`."""
    from sentinelle.detect.base import Severity

    return Alert(
        id=row.id,
        actor=row.actor,
        detector=row.detector,
        time_us=row.time_us,
        last_us=row.last_us,
        severity=Severity(row.severity),
        score=row.score,
        merchants=json.loads(row.merchants_json),
        events=json.loads(row.events_json),
        reasons=json.loads(row.reasons_json),
    )


class DetectionRunner:
    """Detection over a store's events.

    ``clock`` gives the wall clock in microseconds (tests pass a fixed one). ``also`` runs in
    :meth:`catch_up`'s transaction with the alerts it raised or changed, once they are written:
    what it writes commits with them and the moved cursor, or not at all (the webhooks' queue:
    an alert is queued exactly when it is stored). After :meth:`catch_up`, :attr:`notes` holds
    what a person should know (events left out, a failure), as sentences without event data.
    """

    def __init__(
        self,
        store: Store,
        config: DetectConfig | None = None,
        *,
        clock: Callable[[], int] = _wall_clock_us,
        also: Callable[[Writer, list[Alert]], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config or DetectConfig()
        self.clock = clock
        self.also = also
        self.notes: list[str] = []

    def catch_up(self, ahead: Ahead | None = None) -> list[Alert]:
        """Process the events stored since the last run; the alerts created or changed.

        ``ahead``: what a detection process computed over the batch just committed while it
        was being stored (:mod:`sentinelle.detect.pipelined`); it is stored instead of
        detecting that batch again if, in this transaction, the cursor is still at the
        batch's first leaf with the very state and triage suppressions it started from.
        Else it is dropped and the events are read and detected as without it.

        Never raises (see the module docstring); returns no alerts when it failed.
        """
        self.notes = []
        taken = None
        if ahead is not None:
            try:
                taken = self._take(ahead)
            except Exception as exc:
                _logger.warning(
                    "live detection could not store what it detected beside the ingest (%s at "
                    "%s); it detects the batch again",
                    type(exc).__name__,
                    where(exc),
                )
            if taken is not None and not taken[1]:
                return taken[0]
        try:
            alerts = self._catch_up()  # all, or what another writer stored after the batch
        except Exception as exc:
            alerts = self._failed(exc)
        if taken is None:
            return alerts
        return list({a.id: a for a in [*taken[0], *alerts]}.values())

    def _take(self, ahead: Ahead) -> tuple[list[Alert], bool] | None:
        """Store ``ahead`` if it still follows on from the saved state (see :meth:`catch_up`);
        its alerts and whether the store holds events after it, or ``None`` when it does not
        follow on (nothing written)."""
        with self.store.writer() as w:
            saved = w.detect_state()
            cursor = saved[0] if saved else 0
            digest = hashlib.sha256(saved[1]).digest() if saved else b""
            if (
                cursor != ahead.start
                or digest != ahead.state_digest
                or w.suppressions() != ahead.suppressions
            ):
                _logger.info("live detection ran meanwhile: the batch is detected again")
                return None
            size = w.ledger_size()
            if size < ahead.end:  # never so once the batch committed
                return None
            w.upsert_alerts([alert_row(a) for a in ahead.alerts])
            if self.also is not None and ahead.alerts:
                self.also(w, list(ahead.alerts))
            w.save_detect_state(ahead.end, ahead.state)
        _WARM.pop(self.store, None)  # the state is the child's: decoded by the next run
        _logger.info(
            "live detection stored what it detected beside the ingest (leaves %d to %d)",
            ahead.start,
            ahead.end - 1,
        )
        self._note(ahead)
        return list(ahead.alerts), size > ahead.end

    def _catch_up(self) -> list[Alert]:
        changed: dict[str, Alert] = {}
        now = self.clock()
        warm = _WARM.pop(self.store, None)  # in use: back only once this run has committed
        with bulk_work(), self.store.writer() as w:
            saved = w.detect_state()
            cursor = saved[0] if saved else 0
            state = None
            if saved:
                state = warm[1] if warm is not None and warm[0] == saved[1] else _load(saved[1])
            engine = Engine(self.config, state, suppressions=Suppressions(w.suppressions()))
            for rows in self.store.events_by_seq(cursor):
                for alert in engine.feed(rows, now_us=now):
                    changed[alert.id] = alert
                cursor = rows[-1][0] + 1
            if engine.state.pending:  # no new events, but the wall clock may release some
                for alert in engine.feed([], now_us=now):
                    changed[alert.id] = alert
            engine.state.failures = 0
            w.upsert_alerts([alert_row(a) for a in changed.values()])
            if self.also is not None and changed:
                self.also(w, list(changed.values()))
            blob = engine.dump_state()
            w.save_detect_state(cursor, blob)
        _WARM[self.store] = (blob, engine.state)  # committed
        self._note(engine)
        return list(changed.values())

    def _note(self, run: Engine | Ahead) -> None:
        """What a person should know of a run: late events left out, detectors that failed,
        tickets that could not be checked, tickets cited that the help desk names otherwise."""
        late_skipped, late_oldest_us = run.late_skipped, run.late_oldest_us
        if late_skipped and late_oldest_us is not None:
            since = iso(late_oldest_us)[:10]
            _logger.warning(
                "%d events arrived more than %g h late; live detection left them out",
                late_skipped,
                self.config.late_hours,
                extra=NOTED,
            )
            count = late_skipped
            self.notes.append(
                f"{count} event{'s' if count != 1 else ''} arrived more than "
                f"{self.config.late_hours:g} h "
                f"after later ones had been processed; live detection left them out: run "
                f"sentinelle detect --since {since} to cover them"
            )
        if run.detector_errors:
            self.notes.append(
                "detectors failed on some events and skipped them (see the log): "
                + ", ".join(f"{n} ({c})" for n, c in sorted(run.detector_errors.items()))
            )
        if run.unchecked:
            count = run.unchecked
            _logger.warning(
                "%d accesses cited tickets that could not be checked", count, extra=NOTED
            )
            self.notes.append(
                f"{count} access{'es' if count != 1 else ''} cited tickets that no ticket "
                f"event describes, while no ticket event came in the last {TICKET_FEED_DAYS} "
                "days: the help desk is not connected, or its feed stopped. Such tickets are "
                "taken as stated, so tickets made up or lent go unseen: connect the help desk "
                "(docs/connectors.md)"
            )

        if unmatched_tickets(run.cited, run.unmatched):
            _logger.warning(
                "%d of %d accesses cited tickets no ticket event names",
                run.unmatched,
                run.cited,
                extra=NOTED,
            )
            self.notes.append(
                f"{run.unmatched} of {run.cited} accesses citing a ticket cited one that no "
                "ticket event names, though the help desk's events come: each counts as "
                f"citing no ticket. {UNMATCHED_ADVICE}"
            )

    def _failed(self, exc: Exception) -> list[Alert]:
        _logger.error(
            "live detection failed (%s at %s); the ingested events are stored",
            type(exc).__name__,
            where(exc),
        )
        if isinstance(exc, StoreError):
            self.notes.append(
                "live detection could not run (store error, see the log); the events are "
                "stored and the next run catches up"
            )
            return []
        try:
            first, end, reset = self._skip_failed()
        except Exception as again:
            _logger.error(
                "live detection could not record the failure (%s); the next run retries",
                type(again).__name__,
            )
            self.notes.append("live detection failed (see the log); the events are stored")
            return []
        _logger.error(
            "live detection skipped leaves %d to %d%s",
            first,
            end - 1,
            "; it failed too often in a row, so its state starts afresh" if reset else "",
        )
        self.notes.append(
            f"live detection failed (see the log) and skipped leaves {first} to {end - 1}; the "
            "events are stored: run sentinelle detect over their period to cover them"
            + ("; it failed too often in a row, so its state starts afresh" if reset else "")
        )
        return []

    def _skip_failed(self) -> tuple[int, int, bool]:
        """Move the cursor past the events of the failed run, keeping the last good state."""
        with self.store.writer() as w:
            saved = w.detect_state()
            first = saved[0] if saved else 0
            end = w.ledger_size()
            state = _load(saved[1]) if saved else EngineState()
            state.failures += 1
            reset = state.failures >= RESET_AFTER
            if reset:
                state = EngineState()
            w.save_detect_state(max(end, first), Engine(self.config, state).dump_state())
        return first, end, reset

    def replay(
        self,
        since_us: int | None = None,
        until_us: int | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Alert]:
        """Run detection afresh over ``[since, until)``; store and return the alerts.

        ``progress`` is called with the time of the latest event read, every few thousand.
        """
        start = since_us - WARM_UP_DAYS * DAY if since_us is not None else None
        engine = Engine(self.config, suppressions=Suppressions(self.store.suppressions()))
        with bulk_work():
            alerts = engine.run(self._decoded(start, until_us, progress), emit_from_us=since_us)
        with self.store.writer() as w:
            w.upsert_alerts([alert_row(a) for a in alerts])
        self._note(engine)
        return alerts

    def _decoded(
        self,
        since_us: int | None,
        until_us: int | None,
        progress: Callable[[int], None] | None,
    ) -> Iterator[Event]:
        for bodies in self.store.events_by_time(since_us, until_us):
            events = [decode_event(b) for b in bodies]
            yield from events
            if progress is not None and events:
                progress(time_us(events[-1]))

    def alerts(
        self,
        *,
        actor: str | None = None,
        since_us: int | None = None,
        min_severity: int = 1,
        status: str | None = None,
    ) -> list[Alert]:
        """Stored alerts, oldest first (with this triage ``status``, if given)."""
        rows = self.store.alerts(
            actor=actor, since_us=since_us, min_severity=min_severity, status=status
        )
        return [alert_from_row(r) for r in rows]


def _load(blob: bytes) -> EngineState:
    """The saved engine state; a fresh one if it cannot be read (logged)."""
    try:
        return Engine.load_state(blob)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _logger.warning("the saved live detection state could not be read; starting afresh")
        return EngineState()


def risk_by_actor(
    alerts: Iterable[Alert], now_us: int, *, half_life_days: float = 7.0
) -> dict[str, float]:
    """Each actor's risk, 0–100: alert scores weighted by severity, decaying with age."""
    risk: dict[str, float] = {}
    for alert in alerts:
        age = max(0, now_us - alert.last_us) / DAY
        weight = 0.5 ** (age / half_life_days) * (int(alert.severity) / 2)
        risk[alert.actor] = min(100.0, risk.get(alert.actor, 0.0) + alert.score * weight)
    return risk
