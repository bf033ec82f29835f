"""Incident states and records: the lifecycle table, serialisation, the public API."""

from __future__ import annotations

import pytest

import sentinelle.incidents as incidents
from sentinelle.assess import Assessment, Facts, evaluate, parse_facts
from sentinelle.errors import Error, StoreError
from sentinelle.incidents import Incident, LogEntry, ScopeBasis, State, TransitionError
from sentinelle.store.incidents import LogRow

OP, A, N, C = State.OPEN, State.ASSESSED, State.NOTIFYING, State.CLOSED


@pytest.mark.parametrize(
    ("current", "target", "error"),
    [
        (OP, A, None),
        (A, N, None),
        (N, C, None),
        (OP, N, "skip a state"),
        (OP, C, "skip a state"),
        (A, C, "skip a state"),
        (A, OP, "go back"),
        (N, A, "go back"),
        (OP, OP, "already open"),
        (C, C, "closed"),
        (C, OP, "closed"),
    ],
)
def test_transitions(current: State, target: State, error: str | None) -> None:
    if error is None:
        current.check_move(target)
        assert current.next is target
        return
    with pytest.raises(TransitionError, match=error):
        current.check_move(target)


def test_state_parse() -> None:
    assert State.parse("Assessed") is A
    assert State.parse(State.CLOSED) is C
    with pytest.raises(TransitionError, match="one of open, assessed"):
        State.parse("done")
    assert issubclass(TransitionError, Error)
    assert C.next is None


FACTS = parse_facts(
    {
        "aware_at": "2026-11-21T09:00:00Z",
        "breach_types": ["integrity"],
        "data_categories": ["contact"],
    }
)


@pytest.mark.parametrize(
    ("facts", "assessment", "given", "basis"),
    [
        (None, None, None, None),
        (FACTS, evaluate(FACTS), {"summary": "s"}, ScopeBasis.ALL),
    ],
)
def test_incident_row_round_trip(
    facts: Facts | None,
    assessment: Assessment | None,
    given: dict[str, object] | None,
    basis: ScopeBasis | None,
) -> None:
    incident = Incident(
        id="inc-20261121-00ff00ff",
        title="t",
        state=N,
        actors=("ana", "bob"),
        from_us=1,
        to_us=2,
        created_us=3,
        created_by="dpo",
        facts=facts,
        assessment=assessment,
        given=given,
        scope_basis=basis,
    )
    assert Incident.from_row(incident.to_row()) == incident
    assert incident.to_dict()["window"] == {
        "from": "1970-01-01T00:00:00.000001Z",
        "to": "1970-01-01T00:00:00.000002Z",
    }


def test_stored_facts_that_do_not_decode_name_the_incident_and_field() -> None:
    row = Incident(
        id="inc-1",
        title="t",
        state=A,
        actors=("a",),
        from_us=0,
        to_us=1,
        created_us=0,
        created_by="dpo",
        facts=FACTS,
    ).to_row()
    bad = row._replace(
        facts_json='{"aware_at": "2026-11-21T09:00:00Z", "breach_types": '
        '["integrity"], "data_categories": ["contact"], "nature": 1}'
    )
    with pytest.raises(StoreError, match=r"inc-1.*nature"):
        Incident.from_row(bad)
    with pytest.raises(StoreError, match=r"inc-1.*severity"):
        Incident.from_row(row._replace(assessment_json='{"jurisdiction": "EU"}'))


def test_log_entry_from_row() -> None:
    entry = LogEntry.from_row(LogRow("inc-1", 0, "dpo", "state", '{"reason": "r"}'))
    assert entry.to_dict() == {
        "at": "1970-01-01T00:00:00Z",
        "by": "dpo",
        "change": "state",
        "details": {"reason": "r"},
    }


def test_exported_members() -> None:
    for name in incidents.__all__:
        value = getattr(incidents, name)
        assert isinstance(value, int | tuple) or value.__module__.startswith("sentinelle.incidents")
    public = {n for n in dir(incidents) if not n.startswith("_")}
    assert public - {"annotations", "facts", "model", "records", "scope"} == set(incidents.__all__)
