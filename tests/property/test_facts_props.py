"""Property tests: incident facts generated from the shipped JSON Schema are accepted by
``parse_facts``, and on mutated documents ``parse_facts`` and the schema (``jsonschema``, with
an RFC 3339 ``date-time`` check) agree. The differences on purpose are listed, with their
own tests, in ``tests/unit/assess/test_facts_schema.py``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfc3339 import FORMATS
from sentinelle.assess import facts_schema, parse_facts
from sentinelle.errors import ValidationError

SCHEMA = facts_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=FORMATS)

# RFC 3339 with seconds and a colon in the offset: the form both sides read alike.
_times = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from([dt.timezone(dt.timedelta(minutes=m)) for m in (0, 60, -300, 330)]),
).map(lambda d: d.isoformat())


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Documents valid against the subset of JSON Schema the facts use."""
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
            max_size=5,
            unique=bool(schema.get("uniqueItems")),
        )
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=2**63 - 1)
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=1e9, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if schema.get("format") == "date-time":
            return _times
        return st.text(max_size=min(schema.get("maxLength", 20), 20))
    raise AssertionError(f"schema construct not covered by this generator: {schema}")


facts_documents = from_schema(SCHEMA)


def parser_accepts(doc: Any) -> bool:
    try:
        parse_facts(json.dumps(doc))
    except ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=facts_documents)
def test_valid_facts_are_accepted(doc: dict[str, Any]) -> None:
    assert VALIDATOR.is_valid(doc)
    assert parser_accepts(doc), doc


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=5),
    st.just([]),
    st.just({}),
    st.just(["contact", "contact"]),
    st.just("2026-02-30T00:00:00Z"),
    st.just("x" * 301),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=facts_documents, data=st.data())
def test_parse_facts_agrees_with_the_schema_on_mutations(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    target = doc
    if data.draw(st.booleans(), label="nested"):
        nested = [k for k, v in doc.items() if isinstance(v, dict)]
        if nested:
            target = doc[data.draw(st.sampled_from(nested))]
    keys = list(target)
    op = data.draw(st.sampled_from(["delete", "add", "replace"]))
    if op == "delete" and keys:
        del target[data.draw(st.sampled_from(keys))]
    elif op == "replace" and keys:
        target[data.draw(st.sampled_from(keys))] = data.draw(_junk)
    else:
        target[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_junk)
    assert parser_accepts(doc) == VALIDATOR.is_valid(doc), doc
