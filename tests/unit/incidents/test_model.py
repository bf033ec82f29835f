"""Incident states and records: the lifecycle table, serialisation, the public API."""

from __future__ import annotations

import pytest

import sentinelle.incidents as incidents
from sentinelle.errors import Error
from sentinelle.incidents import Incident, LogEntry, State, TransitionError

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


@pytest.mark.parametrize(
    ("facts", "assessment"), [(None, None), ({"aware_at": "2026-11-21T09:00:00Z"}, {"risk": 3})]
)
def test_incident_row_round_trip(facts: dict[str, object] | None, assessment: object) -> None:
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
        assessment=assessment,  # type: ignore[arg-type]
    )
    assert Incident.from_row(incident.to_row()) == incident
    assert incident.to_dict()["window"] == {
        "from": "1970-01-01T00:00:00.000001Z",
        "to": "1970-01-01T00:00:00.000002Z",
    }


def test_log_entry_from_row() -> None:
    entry = LogEntry.from_row(("inc-1", 0, "dpo", "state", '{"reason": "r"}'))
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
