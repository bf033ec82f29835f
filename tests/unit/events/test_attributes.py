"""``sentinelle.*`` attributes → access events: every attribute lands in its field, the
defaults, refusals that name the attribute, ids made or derived, and the docs' table."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sentinelle.events import decode_canonical
from sentinelle.events.attributes import (
    ATTRIBUTES,
    DERIVED_PREFIX,
    AttributeMappingError,
    access_event,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"
AT = dt.datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=dt.UTC)
BASE: dict[str, object] = {
    "sentinelle.merchant": "m-1",
    "sentinelle.action": "view",
    "sentinelle.data": ["contact"],
}
EVERY: dict[str, object] = {
    "sentinelle.event_id": "acc-1",
    "sentinelle.actor.id": "s-alice",
    "sentinelle.actor.kind": "staff",
    "sentinelle.actor.role": "support",
    "sentinelle.actor.team": "tier1",
    "sentinelle.merchant": "m-1",
    "sentinelle.action": "export",
    "sentinelle.data": ["contact", "address"],
    "sentinelle.channel": "export",
    "sentinelle.outcome": "denied",
    "sentinelle.resource.type": "customer_list",
    "sentinelle.resource.count": 250,
    "sentinelle.customers": ["c-1", 2],
    "sentinelle.ticket": "T-9",
    "sentinelle.grant": "g-4",
    "sentinelle.source.ip": "203.0.113.4",
    "sentinelle.source.country": "FR",
    "sentinelle.source.device": "laptop-17",
}


def _json(attributes: dict[str, object], **options: Any) -> dict[str, Any]:
    event = access_event(attributes, time=AT, **options)
    decoded: dict[str, Any] = msgspec.to_builtins(event)
    return decoded


def test_every_attribute_lands_in_its_field() -> None:
    assert set(EVERY) == {a.name for a in ATTRIBUTES}  # the test covers the whole table
    assert _json(EVERY) == {
        "id": "acc-1",
        "time": "2026-11-23T10:00:00.123456Z",
        "actor": {"id": "s-alice", "kind": "staff", "role": "support", "team": "tier1"},
        "merchant": "m-1",
        "action": "export",
        "data": ["contact", "address"],
        "channel": "export",
        "outcome": "denied",
        "resource": {"type": "customer_list", "count": 250},
        "subjects": ["c-1", "2"],
        "justification": {"ticket": "T-9", "grant": "g-4"},
        "source": {"ip": "203.0.113.4", "country": "FR", "device": "laptop-17"},
    }
    # What ingest will decode: the same event, valid against the schema.
    event = access_event(EVERY, time=AT)
    assert decode_canonical(msgspec.json.encode(event))[0] == event


@pytest.mark.parametrize(
    ("attributes", "options", "expected"),
    [
        pytest.param(
            {"sentinelle.actor.id": "s-1", "sentinelle.channel": "admin"},
            {},
            {"actor": {"id": "s-1", "kind": "staff"}, "channel": "admin", "outcome": "allowed"},
            id="a-person-is-staff",
        ),
        pytest.param(
            {},
            {"app": "billing-sync"},
            {"actor": {"id": "billing-sync", "kind": "app"}, "channel": "api"},
            id="the-app-is-the-actor",
        ),
        pytest.param(
            {"sentinelle.actor.kind": "integration"},
            {"app": "crm-connector"},
            {"actor": {"id": "crm-connector", "kind": "integration"}, "channel": "integration"},
            id="an-integration-by-its-own-channel",
        ),
        pytest.param(
            {"sentinelle.actor.id": "svc-7", "sentinelle.actor.kind": "service"},
            {"app": "ignored-when-an-actor-is-named"},
            {"actor": {"id": "svc-7", "kind": "service"}, "channel": "api"},
            id="a-named-service",
        ),
        pytest.param(
            {"sentinelle.data": "contact, address,", "sentinelle.customers": "c-1,c-2"},
            {"app": "a"},
            {"data": ["contact", "address"], "subjects": ["c-1", "c-2"]},
            id="comma-separated-lists",
        ),
        pytest.param(
            {"sentinelle.merchant": "m-2"},
            {"app": "a", "defaults": {"sentinelle.merchant": "m-1", "sentinelle.ticket": "T-1"}},
            {"merchant": "m-2", "justification": {"ticket": "T-1"}},
            id="defaults-and-the-record-overrides-them",
        ),
        pytest.param(
            {
                "sentinelle.merchant": 1001,
                "sentinelle.actor.id": 42,
                "sentinelle.actor.kind": "staff",
                "sentinelle.channel": "admin",
            },
            {},
            {"merchant": "1001", "actor": {"id": "42", "kind": "staff"}},
            id="integer-ids",
        ),
    ],
)
def test_defaults(
    attributes: dict[str, object], options: dict[str, Any], expected: dict[str, Any]
) -> None:
    found = _json({**BASE, **attributes}, **options)
    assert {k: found[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("attributes", "app", "attribute", "message"),
    [
        ({"sentinelle.merchnat": "m-1"}, "a", "sentinelle.merchnat", "unknown attribute"),
        ({"sentinelle.merchant": None}, "a", "sentinelle.merchant", "not nothing"),
        ({"sentinelle.action": "peek"}, "a", "sentinelle.action", "Invalid enum value 'peek'"),
        ({"sentinelle.data": ["contact", "emails"]}, "a", "sentinelle.data", "'emails'"),
        ({"sentinelle.data": []}, "a", "sentinelle.data", "length >= 1"),
        ({"sentinelle.data": 3}, "a", "sentinelle.data", "must be an array"),
        ({"sentinelle.data": [1]}, "a", "sentinelle.data", "must be a string"),
        ({"sentinelle.actor.kind": "bot"}, "a", "sentinelle.actor.kind", "'bot' is not one"),
        ({"sentinelle.actor.id": "s-1"}, None, "sentinelle.channel", "kind staff names it"),
        ({}, None, "sentinelle.actor.id", "service.name"),
        ({}, "", "sentinelle.actor.id", "missing"),
        ({"sentinelle.resource.count": -1}, "a", "sentinelle.resource.count", ">= 0"),
        ({"sentinelle.resource.count": "3"}, "a", "sentinelle.resource.count", "integer"),
        ({"sentinelle.resource.count": True}, "a", "sentinelle.resource.count", "integer"),
        ({"sentinelle.source.country": "fr"}, "a", "sentinelle.source.country", "such as FR"),
        ({"sentinelle.customers": ["x" * 129]}, "a", "sentinelle.customers", "<= 128"),
        ({"sentinelle.customers": [{"a": 1}]}, "a", "sentinelle.customers", "not dict"),
        ({"sentinelle.ticket": "T\x001"}, "a", "sentinelle.ticket", "NUL"),
        ({"sentinelle.event_id": ""}, "a", "sentinelle.event_id", "length >= 1"),
        ({"sentinelle.actor.role": "r" * 65}, "a", "sentinelle.actor.role", "<= 64"),
    ],
)
def test_what_cannot_be_mapped_names_the_attribute(
    attributes: dict[str, object], app: str | None, attribute: str, message: str
) -> None:
    with pytest.raises(AttributeMappingError) as caught:
        access_event({**BASE, **attributes}, time=AT, app=app)
    assert caught.value.attribute == attribute
    assert message in caught.value.message
    assert caught.value.diagnostics().startswith(f"{attribute}: ")


@pytest.mark.parametrize("missing", ["sentinelle.merchant", "sentinelle.action", "sentinelle.data"])
def test_the_required_attributes(missing: str) -> None:
    attributes = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(AttributeMappingError) as caught:
        access_event(attributes, time=AT, app="a")
    assert (caught.value.attribute, caught.value.message) == (missing, "missing")


def test_a_derived_id_is_the_same_for_the_same_record_and_differs_otherwise() -> None:
    first = access_event(BASE, time=AT, app="a", salt=b"trace-1")
    assert re.fullmatch(rf"{DERIVED_PREFIX}[0-9a-f]{{40}}", first.id)
    assert access_event(dict(BASE), time=AT, app="a", salt=b"trace-1").id == first.id
    others = {
        access_event(BASE, time=AT, app="a", salt=b"trace-2").id,
        access_event(BASE, time=AT + dt.timedelta(microseconds=1), app="a", salt=b"trace-1").id,
        access_event(
            {**BASE, "sentinelle.data": ["address"]}, time=AT, app="a", salt=b"trace-1"
        ).id,
        access_event(BASE, time=AT, app="b", salt=b"trace-1").id,
    }
    assert first.id not in others and len(others) == 4


def test_an_explicit_id_wins() -> None:
    given = access_event({**BASE, "sentinelle.event_id": "acc-7"}, time=AT, app="a", event_id="x")
    assert given.id == "acc-7"
    assert access_event(BASE, time=AT, app="a", event_id="log-made-once").id == "log-made-once"


def test_the_time_is_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    event = access_event(BASE, time=AT.astimezone(paris), app="a")
    assert event.time == AT and event.time.tzinfo is dt.UTC


def test_the_docs_table_lists_every_attribute() -> None:
    rows = re.findall(r"^\| `(sentinelle\.[a-z_.]+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert rows == [a.name for a in ATTRIBUTES]
