"""``GET /metrics``: the Prometheus text format, parsed with prometheus_client's own parser.

Batches go through ``POST /v1/events`` (stored, refused, repeated), more events are stored
by an ingest of their own (as ``sentinelle ingest`` does, without live detection), an alert is
triaged, an incident is opened and assessed, and notices are queued: each family must say so,
and nothing that names a person (actor, customer, merchant, e-mail) may appear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from incident_world import FROM, TO, incident_events
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.detect.base import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.ingest import Ingestor
from sentinelle.store.alerts import TriageRow
from sentinelle.timeutil import HOUR, SECOND, parse_time

NOW = parse_time("2026-11-06T12:00:00Z")
AWARE = NOW - 10 * HOUR  # the 72-hour deadline is 62 hours ahead


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    keys: dict[Role, str]
    state: Any

    def post(self, events: list[dict[str, Any]]) -> Any:
        return self.client.post(
            "/v1/events", json=events, headers={"Authorization": f"Bearer {self.keys[Role.ADMIN]}"}
        )

    def metrics(self, role: Role = Role.READER) -> Any:
        return self.client.get("/metrics", headers={"Authorization": f"Bearer {self.keys[role]}"})

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = self.metrics()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def _app(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    state = app.state.sentinelle
    state.clock = lambda: NOW
    with TestClient(app) as client:
        keys = {
            role: create_key(
                state.store,
                name=f"k-{role.value}",
                role=role,
                merchant="m-1" if role is Role.MERCHANT else None,
                by="tests",
            )
            for role in Role
        }
        yield Api(client, keys, state)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from _app(settings)


def _one(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_say_what_happened(api: Api) -> None:
    events = incident_events()
    assert api.post(events).status_code == 200
    assert api.post(events[:2]).status_code == 200  # repeated: duplicates
    refused = api.post([events[2], {"id": "x"}, {"id": "y"}])
    assert refused.status_code == 422
    stored = len(events)

    samples = api.samples()
    assert _one(samples, "sentinelle_events_stored_total") == stored
    assert _one(samples, "sentinelle_ingest_batches_total", outcome="stored") == 2
    assert _one(samples, "sentinelle_ingest_batches_total", outcome="refused") == 1
    assert _one(samples, "sentinelle_ingest_batches_total", outcome="failed") == 0
    assert _one(samples, "sentinelle_ingest_events_total", outcome="stored") == stored
    assert _one(samples, "sentinelle_ingest_events_total", outcome="duplicate") == 2
    assert _one(samples, "sentinelle_ingest_events_total", outcome="refused") == 3
    assert _one(samples, "sentinelle_ingest_seconds_count") == 3
    assert _one(samples, "sentinelle_ingest_seconds_bucket", le="+Inf") == 3
    # Live detection ran after each stored batch: no lag.
    assert _one(samples, "sentinelle_detection_lag_events") == 0
    assert _one(samples, "sentinelle_detection_lag_seconds") == 0
    # Every severity and status is a series, zeros included.
    alerts = {
        (dict(k[1])["severity"], dict(k[1])["status"]): v
        for k, v in samples.items()
        if k[0] == "sentinelle_alerts"
    }
    assert len(alerts) == 16
    counted = sum(api.state.store.alert_counts().values()) if alerts else 0
    assert sum(alerts.values()) == counted
    assert _one(samples, "sentinelle_incidents_open") == 0
    assert _one(samples, "sentinelle_notices", audience="subjects", status="sent") == 0


def test_detection_lag_counts_events_stored_without_detection(api: Api) -> None:
    events = incident_events()
    assert api.post(events[:2]).status_code == 200  # detection ran up to here
    # As `sentinelle ingest` without live detection: stored, not yet looked at.
    Ingestor(api.state.store, api.state.ledger).ingest(
        (i, json.dumps(e)) for i, e in enumerate(events[2:])
    )
    samples = api.samples()
    assert _one(samples, "sentinelle_events_stored_total") == len(events)
    assert _one(samples, "sentinelle_detection_lag_events") == len(events) - 2
    newest = max(parse_time(e["time"]) for e in events[2:])
    processed = parse_time(events[1]["time"])
    assert _one(samples, "sentinelle_detection_lag_seconds") == (newest - processed) / SECOND
    # Only the API's batches are counted in process.
    assert _one(samples, "sentinelle_ingest_events_total", outcome="stored") == 2


def test_alerts_incidents_and_notices(api: Api) -> None:
    assert api.post(incident_events()).status_code == 200
    store = api.state.store
    alert = Alert(
        id="al-1",
        actor="ana",
        detector="bulk_harvest",
        time_us=NOW - HOUR,
        last_us=NOW - HOUR,
        severity=Severity.HIGH,
        score=80.0,
        merchants=["m-2"],
        events=["a-1"],
        reasons=["ana read m-2's customers without a ticket"],
    )
    with store.writer() as w:
        w.upsert_alerts([alert_row(alert)])
        w.record_triage([TriageRow("al-1", NOW, "tests", "acknowledged", "looking", None, None)])
    incident = api.state.engine.open(
        title="harvest", by="tests", actors=["ana"], from_us=parse_time(FROM), to_us=parse_time(TO)
    )
    api.state.engine.assess(incident.id, by="tests", aware_us=AWARE, now=NOW)
    other = api.state.engine.open(
        title="not assessed", by="tests", actors=["ana"], from_us=parse_time(FROM), to_us=NOW
    )
    with store.writer() as w:
        w.add_notices(incident.id, "subjects", 1, [("h-1", "m1"), ("h-2", "m2")], at_us=NOW)
    samples = api.samples()
    assert _one(samples, "sentinelle_alerts", severity="high", status="acknowledged") == 1
    assert _one(samples, "sentinelle_incidents_open") == 2
    assert _one(samples, "sentinelle_incidents", state="assessed") == 1
    assert _one(samples, "sentinelle_incidents", state="open") == 1
    assert _one(samples, "sentinelle_incident_clocks", clock="unknown") == 1
    running = _one(samples, "sentinelle_incident_clocks", clock="running")
    overdue = _one(samples, "sentinelle_incident_clocks", clock="overdue")
    not_required = _one(samples, "sentinelle_incident_clocks", clock="not_required")
    assert (running, overdue, not_required) == (1, 0, 0), "the assessment asks to notify"
    deadline = _one(samples, "sentinelle_incident_deadline_seconds", incident=incident.id)
    assert deadline == 62 * 3600
    assert not any(
        k[0] == "sentinelle_incident_deadline_seconds" and ("incident", other.id) in k[1]
        for k in samples
    )
    assert _one(samples, "sentinelle_notices", audience="subjects", status="pending") == 2
    text = api.metrics().text
    # No person: not the actor, a customer, a merchant, a recipient's hash nor an e-mail.
    for name in ("ana", "c-0-a", "m-1", "m-2", "h-1", "@"):
        assert name not in text, name


@pytest.mark.parametrize("role", [Role.MERCHANT, Role.AUDITOR, Role.DPO, Role.INGEST])
def test_metrics_are_for_readers_and_admins(api: Api, role: Role) -> None:
    assert api.metrics(role).status_code == 403
    assert api.metrics(Role.ADMIN).status_code == 200
    assert api.client.get("/metrics").status_code == 401


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    # Two apps in one process (as in the test suite): neither clashes with nor sees the other.
    first = _app(Settings(_env_file=None, data_dir=tmp_path / "a", database_url=None))
    second = _app(Settings(_env_file=None, data_dir=tmp_path / "b", database_url=None))
    one, two = next(first), next(second)
    assert one.post(incident_events()).status_code == 200
    assert _one(one.samples(), "sentinelle_ingest_batches_total", outcome="stored") == 1
    assert _one(two.samples(), "sentinelle_ingest_batches_total", outcome="stored") == 0
    assert _one(two.samples(), "sentinelle_events_stored_total") == 0
    for gen in (first, second):
        with pytest.raises(StopIteration):
            next(gen)
