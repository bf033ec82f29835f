"""Microsecond timestamps: kept for imports written before :mod:`sentinelle.timeutil`."""

from __future__ import annotations

from sentinelle.timeutil import DAY, HOUR, MINUTE, iso, parse_time

__all__ = ["DAY", "HOUR", "MINUTE", "iso", "parse_time"]
