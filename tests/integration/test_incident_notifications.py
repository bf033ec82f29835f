"""Notifications to the supervisory authority in phases (GDPR Art. 33(4)) against a real
store, on SQLite and PostgreSQL (``settings`` fixture): recording them in the incident log,
refusals that write nothing, the 72-hour clock and the register's columns."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import NotFoundError
from sentinelle.incidents import (
    CSV_COLUMNS,
    IncidentInputError,
    Incidents,
    State,
    TransitionError,
    register,
    register_csv,
)
from sentinelle.response import ResponseEngine
from sentinelle.store import Store, open_store
from sentinelle.timeutil import HOUR, parse_time

AWARE = "2026-11-20T08:00:00Z"
DEADLINE = parse_time(AWARE) + 72 * HOUR
FACTS: dict[str, Any] = {
    "aware_at": AWARE,
    "breach_types": ["confidentiality"],
    "data_categories": ["contact", "address"],
    "subjects": {"count": 120, "approximate": True},
    "records": 300,
}
# The columns the register had before the notification phases: unchanged, in this order.
ORIGINAL_COLUMNS = (
    "id",
    "title",
    "state",
    "actors",
    "from",
    "to",
    "created",
    "created_by",
    "facts",
    "assessment",
    "decisions",
)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def assessed(store: Store, title: str = "harvest") -> str:
    """An incident with facts and an assessment, moved to ``assessed`` as the CLI does."""
    engine = ResponseEngine(store)
    incident_id = engine.open(title=title, by="dpo", actors=["ana"], from_us=0).id
    outcome = engine.assess(
        incident_id, by="dpo", given=FACTS, now=parse_time("2026-11-20T09:00:00Z")
    )
    assert outcome.assessment.notify_authority.required is True
    assert outcome.incident.state is State.ASSESSED
    return incident_id


def snapshot(store: Store, incident_id: str) -> tuple[Any, ...]:
    book = Incidents(store)
    return book.get(incident_id), book.log(incident_id)


def test_phases_are_logged_in_order_and_the_initial_one_starts_notifying(store: Store) -> None:
    book = Incidents(store)
    incident_id = assessed(store)
    clock = book.record_notification(
        incident_id,
        "initial",
        by="dpo",
        sent_us=DEADLINE - 2 * HOUR,
        reference=" CNIL-2026-0042 ",
        note="what we knew on day 2",
    )
    assert (clock.status, clock.on_time, clock.late_by_us) == ("on_time", True, None)
    assert book.get(incident_id).state is State.NOTIFYING
    book.record_notification(
        incident_id, "complementary", by="ciso", sent_us=DEADLINE + 24 * HOUR, note="counts"
    )
    book.record_notification(incident_id, "final", by="dpo", sent_us=DEADLINE + 48 * HOUR)
    log = book.log(incident_id)
    tail = [(e.change, e.by, e.details.get("phase"), e.details.get("to")) for e in log[-5:]]
    assert tail == [
        ("state", "dpo", None, "assessed"),
        ("authority_notified", "dpo", "initial", None),
        ("state", "dpo", None, "notifying"),
        ("authority_notified", "ciso", "complementary", None),
        ("authority_notified", "dpo", "final", None),
    ]
    assert log[-4].details == {
        "phase": "initial",
        "sent_at": "2026-11-23T06:00:00Z",
        "reference": "CNIL-2026-0042",  # stripped
        "note": "what we knew on day 2",
        "delay_reasons": None,
        "deadline": "2026-11-23T08:00:00Z",
        "late": False,
    }
    assert log[-3].details["reason"] == "initial notification sent to the supervisory authority"
    assert log[-2].details["deadline"] is None and log[-2].details["late"] is None
    final = book.clock(incident_id)
    assert [p.phase.value for p in final.phases] == ["initial", "complementary", "final"]
    # The final notification does not close the incident; closing is a decision of its own.
    assert book.get(incident_id).state is State.NOTIFYING
    with pytest.raises(TransitionError, match="final notification was sent"):
        book.record_notification(incident_id, "complementary", by="dpo")


def test_refusals_write_nothing(store: Store) -> None:
    book = Incidents(store)
    incident_id = assessed(store)
    before = snapshot(store, incident_id)
    with pytest.raises(IncidentInputError, match="delay_reasons: .* after the 72-hour deadline"):
        book.record_notification(incident_id, "initial", by="dpo", sent_us=DEADLINE + HOUR)
    with pytest.raises(TransitionError, match="needs the initial notification first"):
        book.record_notification(incident_id, "complementary", by="dpo")
    with pytest.raises(IncidentInputError, match="phase: unknown phase"):
        book.record_notification(incident_id, "second", by="dpo")
    with pytest.raises(IncidentInputError, match="in the future"):
        book.record_notification(
            incident_id, "initial", by="dpo", sent_us=parse_time("2099-01-01"), delay_reasons="r"
        )
    assert snapshot(store, incident_id) == before  # still assessed, not one log entry more
    with pytest.raises(NotFoundError):
        book.record_notification("inc-nope", "initial", by="dpo")
    opened = book.open(title="not assessed", by="dpo", actors=["bob"], from_us=0).id
    with pytest.raises(TransitionError, match="not assessed yet"):
        book.record_notification(opened, "initial", by="dpo")
    assert [e.change for e in book.log(opened)] == ["opened"]


def test_late_initial_notification_with_reasons(store: Store) -> None:
    book = Incidents(store)
    incident_id = assessed(store)
    clock = book.record_notification(
        incident_id,
        "initial",
        by="dpo",
        sent_us=DEADLINE + 30 * HOUR,
        delay_reasons="the processor told us on day 4",
    )
    assert (clock.status, clock.on_time, clock.late_by_us) == ("late", False, 30 * HOUR)
    details = book.log(incident_id)[-2].details
    assert (details["late"], details["delay_reasons"]) == (True, "the processor told us on day 4")
    with pytest.raises(TransitionError, match="already sent"):
        book.record_notification(incident_id, "initial", by="dpo", delay_reasons="again")


def test_nothing_after_closed(store: Store) -> None:
    book = Incidents(store)
    incident_id = assessed(store)
    book.record_notification(incident_id, "initial", by="dpo", sent_us=DEADLINE)
    book.advance(incident_id, State.CLOSED, by="dpo", reason="handled")
    before = snapshot(store, incident_id)
    with pytest.raises(TransitionError, match="closed"):
        book.record_notification(incident_id, "complementary", by="dpo")
    assert snapshot(store, incident_id) == before


def test_register_has_the_clock_and_new_csv_columns_at_the_end(store: Store) -> None:
    book = Incidents(store)
    late = assessed(store, title="late one")
    book.record_notification(
        late, "initial", by="dpo", sent_us=DEADLINE + 2 * HOUR, delay_reasons="weekend, sorry"
    )
    book.record_notification(late, "complementary", by="dpo", sent_us=DEADLINE + 3 * HOUR)
    waiting = assessed(store, title="waiting")
    now = DEADLINE - HOUR
    entries = register(book, now_us=now)
    assert [e["id"] for e in entries] == [late, waiting]
    first, second = (e["authority_clock"] for e in entries)
    assert (first["status"], first["on_time"], first["late_by_seconds"]) == ("late", False, 7200)
    assert [p["phase"] for p in first["phases"]] == ["initial", "complementary"]
    assert (second["status"], second["time_left_seconds"], second["phases"]) == (
        "running",
        3600,
        [],
    )
    assert "authority_notified" in [d["change"] for d in entries[0]["decisions"]]

    assert CSV_COLUMNS[: len(ORIGINAL_COLUMNS)] == ORIGINAL_COLUMNS
    text = register_csv(book, now_us=now)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    # The clock's columns come right after the original ones (the summary columns follow).
    clock_columns = CSV_COLUMNS[len(ORIGINAL_COLUMNS) : CSV_COLUMNS.index("authority_phases")]
    got = {k: rows[0][k] for k in clock_columns}
    assert got == {
        "authority_deadline": "2026-11-23T08:00:00Z",
        "authority_status": "late",
        "authority_initial_at": "2026-11-23T10:00:00Z",
        "authority_on_time": "false",
        "authority_late_by_seconds": "7200",
        "authority_delay_reasons": "weekend, sorry",
    }
    assert json.loads(rows[0]["authority_phases"]) == first["phases"]
    assert (rows[1]["authority_status"], rows[1]["authority_on_time"]) == ("running", "")
    assert rows[1]["authority_initial_at"] == "" and rows[1]["authority_phases"] == "[]"
