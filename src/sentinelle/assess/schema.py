"""The JSON Schema of incident facts (``incident-facts.schema.json``, draft 2020-12), shipped
with the package: the contract :func:`~sentinelle.assess.facts.parse_facts` implements, for
people and tools that write facts by hand or validate them elsewhere.

>>> facts_schema()["required"]
['aware_at', 'breach_types', 'data_categories']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

__all__ = ["FACTS_SCHEMA", "facts_schema"]

FACTS_SCHEMA: Final = Path(__file__).resolve().parent / "schemas" / "incident-facts.schema.json"
"""Where the facts' JSON Schema is installed."""


def facts_schema() -> dict[str, Any]:
    """The facts' JSON Schema, decoded (a new dict each call)."""
    schema: dict[str, Any] = json.loads(FACTS_SCHEMA.read_text(encoding="utf-8"))
    return schema
