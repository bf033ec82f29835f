"""A ``date-time`` format check for ``jsonschema``: RFC 3339 section 5.6 (``T`` and ``Z`` may
be lower case; seconds and an offset are required; a leap second is allowed).

``jsonschema`` checks ``date-time`` only when an optional package is installed; the tests
that compare our parsers with the contract schemas use this one instead.
"""

from __future__ import annotations

import datetime as dt
import re

import jsonschema

__all__ = ["FORMATS"]

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type keyword judges non-strings
    if not _RFC3339.fullmatch(value):
        return False
    if value[17:19] == "60":  # a leap second: RFC 3339 has them, Python's datetime not
        value = value[:17] + "59" + value[19:]
    try:
        dt.datetime.fromisoformat(value.upper())
    except ValueError:  # month 13, February 30, 24:00
        return False
    return True
