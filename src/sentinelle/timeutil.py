"""Time, in one place: microsecond timestamps (UTC, since the epoch), RFC 3339 text and
aware datetimes.

Every stored time is an integer of microseconds since 1970-01-01T00:00:00Z; every printed
time is RFC 3339 in UTC (``2026-11-23T10:00:00Z``, with ``.ffffff`` only when not whole
seconds); every :class:`datetime.datetime` handed around is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Final

__all__ = [
    "DAY",
    "EPOCH",
    "HOUR",
    "MAX_US",
    "MINUTE",
    "MIN_US",
    "SECOND",
    "TIME_RANGE",
    "READABLE_TIME",
    "UTC_TIME",
    "from_us",
    "iso",
    "now_us",
    "parse_time",
    "readable",
    "to_us",
]

SECOND: Final = 10**6
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
#: The times taken from people and clients (RFC 3339 text: the API, the command line), UTC:
#: from ``MIN_US`` to before ``MAX_US``, so that every time derived from one (a 72-hour
#: deadline, a window of days, a day's date) is a date too.
MIN_US: Final = (dt.datetime(1, 1, 2, tzinfo=dt.UTC) - EPOCH) // _MICROSECOND
MAX_US: Final = (dt.datetime(9999, 1, 1, tzinfo=dt.UTC) - EPOCH) // _MICROSECOND
TIME_RANGE: Final = "from 0001-01-02 to before 9999-01-01 (UTC)"
#: A UTC time as Sentinelle writes it in text (``2026-11-18T18:20Z``, seconds and fraction
#: optional): what pages turn into ``<time>`` elements.
UTC_TIME: Final = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?Z")
#: A time in text as :func:`readable` writes it (``2026-12-04 17:22 UTC``); its date and
#: minute in the groups ``date`` and ``minute``.
READABLE_TIME: Final = re.compile(r"\b(?P<date>\d{4}-\d{2}-\d{2}) (?P<minute>\d{2}:\d{2}) UTC\b")


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // _MICROSECOND


def from_us(us: int) -> dt.datetime:
    """The aware UTC datetime of a microsecond timestamp (exact, no float rounding)."""
    return EPOCH + dt.timedelta(microseconds=us)


def iso(us: int) -> str:
    """RFC 3339 UTC text of a microsecond timestamp (a year of four digits, as RFC 3339
    has it: ``strftime("%Y")`` gives ``1`` for the year 1 on Linux)."""
    t = from_us(us)
    return f"{t.year:04d}-{t:%m-%dT%H:%M:%S}" + (f".{t.microsecond:06d}Z" if t.microsecond else "Z")


def readable(us: int) -> str:
    """A microsecond timestamp as people read it: ``2026-12-04 17:22 UTC`` (to the minute)."""
    t = from_us(us)
    return f"{t.year:04d}-{t:%m-%d %H:%M} UTC"


def parse_time(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 time, with its offset (a date alone means
    its midnight UTC).

    Raises ``ValueError`` naming the expected form, or the range (:data:`TIME_RANGE`).
    """
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time like 2026-11-23T10:00:00Z or 2026-11-23"
        ) from None
    if value.tzinfo is None and len(text.strip()) > 10:  # a time, not a date alone
        raise ValueError(
            f"{text!r} has no UTC offset: add one, e.g. {text.strip()}Z (UTC) or "
            f"{text.strip()}+01:00"
        )
    us = to_us(value)
    if not MIN_US <= us < MAX_US:
        raise ValueError(f"{text!r} is out of range: a time must be {TIME_RANGE}")
    return us
