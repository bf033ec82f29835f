"""What follows every committed batch of events, whoever stored it — ``POST /v1/events``, the
help-desk connectors, the guard's decisions, ``sentinelle ingest``: live detection over the
events stored since its last run, its medium+ alerts queued for the alert destinations
(``SENTINELLE_ALERT_WEBHOOKS``, ``_SYSLOG``, ``_EMAILS``) in detection's own transaction (an
alert is queued exactly when it is stored), the guard's automatic response to its alerts
(``SENTINELLE_GUARD_POLICY``; a suspension queued in its own transaction), and the incidents'
72-hour deadline warnings that are due (:func:`sentinelle.connectors.outbound.queue_deadlines`).
Written once, below the API and the CLI.

It never raises: the batch is committed before, and a failure here must not turn a stored
batch into an error. Detection logs its own failures, the queue's included
(:class:`DetectionRunner`: a store error is retried by the next run); the response reports
its own; a failed deadline check is logged and noted, and done again by the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sentinelle.config import Settings
from sentinelle.connectors import outbound
from sentinelle.detect import Alert, DetectConfig, DetectionRunner, Severity
from sentinelle.detect.pipelined import Beside
from sentinelle.guard.respond import Responded, configured, respond
from sentinelle.guard.service import GuardPolicy
from sentinelle.ledger.log import Ledger
from sentinelle.response import ResponseEngine
from sentinelle.store import Store, Writer, open_store
from sentinelle.timeutil import MINUTE
from sentinelle.timeutil import now_us as wall_clock_us

__all__ = ["AfterBatch", "after_batch", "send_out"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AfterBatch:
    """What followed a batch: the alerts raised or changed, what the automatic response did,
    and what a person should know (sentences without event data)."""

    alerts: list[Alert] = field(default_factory=list)
    responded: Responded = field(default_factory=Responded)
    notes: list[str] = field(default_factory=list)

    @property
    def medium_plus(self) -> int:
        """How many of the alerts are of medium severity or more."""
        return sum(1 for a in self.alerts if a.severity >= Severity.MEDIUM)

    def to_dict(self) -> dict[str, Any]:
        """What an answer to a batch says of it (``POST /v1/events``, ``sentinelle ingest
        --json``): the alerts' counts, the suspensions and the warnings."""
        return {
            "alerts": len(self.alerts),
            "alerts_medium_plus": self.medium_plus,
            "suspended": [s.to_dict() for s in self.responded.suspended],
            "warnings": list(self.notes),
        }


def after_batch(
    store: Store,
    ledger: Ledger,
    engine: ResponseEngine,
    *,
    settings: Settings,
    detect_config: DetectConfig,
    guard_policy: GuardPolicy,
    now_us: int,
    flush: bool = False,
    beside: Beside | None = None,
) -> AfterBatch:
    """Live detection, the alerts queued for the alert destinations, the automatic response,
    then the deadline warnings due at ``now_us``. Call it after the batch is committed, holding
    the store's write lock where there is one.

    ``flush`` processes what detection's reorder buffer holds up to now at once (a break-glass
    alert must exist when its decision is answered): events that arrive later dated up to
    ``reorder_minutes`` earlier are then processed as late ones, at the engine's current time.

    ``beside``: the detection process that ran beside the storing of the batch
    (:mod:`sentinelle.detect.pipelined`, ``sentinelle ingest``): its result is stored if it
    follows on from the saved detection state, else detection reads the batch as usual.
    """
    out = outbound.configured(settings)
    queue = partial(_queue, settings, now_us) if out else None
    runner = DetectionRunner(store, detect_config, also=queue)
    if flush:
        ahead = int(detect_config.reorder_minutes * MINUTE)
        wall = runner.clock
        runner.clock = lambda: wall() + ahead
    alerts = runner.catch_up(beside.result(runner.clock()) if beside is not None else None)
    policy = configured(guard_policy) if alerts else None
    responded = (
        respond(
            store,
            ledger,
            engine,
            policy,
            alerts,
            now_us=now_us,
            also=outbound.guard_hook(store, settings),
        )
        if policy is not None
        else Responded()
    )
    notes = [*runner.notes, *responded.notes]
    if out:
        try:
            outbound.queue_deadlines(store, settings, now_us=now_us)
        except Exception as exc:  # the batch is committed: logged, and checked again next time
            _logger.error("the 72-hour deadline check failed: %s", type(exc).__name__)
            notes.append("the 72-hour deadline warnings were not checked (see the log)")
    return AfterBatch(alerts, responded, notes)


def _queue(settings: Settings, now_us: int, w: Writer, alerts: list[Alert]) -> None:
    outbound.queue(w, settings, alerts, now_us=now_us)


def send_out(settings: Settings, *, now_us: int | None = None, deadlines: bool = True) -> None:
    """One round of the alert destinations (:func:`sentinelle.connectors.outbound.send_round`)
    on a store connection of its own: queue the 72-hour deadline warnings due at ``now_us``
    (default: now; not with ``deadlines`` false), then send every delivery due. The API server
    runs it every ``outbound_every`` seconds, so what is queued outside an events batch (a
    lift, a guard decision's alert, a help-desk webhook's) and a deadline that falls due while
    no batch arrives go out without waiting for one; and after each events batch, without the
    deadlines (:func:`after_batch` queued them).

    Never raises: a failure is logged by its type only (its message could carry a webhook's
    URL) and the rows stay due for the next round.
    """
    now = wall_clock_us() if now_us is None else now_us
    try:
        with open_store(settings, create=False) as store:
            outbound.send_round(store, settings, now_us=now, deadlines=deadlines)
    except Exception as exc:
        _logger.error("a round of the alert destinations failed: %s", type(exc).__name__)
