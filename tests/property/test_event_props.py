"""Property tests: events generated from the contract schemas.

* every schema-valid event is accepted, and its leaf bytes equal an independent RFC 8785
  implementation's (the ``rfc8785`` package) on the normalised event;
* canonical bytes are a fixed point (decode → encode gives the same bytes);
* on mutated documents, our validator and the JSON Schema (``jsonschema``) agree;
* beyond the schema, a NUL character in any string and a key given twice are refused, naming
  the field (strings are generated without NUL where the schema comparison is made).
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


# The one rule stricter than the schemas: no NUL in strings (PostgreSQL cannot store it).
_text_chars = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))


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
            _text_chars,
            min_size=schema.get("minLength", 0),
            max_size=min(schema.get("maxLength", 20), 20),
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
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(_text_chars, max_size=5),
    st.just([]),
    st.just({}),
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


def _string_paths(node: Any, path: str = "$") -> list[tuple[str, list[Any], Any]]:
    """``(JSON path, container, key)`` of every string value that is not a time."""
    found: list[tuple[str, list[Any], Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        sub = f"{path}.{key}" if isinstance(node, dict) else f"{path}[{key}]"
        if isinstance(value, str) and key not in ("time", "expires"):
            found.append((sub, node, key))
        elif isinstance(value, (dict, list)):
            found += _string_paths(value, sub)
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(access_events, context_events), data=st.data())
def test_a_nul_anywhere_in_a_string_is_refused_at_its_path(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    doc = _with_time(doc, data)
    strings = _string_paths(doc)
    path, node, key = data.draw(st.sampled_from(strings))
    at = data.draw(st.integers(0, len(node[key])))
    node[key] = node[key][:at] + "\x00" + node[key][at:]
    try:
        decode_event(json.dumps(doc, ensure_ascii=data.draw(st.booleans())))
    except EventError as exc:
        # Another rule may refuse the longer string first (a length, a pattern, an enum).
        assert exc.path == path, (exc, doc)
    else:
        raise AssertionError(f"a NUL at {path} was accepted")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(access_events, context_events), data=st.data())
def test_a_key_given_twice_is_refused_naming_it(doc: dict[str, Any], data: st.DataObject) -> None:
    doc = _with_time(doc, data)
    objects = [("$", doc)] + [(f"$.{k}", v) for k, v in doc.items() if isinstance(v, dict) and v]
    path, target = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(target)))
    again = data.draw(st.one_of(st.just(target[key]), _junk))
    ascii_only = data.draw(st.booleans())
    text = json.dumps(doc, ensure_ascii=ascii_only)
    member = json.dumps(target, ensure_ascii=ascii_only) if path != "$" else text
    # Repeat the key at the end of its object (the last one would win).
    extra = (
        f"{json.dumps(key, ensure_ascii=ascii_only)}: {json.dumps(again, ensure_ascii=ascii_only)}"
    )
    repeated = f"{member[:-1]}, {extra}}}"
    assert text.count(member) == 1 or path == "$"
    text = repeated if path == "$" else text.replace(member, repeated, 1)
    try:
        decode_event(text)
    except EventError as exc:
        assert exc.path == f"{path}.{key}" and "duplicate key" in exc.message, (exc, text)
    else:
        raise AssertionError(f"{key!r} twice in {path} was accepted: {text}")
