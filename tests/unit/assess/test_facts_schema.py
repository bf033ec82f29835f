"""The incident-facts JSON Schema shipped in the package: equal to the shared contract, and
in agreement with ``parse_facts`` (the msgspec structs) on valid and invalid documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import sentinelle.assess
from rfc3339 import FORMATS
from sentinelle.assess import FACTS_SCHEMA, facts_schema, parse_facts
from sentinelle.errors import ValidationError

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "contracts" / "incident-facts.schema.json"
EXAMPLES = Path(__file__).with_name("edpb-examples.json")

VALIDATOR = jsonschema.Draft202012Validator(facts_schema(), format_checker=FORMATS)

MINIMAL: dict[str, Any] = {
    "aware_at": "2026-02-02T09:00:00Z",
    "breach_types": ["confidentiality"],
    "data_categories": ["contact"],
}
FULL: dict[str, Any] = {
    "title": "Support agents harvesting customer lists",
    "summary": "Two tier-1 agents opened the customer lists of 51 merchants without tickets.",
    "aware_at": "2026-11-20T09:00:00+01:00",
    "period": {"start": "2026-10-29T02:03:54Z", "end": "2026-11-10T10:19:46.250Z"},
    "breach_types": ["confidentiality", "integrity", "availability"],
    "cause": {"source": "internal", "intent": "malicious", "kind": "insider_abuse"},
    "controller": {"name": "Demo Shop", "sector": "retail", "dpo_contact": "dpo@shop.example"},
    "data_categories": ["contact", "address", "order_details", "credentials"],
    "credentials_for": "financial",
    "subjects": {"count": 4666, "approximate": False, "vulnerable": False,
                 "public_figures": True},
    "records": 7545,
    "identifiability": "maximum",
    "data_public_before": False,
    "encryption": {"state": "weak", "key_compromised": True, "hashed_salted": False},
    "exfiltration": "confirmed",
    "recipients": "unknown",
    "data_recovered": False,
    "integrity": "altered_recoverable",
    "availability": {"backup": True, "restored_within_hours": 1.5, "permanent_loss": False,
                     "impact_on_subjects": "minor"},
    "mitigations": ["accounts suspended", "passwords reset"],
    "subjects_contactable": True,
    "jurisdictions": ["EU-FR", "UK"],
    "notified": {"authority_at": "2026-11-21T08:00:00Z", "subjects_at": "2026-11-22t08:00:00z"},
}  # fmt: skip


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with ``changes`` (``a__b`` sets ``doc["a"]["b"]``; ``...`` deletes)."""
    doc = copy.deepcopy(base)
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return doc


VALID: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "every key": FULL,
    "offset -00:00": _with(MINIMAL, aware_at="2026-02-02T09:00:00-00:00"),
    "nanoseconds": _with(MINIMAL, aware_at="2026-02-02T09:00:00.123456789Z"),
    "empty objects and lists": _with(
        MINIMAL, period={}, cause={}, subjects={}, mitigations=[], jurisdictions=[]
    ),
    "zero counts": _with(MINIMAL, subjects={"count": 0}, records=0),
    "a huge count": _with(MINIMAL, records=2**70),
    "hours as an integer": _with(MINIMAL, availability={"restored_within_hours": 0}),
    "title of 300 characters": _with(MINIMAL, title="🕵" * 300),
    "mitigation of 500 characters": _with(MINIMAL, mitigations=["é" * 500]),
    "summary of 5000 characters": _with(MINIMAL, summary="x" * 5000),
    "every data category": _with(
        MINIMAL, data_categories=facts_schema()["properties"]["data_categories"]["items"]["enum"]
    ),
    "any sector and jurisdiction text": _with(
        MINIMAL, controller={"sector": "pharmacy"}, jurisdictions=["US-CA", "XX"]
    ),
}

