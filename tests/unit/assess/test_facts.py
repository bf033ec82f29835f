"""Incident facts: strict parsing per incident-facts.schema.json, errors naming the path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sentinelle.assess.facts import facts_to_dict, parse_facts
from sentinelle.errors import ValidationError

VALID: dict[str, Any] = {
    "aware_at": "2026-02-02T10:00:00+01:00",
    "breach_types": ["confidentiality"],
    "data_categories": ["contact"],
}


def test_valid_facts_are_normalised_to_utc() -> None:
    facts = parse_facts({**VALID, "notified": {"authority_at": "2026-02-03T00:00:00-05:00"}})
    assert facts.aware_at == dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
    assert facts.notified is not None
    assert facts_to_dict(facts)["notified"] == {"authority_at": "2026-02-03T05:00:00Z"}


def test_round_trip() -> None:
    facts = parse_facts(VALID)
    assert parse_facts(facts_to_dict(facts)) == facts
    assert parse_facts(facts) is facts


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"aware_at": None}, "$", "missing required field `aware_at`"),
        ({"aware_at": "yesterday"}, "$.aware_at", "Invalid RFC3339"),
        ({"aware_at": "2026-02-02T10:00:00"}, "$.aware_at", "no UTC offset"),
        ({"period": {"end": "2026-02-02T10:00:00"}}, "$.period.end", "no UTC offset"),
        ({"notified": {"subjects_at": "2026-02-02"}}, "$.notified.subjects_at", "Invalid RFC3339"),
        # In UTC before year 1, or a 72-hour deadline after year 9999: no date can hold them.
        ({"aware_at": "0001-01-01T00:30:00+01:00"}, "$.aware_at", "out of range"),
        ({"period": {"start": "0001-01-01T00:00:00+00:01"}}, "$.period.start", "out of range"),
        ({"aware_at": "9999-12-31T20:00:00Z"}, "$.aware_at", "out of range"),
        ({"breach_types": []}, "$.breach_types", "length >= 1"),
        ({"breach_types": ["theft"]}, "$.breach_types[0]", "Invalid enum value 'theft'"),
        (
            {"breach_types": ["integrity", "integrity"]},
            "$.breach_types[1]",
            "duplicate item 'integrity'",
        ),
        ({"data_categories": ["contact", "health"]}, "$.data_categories[1]", "Invalid enum value"),
        ({"cause": {"intent": "evil"}}, "$.cause.intent", "Invalid enum value 'evil'"),
        ({"cause": {"motive": "money"}}, "$.cause", "unknown field `motive`"),
        ({"severity": "high"}, "$", "unknown field `severity`"),
        ({"subjects": {"count": -1}}, "$.subjects.count", ">= 0"),
        ({"subjects": {"count": "many"}}, "$.subjects.count", "Expected `int`"),
        ({"records": 1.5}, "$.records", "Expected `int`"),
        (
            {"availability": {"restored_within_hours": -2}},
            "$.availability.restored_within_hours",
            ">= 0",
        ),
        (
            {"encryption": {"key_compromised": "no"}},
            "$.encryption.key_compromised",
            "Expected `bool`",
        ),
        ({"title": "x" * 301}, "$.title", "length <= 300"),
        ({"mitigations": ["y" * 501]}, "$.mitigations[0]", "length <= 500"),
        ({"recipients": None}, "$.recipients", "Expected `str`"),
    ],
)
def test_invalid_facts_name_the_path(change: dict[str, Any], path: str, message: str) -> None:
    raw = {**VALID, **change}
    if change.get("aware_at", "") is None:
        del raw["aware_at"]
    with pytest.raises(ValidationError) as info:
        parse_facts(raw)
    (problem,) = info.value.problems
    assert problem.location == 0
    assert problem.path == path
    assert message in problem.message


@pytest.mark.parametrize(
    ("raw", "message"), [(b"{", "not valid JSON"), ("[1]", "Expected `object`")]
)
def test_not_an_object(raw: bytes | str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_facts(raw)
    assert info.value.problems[0].path == "$"
    assert message in info.value.problems[0].message
