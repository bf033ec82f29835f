"""``GET /metrics``: the Prometheus text exposition format, for the ``reader`` role (and admin).

Two kinds of figures, in a :class:`~prometheus_client.CollectorRegistry` of the app's own (never
the library's global one, so several apps in one process, as in the tests, keep apart):

* read from the store at each scrape (:class:`StoreCollector`), so they hold whichever process
  wrote (CLI ingest, another API process): events stored, alerts by severity and triage status,
  how far live detection lags, notices by audience and status, the messages to the alert
  destinations by destination, kind and state, incidents by state and the seconds left to each
  open incident's 72-hour deadline;
* counted in this process since it started (:class:`IngestMetrics`), because ingest records
  nothing of a refused batch (it writes nothing, by design): the batches of ``POST /v1/events``
  by outcome, their events, and how long each took.

Nothing here names a person: no actor, merchant, customer or e-mail, only counts, severities,
statuses, incident ids (which name incidents, not people) and the alert destinations' names
(never their URLs or addresses). No secret either.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from sentinelle.access import Permission
from sentinelle.api.deps import GuardedRoute, State, StateDep, guarded, locked
from sentinelle.detect import Severity
from sentinelle.detect.triage import Status
from sentinelle.errors import ValidationError
from sentinelle.incidents import Clock, ClockStatus, Incidents
from sentinelle.incidents import State as IncidentState
from sentinelle.notify.model import Audience
from sentinelle.store.notices import NOTICE_STATUSES
from sentinelle.timeutil import SECOND

__all__ = ["IngestMetrics", "StoreCollector", "ingest_metrics", "router"]

router = APIRouter(tags=["metrics"], route_class=GuardedRoute)

# Upper bounds of the ingest latency buckets, seconds: a small batch takes milliseconds, a
# 64 MiB one tens of seconds.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(slots=True)
class _Batch:
    """One ``POST /v1/events`` being handled: its outcome is decided when it ends."""

    metrics: IngestMetrics
    started: float = field(default_factory=time.perf_counter)
    received: int = 0
    stored: int = 0
    duplicates: int = 0

    def __enter__(self) -> _Batch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        m = self.metrics
        m.latency.observe(time.perf_counter() - self.started)
        if exc is None:
            m.batches.labels("stored").inc()
            m.events.labels("stored").inc(self.stored)
            m.events.labels("duplicate").inc(self.duplicates)
        elif isinstance(exc, ValidationError) or (
            isinstance(exc, HTTPException) and exc.status_code == 413
        ):
            m.batches.labels("refused").inc()
            m.events.labels("refused").inc(self.received)
        else:  # the store was busy or failed: nothing was written
            m.batches.labels("failed").inc()
            m.events.labels("failed").inc(self.received)


class IngestMetrics:
    """What this process counted of ``POST /v1/events`` since it started."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter(
            "sentinelle_ingest_batches",
            "Batches POST /v1/events handled by this process since it started, by outcome: "
            "stored, refused (invalid or too large: nothing written) or failed (store busy or "
            "failing: nothing written). Ingest records no refusal in the store.",
            ["outcome"],
            registry=registry,
        )
        self.events = Counter(
            "sentinelle_ingest_events",
            "Events in the batches of POST /v1/events handled by this process since it started, "
            "by outcome: stored, duplicate (already stored), refused or failed (in a batch "
            "refused or failed as a whole). A body that is not JSON counts no event.",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "sentinelle_ingest_seconds",
            "Time this process took to handle a batch of POST /v1/events: reading the body, "
            "storing the events and live detection.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for outcome in ("stored", "refused", "failed"):  # every series exists from the start
            self.batches.labels(outcome)
            self.events.labels(outcome)
        self.events.labels("duplicate")

    def batch(self) -> _Batch:
        """Time and count one batch: ``with metrics.batch() as b: … b.received = n …``."""
        return _Batch(self)


class StoreCollector(Collector):
    """The figures read from the store at each scrape (under the app's store lock)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        store = self.state.store
        size = store.ledger_size()
        yield CounterMetricFamily(
            "sentinelle_events_stored",
            "Events stored in the ledger (access and context events, every process).",
            value=size,
        )

        alerts = GaugeMetricFamily(
            "sentinelle_alerts",
            "Stored alerts by severity and triage status.",
            labels=["severity", "status"],
        )
        counts = {(r.severity, r.status): r.alerts for r in store.alert_totals()}
        statuses = [s.value for s in Status]
        statuses += sorted({s for _, s in counts} - set(statuses))
        for severity in Severity:
            for status in statuses:
                alerts.add_metric([str(severity), status], counts.get((int(severity), status), 0))
        yield alerts

        cursor = min(store.detection_cursor(), size)
        yield GaugeMetricFamily(
            "sentinelle_detection_lag_events",
            "Stored events live detection has not processed yet (ledger size minus its cursor).",
            value=size - cursor,
        )
        newest = store.event_time(size - 1) if size else None
        processed = store.event_time(cursor - 1 if cursor else 0) if size else None
        behind = 0.0
        if cursor < size and newest is not None and processed is not None:
            behind = max(0, newest - processed) / SECOND
        yield GaugeMetricFamily(
            "sentinelle_detection_lag_seconds",
            "How far behind live detection is, in event time: the time of the newest stored "
            "event minus that of the newest processed one (of the first stored, if none was); "
            "0 when it has caught up.",
            value=behind,
        )

        notices = GaugeMetricFamily(
            "sentinelle_notices",
            "Breach notices of every incident by audience and status.",
            labels=["audience", "status"],
        )
        totals = {(a, s): n for a, s, n in store.notice_totals()}
        for audience in sorted({a.value for a in Audience} | {a for a, _ in totals}):
            for status in NOTICE_STATUSES:
                notices.add_metric([audience, status], totals.get((audience, status), 0))
        yield notices

        deliveries = GaugeMetricFamily(
            "sentinelle_outbound_deliveries",
            "Messages to the alert destinations (webhooks, syslog, e-mail) by destination name, "
            "kind (alert, suspended, lifted, deadline) and state (pending, sending, delivered, "
            "failed, obsolete).",
            labels=["destination", "kind", "state"],
        )
        for c in store.delivery_counts():
            deliveries.add_metric([c.destination, c.kind, c.state.value], c.rows)
        yield deliveries

        yield from self._incidents()

    def _incidents(self) -> Iterator[Metric]:
        records = Incidents(self.state.store)
        incidents = records.all()
        now = self.state.clock()
        by_state = GaugeMetricFamily(
            "sentinelle_incidents", "Incidents by state.", labels=["state"]
        )
        for st in IncidentState:
            by_state.add_metric([st.value], sum(1 for i in incidents if i.state is st))
        yield by_state
        open_ones = [i for i in incidents if i.state is not IncidentState.CLOSED]
        yield GaugeMetricFamily(
            "sentinelle_incidents_open", "Incidents not closed.", value=len(open_ones)
        )
        log = records.log() if open_ones else []
        clocks = GaugeMetricFamily(
            "sentinelle_incident_clocks",
            "Incidents not closed by where their 72-hour clock (GDPR Art. 33(1)) stands: "
            "unknown (not assessed), not_required, running, overdue, on_time, late.",
            labels=["clock"],
        )
        deadline = GaugeMetricFamily(
            "sentinelle_incident_deadline_seconds",
            "Seconds left until the 72-hour deadline to notify the authority, for each incident "
            "not closed whose clock runs (negative once overdue); min() gives the nearest.",
            labels=["incident"],
        )
        seen: dict[str, int] = {s.value: 0 for s in ClockStatus}
        for incident in open_ones:
            clock = Clock.of(incident, [e for e in log if e.incident == incident.id], now_us=now)
            seen[clock.status.value] += 1
            if clock.status in (ClockStatus.RUNNING, ClockStatus.OVERDUE):
                assert clock.deadline_us is not None  # noqa: S101  (a running clock has one)
                deadline.add_metric([incident.id], (clock.deadline_us - now) / SECOND)
        for status, n in seen.items():
            clocks.add_metric([status], n)
        yield clocks
        yield deadline


_KEY: Final = "sentinelle_metrics"


def ingest_metrics(app: FastAPI) -> IngestMetrics:
    """The app's metrics, made (with its registry) on first use by either route."""
    found = getattr(app.state, _KEY, None)
    if isinstance(found, _AppMetrics):
        return found.ingest
    state: State = app.state.sentinelle
    registry = CollectorRegistry(auto_describe=False)
    made = _AppMetrics(registry, IngestMetrics(registry))
    registry.register(StoreCollector(state))
    setattr(app.state, _KEY, made)
    return made.ingest


@dataclass(frozen=True, slots=True)
class _AppMetrics:
    registry: CollectorRegistry
    ingest: IngestMetrics


_TEXT: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
}


@router.get(
    "/metrics", response_class=Response, responses=_TEXT, **guarded(Permission.METRICS_READ)
)
async def metrics(request: Request, state: StateDep) -> Response:
    """The Prometheus text exposition format: events stored, ingest by outcome and latency,
    alerts by severity and status, detection lag, notices by status, incidents by state and
    their 72-hour deadlines. No identifier of a person."""
    ingest_metrics(request.app)
    registry: CollectorRegistry = getattr(request.app.state, _KEY).registry
    text = await locked(state, lambda: generate_latest(registry))
    return Response(content=text, media_type=CONTENT_TYPE_LATEST)
