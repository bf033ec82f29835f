"""Time, in one place: microsecond timestamps (UTC, since the epoch), RFC 3339 text and
aware datetimes.

Every stored time is an integer of microseconds since 1970-01-01T00:00:00Z; every printed
time is RFC 3339 in UTC (``2026-11-23T10:00:00Z``, with ``.ffffff`` only when not whole
seconds); every :class:`datetime.datetime` handed around is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

__all__ = [
    "DAY",
    "EPOCH",
    "HOUR",
    "MINUTE",
    "SECOND",
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
    """RFC 3339 UTC text of a microsecond timestamp."""
    t = from_us(us)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}Z" if t.microsecond else "Z")


def readable(us: int) -> str:
    """A microsecond timestamp as people read it: ``2026-12-04 17:22 UTC`` (to the minute)."""
    return from_us(us).strftime("%Y-%m-%d %H:%M UTC")


def parse_time(text: str) -> int:
    """Microseconds since the epoch of an RFC 3339 time (a date alone means its midnight UTC).

    Raises ``ValueError`` naming the expected form.
    """
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time like 2026-11-23T10:00:00Z or 2026-11-23"
        ) from None
    return to_us(value)
