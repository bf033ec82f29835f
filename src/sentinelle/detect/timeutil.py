"""Microsecond timestamps: the engine's one notion of time (UTC, since the epoch)."""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = ["DAY", "HOUR", "MINUTE", "iso", "parse_time"]

MINUTE: Final = 60 * 10**6
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso(us: int) -> str:
    """RFC 3339 UTC text of a microsecond timestamp."""
    t = _EPOCH + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}Z" if t.microsecond else "Z")


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
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)
