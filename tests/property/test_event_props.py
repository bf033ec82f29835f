"""Property tests: events generated from the contract schemas.

* every schema-valid event is accepted, and its leaf bytes equal an independent RFC 8785
  implementation's (the ``rfc8785`` package) on the normalised event;
* canonical bytes are a fixed point (decode → encode gives the same bytes);
* on mutated documents, our validator and the JSON Schema (``jsonschema``) agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.events import EventError, canonical, decode_event

SCHEMAS = Path(__file__).resolve().parents[2] / "src" / "sentinelle" / "events" / "schemas"
ACCESS = json.loads((SCHEMAS / "access-event.schema.json").read_text())
CONTEXT = json.loads((SCHEMAS / "context-event.schema.json").read_text())

# Times are generated separately (RFC 3339 with an offset), so hypothesis-jsonschema's
# date-time strings, which may use forms our decoder normalises, do not blur the comparison.
_times = st.datetimes(
    min_value=__import__("datetime").datetime(1971, 1, 1),
    max_value=__import__("datetime").datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [
            __import__("datetime").timezone(__import__("datetime").timedelta(minutes=m))
            for m in (0, 60, -300, 330)
        ]
    ),
).map(lambda d: d.isoformat())


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Documents valid against the subset of JSON Schema the contracts use."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(
            from_schema(schema["items"]),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 5), 5),
        )
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "string":
        if schema.get("format") == "date-time":
            return _times
        if "pattern" in schema:
            return st.from_regex(schema["pattern"].replace("$", r"\Z"), fullmatch=False)
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 20), 20)
        )
    raise AssertionError(f"schema construct not covered by this generator: {schema}")


def _no_big_ints(doc: dict[str, Any]) -> bool:
    count = doc.get("resource", {}).get("count")
    return count is None or count <= 2**53 - 1


access_events = from_schema(ACCESS).filter(_no_big_ints)
context_events = from_schema(CONTEXT)


def _with_time(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    doc = dict(doc)
    doc["time"] = data.draw(_times)
    if "expires" in doc:
        doc["expires"] = data.draw(_times)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(access_events, context_events), data=st.data())
def test_valid_events_are_accepted_and_canonical(doc: dict[str, Any], data: st.DataObject) -> None:
    doc = _with_time(doc, data)
    event = decode_event(json.dumps(doc))
    leaf = canonical(event)
    normalised = json.loads(leaf)
    assert leaf == rfc8785.dumps(normalised)
    assert canonical(decode_event(leaf)) == leaf
    # Normalisation changes only the times.
    assert {k: v for k, v in normalised.items() if k not in ("time", "expires")} == {
        k: v for k, v in doc.items() if k not in ("time", "expires")
    }


_junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.just([]), st.just({})
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=access_events, data=st.data())
def test_validator_agrees_with_the_schema_on_mutations(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    doc = _with_time(doc, data)
    target = doc
    if data.draw(st.booleans(), label="nested"):
        nested = [k for k, v in doc.items() if isinstance(v, dict)]
        if nested:
            target = doc[data.draw(st.sampled_from(nested))]
    keys = [k for k in target if k not in ("time",)]
    op = data.draw(st.sampled_from(["delete", "add", "replace"]))
    if op == "delete" and keys:
        del target[data.draw(st.sampled_from(keys))]
    elif op == "replace" and keys:
        target[data.draw(st.sampled_from(keys))] = data.draw(_junk)
    else:
        target[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_junk)
    schema_ok = jsonschema.Draft202012Validator(ACCESS).is_valid(doc)
    try:
        decode_event(json.dumps(doc))
        ours_ok = True
    except EventError:
        ours_ok = False
    assert ours_ok == schema_ok, doc
