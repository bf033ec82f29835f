"""Events: the contract schemas, validation with field paths, UTC normalisation, JCS bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from sentinelle.events import (
    AccessEvent,
    ContextEvent,
    EventError,
    canonical,
    decode_event,
    time_us,
)

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "contracts"
OURS = ROOT / "src" / "sentinelle" / "events" / "schemas"

GOOD: dict[str, Any] = {
    "id": "evt-000001",
    "time": "2026-11-23T10:00:00Z",
    "actor": {"id": "agent-42", "kind": "staff", "role": "support", "team": "tier1"},
    "action": "view",
    "merchant": "m-1001",
    "resource": {"type": "order", "count": 2},
    "subjects": ["c-77", "c-78"],
    "data": ["contact", "address", "order_details"],
    "channel": "support_console",
    "justification": {"ticket": "T-991", "reason": "customer_request"},
    "source": {"ip": "203.0.113.4", "device": "laptop-17", "country": "FR"},
    "outcome": "allowed",
}


def with_(**changes: Any) -> bytes:
    doc = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        target, *path = key.split("__")
        node = doc
        for part in [target, *path][:-1]:
            node = node[part]
        last = [target, *path][-1]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return json.dumps(doc).encode()


_DELETE = object()


@pytest.mark.parametrize("name", ["access-event.schema.json", "context-event.schema.json"])
def test_shipped_schemas_are_the_contract(name: str) -> None:
    assert SHARED.is_dir(), f"the shared contracts are expected at {SHARED}"
    assert json.loads((OURS / name).read_text()) == json.loads((SHARED / name).read_text())


def test_struct_fields_are_declared_in_canonical_order() -> None:
    from sentinelle.events import model

    for cls in (
        model.Actor,
        model.Resource,
        model.Justification,
        model.Source,
        AccessEvent,
        ContextEvent,
    ):
        assert list(cls.__struct_fields__) == sorted(cls.__struct_fields__), cls


def test_good_event_is_canonical_and_utc() -> None:
    event = decode_event(json.dumps(GOOD))
    assert isinstance(event, AccessEvent)
    assert canonical(event) == rfc8785.dumps(GOOD)
    assert time_us(event) == 1795428000 * 10**6


def test_offsets_are_normalised_to_utc() -> None:
    event = decode_event(with_(time="2026-11-23T11:30:00.25+01:30"))
    assert json.loads(canonical(event))["time"] == "2026-11-23T10:00:00.250000Z"


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (with_(action="steal"), "$.action", "Invalid enum value 'steal'"),
        (with_(actor__kind="robot"), "$.actor.kind", "Invalid enum value"),
        (with_(extra=1), "$", "unknown field `extra`"),
        (with_(actor__extra=1), "$.actor", "unknown field `extra`"),
        (with_(merchant=_DELETE), "$", "missing required field `merchant`"),
        (with_(merchant=""), "$.merchant", "length >= 1"),
        (with_(data=[]), "$.data", "length >= 1"),
        (with_(data=["contact", "dna"]), "$.data[1]", "Invalid enum value 'dna'"),
        (with_(resource__count=-1), "$.resource.count", ">= 0"),
        (with_(resource__count=2**53), "$.resource.count", "<= 9007199254740991"),
        (with_(source__country="fr"), "$.source.country", "country code such as FR"),
        (with_(source__country="FR\n"), "$.source.country", "country code such as FR"),
        (with_(justification=None), "$.justification", "got `null`"),
        (with_(time="2026-11-23T10:00:00"), "$.time", "UTC offset"),
        (with_(time="yesterday"), "$.time", "datetime"),
        (with_(subjects=[""]), "$.subjects[0]", "length >= 1"),
        (b"[1, 2]", "$", "Expected `object`"),
        (b'{"id": ', "$", "not valid JSON"),
        (b'{"id":"x\xff"}', "$", "not valid UTF-8"),
        (b'{"id":"x\\ud800"}', "$", "not valid JSON"),
        (
            b'{"id":"x","time":"2026-11-23T10:00:00Z","type":"ticket.lost"}',
            "$.type",
            "Invalid enum",
        ),
        (
            b'{"id":"x","time":"2026-11-23T10:00:00Z","type":"ticket.opened","x":1}',
            "$",
            "unknown field",
        ),
    ],
)
def test_invalid_events_name_the_field(raw: bytes, path: str, words: str) -> None:
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert info.value.path == path
    assert words in info.value.message


def test_context_event() -> None:
    raw = (
        b'{"id":"c1","time":"2026-11-23T10:00:00-05:00","type":"grant.approved",'
        b'"grant":"G1","expires":"2026-11-23T12:00:00+00:00"}'
    )
    event = decode_event(raw)
    assert isinstance(event, ContextEvent)
    assert json.loads(canonical(event)) == {
        "expires": "2026-11-23T12:00:00Z",
        "grant": "G1",
        "id": "c1",
        "time": "2026-11-23T15:00:00Z",
        "type": "grant.approved",
    }
