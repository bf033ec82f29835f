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


# The upstream contracts sit beside the project's own checkout, not in a user's clone: there
# the shipped schemas are the contract, and the tests below check them against the structs.
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no upstream contracts at {SHARED}")
@pytest.mark.parametrize("name", ["access-event.schema.json", "context-event.schema.json"])
def test_shipped_schemas_are_the_contract(name: str) -> None:
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
        (with_(time="9999-12-31T23:59:59-01:00"), "$.time", "out of range"),  # year 10000 in UTC
        (with_(time="0001-01-01T00:00:00+05:00"), "$.time", "out of range"),  # year 0 in UTC
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


# -- keys said twice, NUL characters, deep nesting ---------------------------------------------


def _twice(raw: bytes, member: bytes, again: bytes) -> bytes:
    """``raw`` with ``again`` inserted right after its ``member`` (the same key a second time)."""
    assert raw.count(member) == 1
    return raw.replace(member, member + b", " + again)


@pytest.mark.parametrize(
    ("raw", "path", "key"),
    [
        (
            _twice(with_(), b'"merchant": "m-1001"', b'"merchant": "m-666"'),
            "$.merchant",
            "merchant",
        ),
        (_twice(with_(), b'"kind": "staff"', b'"id": "agent-7"'), "$.actor.id", "id"),
        (_twice(with_(), b'"action": "view"', b'"action": "view"'), "$.action", "action"),
        # Same value, or a value of another type, or hidden behind an escaped quote: still twice.
        (_twice(with_(), b'"merchant": "m-1001"', b'"merchant": 7'), "$.merchant", "merchant"),
        (
            # The two quotes the repeated key takes are given back by two \u0022 escapes.
            _twice(
                with_().replace(b'"customer_request"', b'"\\u0022\\u0022"'),
                b'"count": 2',
                b'"count": 3',
            ),
            "$.resource.count",
            "count",
        ),
        (
            b'{"id":"c","id":"d","time":"2026-11-23T10:00:00Z","type":"ticket.opened"}',
            "$.id",
            "id",
        ),
    ],
    ids=["top", "nested", "same-value", "other-type", "escaped-quotes", "context"],
)
def test_a_key_twice_in_one_object_is_refused_naming_it(raw: bytes, path: str, key: str) -> None:
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert info.value.path == path
    assert f'duplicate key "{key}"' in info.value.message


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (with_(merchant="m-\x00"), "$.merchant"),
        (with_(actor__id="\x00"), "$.actor.id"),
        (with_(subjects=["c-1", "c\x002"]), "$.subjects[1]"),
        (with_(justification__reason="because\x00"), "$.justification.reason"),
        (b'{"id":"c\\u0000","time":"2026-11-23T10:00:00Z","type":"ticket.opened"}', "$.id"),
    ],
)
def test_a_nul_character_is_refused_with_its_path(raw: bytes, path: str) -> None:
    assert b"\\u0000" in raw
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert (info.value.path, "NUL character" in info.value.message) == (path, True)


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    raw = with_(justification__reason="C:\\u0000")  # backslash, then the text u0000
    assert json.loads(canonical(decode_event(raw)))["justification"]["reason"] == "C:\\u0000"


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"id":"x","action":' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"id":"x","type":' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
    ],
    ids=["array", "access", "context"],
)
def test_deep_nesting_is_an_event_error_not_a_crash(raw: bytes) -> None:
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert (info.value.path, "nested too deeply" in info.value.message) == ("$", True)


def test_escapes_that_are_not_nul_or_duplicates_are_accepted() -> None:
    raw = with_(justification__reason="caf\u00e9 \u0022ok\u0022")
    escaped = json.dumps(json.loads(raw))  # ensure_ascii: \u00e9 and \" in the bytes
    assert b"\\u00e9" in escaped.encode()
    event = decode_event(escaped)
    assert json.loads(canonical(event))["justification"]["reason"] == 'café "ok"'