INVALID: dict[str, dict[str, Any]] = {
    "no aware_at": _with(MINIMAL, aware_at=...),
    "no breach_types": _with(MINIMAL, breach_types=...),
    "no data_categories": _with(MINIMAL, data_categories=...),
    "not an object": [MINIMAL],  # type: ignore[dict-item]
    "unknown key": _with(MINIMAL, severity="high"),
    "unknown nested key": _with(MINIMAL, cause__motive="money"),
    "null for an optional key": _with(MINIMAL, recipients=None),
    "null nested": _with(MINIMAL, period__start=None),
    "time without offset": _with(MINIMAL, aware_at="2026-02-02T09:00:00"),
    "time without seconds": _with(MINIMAL, aware_at="2026-02-02T09:00Z"),
    "a date only": _with(MINIMAL, aware_at="2026-02-02"),
    "not a time": _with(MINIMAL, aware_at="yesterday"),
    "hour 24": _with(MINIMAL, aware_at="2026-02-02T24:00:00Z"),
    "month 13": _with(MINIMAL, notified__authority_at="2026-13-02T09:00:00Z"),
    "bad nested time": _with(MINIMAL, period__end="2026-02-30T09:00:00Z"),
    "time as a number": _with(MINIMAL, aware_at=1770022800),
    "empty breach_types": _with(MINIMAL, breach_types=[]),
    "empty data_categories": _with(MINIMAL, data_categories=[]),
    "unknown breach type": _with(MINIMAL, breach_types=["theft"]),
    "duplicate breach type": _with(MINIMAL, breach_types=["integrity", "integrity"]),
    "unknown category": _with(MINIMAL, data_categories=["contact", "health"]),
    "duplicate category": _with(MINIMAL, data_categories=["contact", "contact"]),
    "unknown intent": _with(MINIMAL, cause__intent="evil"),
    "unknown cause kind": _with(MINIMAL, cause__kind="aliens"),
    "unknown credentials_for": _with(MINIMAL, credentials_for="everything"),
    "unknown identifiability": _with(MINIMAL, identifiability="total"),
    "unknown exfiltration": _with(MINIMAL, exfiltration="maybe"),
    "unknown recipients": _with(MINIMAL, recipients="friends"),
    "unknown integrity": _with(MINIMAL, integrity="broken"),
    "unknown encryption": _with(MINIMAL, encryption__state="rot13"),
    "unknown impact": _with(MINIMAL, availability__impact_on_subjects="severe"),
    "negative count": _with(MINIMAL, subjects__count=-1),
    "negative records": _with(MINIMAL, records=-5),
    "fractional records": _with(MINIMAL, records=1.5),
    "records as text": _with(MINIMAL, records="12"),
    "count as a boolean": _with(MINIMAL, subjects__count=True),
    "negative hours": _with(MINIMAL, availability__restored_within_hours=-2),
    "hours as text": _with(MINIMAL, availability__restored_within_hours="2"),
    "hours as a boolean": _with(MINIMAL, availability__restored_within_hours=True),
    "boolean as text": _with(MINIMAL, encryption__key_compromised="no"),
    "boolean as a number": _with(MINIMAL, data_recovered=0),
    "title too long": _with(MINIMAL, title="🕵" * 301),
    "summary too long": _with(MINIMAL, summary="x" * 5001),
    "mitigation too long": _with(MINIMAL, mitigations=["y" * 501]),
    "mitigations not a list": _with(MINIMAL, mitigations="all of them"),
    "jurisdiction not text": _with(MINIMAL, jurisdictions=["EU", 7]),
    "title not text": _with(MINIMAL, title=["a"]),
    "cause not an object": _with(MINIMAL, cause="insider"),
    "period as a list": _with(MINIMAL, period=["2026-02-01T00:00:00Z"]),
}

# Where they differ, on purpose or by their libraries; each case says which side accepts.
KNOWN_DIFFERENCES: dict[str, tuple[dict[str, Any], bool, bool]] = {
    # (document, schema accepts, parse_facts accepts)
    # JSON Schema counts 1.0 as an integer; msgspec wants integers written without a point.
    "integer written as 2.0": (_with(MINIMAL, records=2.0), True, False),
    # RFC 3339 allows a leap second; Python's datetime (msgspec) has none.
    "leap second": (_with(MINIMAL, aware_at="2016-12-31T23:59:60Z"), True, False),
    # msgspec reads two forms RFC 3339's grammar does not have (section 5.6 allows the space
    # as a note for readability only).
    "space instead of T": (_with(MINIMAL, aware_at="2026-02-02 09:00:00Z"), False, True),
    "offset without a colon": (_with(MINIMAL, aware_at="2026-02-02T09:00:00+0100"), False, True),
    # Python's dates end with year 9999: times from 9999 on, whose deadlines would not be dates.
    "time in year 9999": (_with(MINIMAL, aware_at="9999-12-31T20:00:00Z"), True, False),
}


def schema_accepts(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


def parser_accepts(doc: Any) -> bool:
    try:
        parse_facts(json.dumps(doc))
    except ValidationError:
        return False
    return True


# As for the event schemas: the upstream contract sits beside the project's own checkout only.
@pytest.mark.skipif(not SHARED.is_file(), reason=f"no upstream contract at {SHARED}")
def test_shipped_schema_is_the_contract() -> None:
    assert json.loads(FACTS_SCHEMA.read_text()) == json.loads(SHARED.read_text())


def test_schema_is_exposed_and_is_draft_2020_12() -> None:
    assert {"FACTS_SCHEMA", "facts_schema"} <= set(sentinelle.assess.__all__)
    assert FACTS_SCHEMA.name == "incident-facts.schema.json" and FACTS_SCHEMA.is_file()
    schema = facts_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["aware_at", "breach_types", "data_categories"]
    schema["required"].clear()  # a fresh copy each time
    assert facts_schema()["required"]


@pytest.mark.parametrize("name", sorted(VALID))
def test_both_accept(name: str) -> None:
    doc = VALID[name]
    assert list(VALIDATOR.iter_errors(doc)) == []
    parse_facts(json.dumps(doc))


@pytest.mark.parametrize("name", sorted(INVALID))
def test_both_refuse(name: str) -> None:
    doc = INVALID[name]
    assert not schema_accepts(doc)
    assert not parser_accepts(doc)


def test_both_accept_the_edpb_examples() -> None:
    cases = json.loads(EXAMPLES.read_text())["cases"]
    assert cases
    for case in cases:
        assert schema_accepts(case["facts"]), case["id"]
        assert parser_accepts(case["facts"]), case["id"]


@pytest.mark.parametrize("name", sorted(KNOWN_DIFFERENCES))
def test_known_differences(name: str) -> None:
    doc, schema_ok, parser_ok = KNOWN_DIFFERENCES[name]
    assert (schema_accepts(doc), parser_accepts(doc)) == (schema_ok, parser_ok)


def test_every_key_of_the_schema_is_exercised() -> None:
    """The documents above name every key the schema has, so a key added to the contract
    and forgotten in the structs (or the reverse) fails here."""

    def keys(schema: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for name, sub in schema.get("properties", {}).items():
            found.add(prefix + name)
            found |= keys(sub, f"{prefix}{name}.")
        return found

    def used(doc: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for name, value in doc.items():
            found.add(prefix + name)
            if isinstance(value, dict):
                found |= used(value, f"{prefix}{name}.")
        return found

    assert used(FULL) == keys(facts_schema())
