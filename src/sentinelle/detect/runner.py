"""Running detection against a store: live after each batch, or over history.

* :meth:`DetectionRunner.catch_up` continues from where the last run stopped (a cursor over
  leaf indices) with the saved engine state, so every ingested event is seen exactly once,
  whichever process ingested it; the alerts, the new state and the cursor are written in one
  transaction.
* :meth:`DetectionRunner.replay` runs a fresh engine over a time range, warming its baselines
  up on the weeks before; alert ids are derived from what triggered them, so a rerun replaces
  alerts instead of duplicating them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

from sentinelle.detect.base import Alert
from sentinelle.detect.engine import DetectConfig, Engine
from sentinelle.detect.timeutil import DAY
from sentinelle.events import Event, decode_event, time_us
from sentinelle.store import Store

__all__ = ["WARM_UP_DAYS", "DetectionRunner", "alert_from_row", "alert_row", "risk_by_actor"]

WARM_UP_DAYS: Final = 28


def alert_row(alert: Alert) -> tuple[Any, ...]:
    """The stored form of an alert."""
    return (
        alert.id,
        alert.actor,
        alert.detector,
        alert.time_us,
        alert.last_us,
        int(alert.severity),
        float(alert.score),
        json.dumps(alert.merchants),
        json.dumps(alert.events),
        json.dumps(alert.reasons),
    )


def alert_from_row(row: tuple[Any, ...]) -> Alert:
    """Inverse of :func:`alert_row`."""
    from sentinelle.detect.base import Severity

    return Alert(
        id=row[0],
        actor=row[1],
        detector=row[2],
        time_us=int(row[3]),
        last_us=int(row[4]),
        severity=Severity(int(row[5])),
        score=float(row[6]),
        merchants=json.loads(row[7]),
        events=json.loads(row[8]),
        reasons=json.loads(row[9]),
    )


class DetectionRunner:
    """Detection over a store's events."""

    def __init__(self, store: Store, config: DetectConfig | None = None) -> None:
        self.store = store
        self.config = config or DetectConfig()

    def catch_up(self) -> list[Alert]:
        """Process the events stored since the last run; the alerts created or changed."""
        changed: dict[str, Alert] = {}
        with self.store.writer() as w:
            saved = w.detect_state()
            cursor = saved[0] if saved else 0
            engine = Engine(self.config, Engine.load_state(saved[1]) if saved else None)
            for rows in self.store.events_by_seq(cursor):
                # A batch arrives roughly in time order; sort each read chunk to be sure.
                events = sorted((decode_event(body) for _, body in rows), key=time_us)
                for alert in engine.run(events):
                    changed[alert.id] = alert
                cursor = rows[-1][0] + 1
            w.upsert_alerts([alert_row(a) for a in changed.values()])
            w.save_detect_state(cursor, engine.dump_state())
        return list(changed.values())

    def replay(self, since_us: int | None = None, until_us: int | None = None) -> list[Alert]:
        """Run detection afresh over ``[since, until)``; store and return the alerts."""
        start = since_us - WARM_UP_DAYS * DAY if since_us is not None else None
        engine = Engine(self.config)
        alerts = engine.run(self._decoded(start, until_us), emit_from_us=since_us)
        with self.store.writer() as w:
            w.upsert_alerts([alert_row(a) for a in alerts])
        return alerts

    def _decoded(self, since_us: int | None, until_us: int | None) -> Iterator[Event]:
        for bodies in self.store.events_by_time(since_us, until_us):
            yield from (decode_event(b) for b in bodies)

    def alerts(
        self, *, actor: str | None = None, since_us: int | None = None, min_severity: int = 1
    ) -> list[Alert]:
        """Stored alerts, oldest first."""
        rows = self.store.alerts(actor=actor, since_us=since_us, min_severity=min_severity)
        return [alert_from_row(r) for r in rows]


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
