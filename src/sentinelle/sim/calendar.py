"""Time in the simulation: support sites and their time zones, the window's days, and the
RFC 3339 text of event times.

Times are whole seconds since the Unix epoch (UTC) while the simulation runs and become
``YYYY-MM-DDThh:mm:ssZ`` text (RFC 3339, UTC) only when an event is built. Summer time follows
the EU rule (last Sunday of March to last Sunday of October) and the US/Canada rule (second
Sunday of March to first Sunday of November), computed here so that a simulation is the same
on every machine whatever its time zone database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALL_COUNTRIES",
    "PLACES",
    "SITES",
    "Clock",
    "Site",
    "black_friday",
    "country_ip",
    "iso",
]

_DAY: Final = 86_400


def _last_sunday(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    last = first_next - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


def _nth_sunday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November: the peak of the shopping season."""
    first = dt.date(year, 11, 1)
    thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Site:
    """An office where support staff work, with its time zone and summer-time rule."""

    name: str
    timezone: str
    country: str
    std_offset: int
    dst: Literal["eu", "us", "none"]

    def utc_offset(self, day: dt.date) -> int:
        """Hours ahead of UTC during the working hours of the local date ``day``."""
        year = day.year
        if self.dst == "eu":
            summer = _last_sunday(year, 3) <= day < _last_sunday(year, 10)
        elif self.dst == "us":
            summer = _nth_sunday(year, 3, 2) <= day < _nth_sunday(year, 11, 1)
        else:
            summer = False
        return self.std_offset + (1 if summer else 0)


SITES: Final = (
    Site("Lisbon", "Europe/Lisbon", "PT", 0, "eu"),
    Site("Dublin", "Europe/Dublin", "IE", 0, "eu"),
    Site("Paris", "Europe/Paris", "FR", 1, "eu"),
    Site("Krakow", "Europe/Warsaw", "PL", 1, "eu"),
    Site("Manila", "Asia/Manila", "PH", 8, "none"),
    Site("Toronto", "America/Toronto", "CA", -5, "us"),
)
"""Where support staff work (follow-the-sun: Asia early, Europe by day, America late)."""

PLACES: Final = (
    ("ES", 1),
    ("NL", 1),
    ("GB", 0),
    ("IT", 1),
    ("DE", 1),
    ("BE", 1),
    ("MA", 1),
    ("RO", 2),
    ("UA", 2),
    ("ZA", 2),
    ("TR", 3),
    ("AE", 4),
    ("IN", 5),
    ("VN", 7),
    ("TH", 7),
    ("ID", 7),
    ("SG", 8),
    ("JP", 9),
    ("NG", 1),
    ("BR", -3),
    ("US", -5),
    ("CO", -5),
    ("MX", -6),
    *((s.country, s.std_offset) for s in SITES),
)
"""Countries staff connect from when away from their site (travel, or someone else using
their account), with a typical UTC offset."""

_MERCHANT_COUNTRIES: Final = ("FR", "DE", "ES", "IT", "NL", "BE", "PT", "IE", "GB", "PL", "SE")

ALL_COUNTRIES: Final = tuple(sorted({c for c, _ in PLACES} | set(_MERCHANT_COUNTRIES)))
_COUNTRY_INDEX: Final = {c: i for i, c in enumerate(ALL_COUNTRIES)}


def country_ip(country: str, a: int, b: int) -> str:
    """An address of the shared address space (RFC 6598, 100.64.0.0/10) standing for a
    network in ``country``: the second octet names the country, ``a`` and ``b`` the host."""
    return f"100.{64 + _COUNTRY_INDEX[country]}.{a % 256}.{1 + b % 254}"


def _hms_table() -> list[str]:
    return [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


_HMS: list[str] = []


class Clock:
    """The simulated window: ``days`` whole UTC days from ``start`` (midnight UTC).

    Day ``d`` is the ``d``-th date of the window (0-based). Times are epoch seconds.
    """

    def __init__(self, *, start: dt.date, days: int) -> None:
        self.start_date = start
        self.days = days
        self.start_ts = int(
            dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()
        )
        self.end_ts = self.start_ts + days * _DAY
        if not _HMS:
            _HMS.extend(_hms_table())
        # Dates a little before and after the window: shifts in far time zones spill over.
        self._prefix = {
            d: (start + dt.timedelta(days=d)).isoformat() + "T" for d in range(-3, days + 4)
        }

    def date(self, day: int) -> dt.date:
        """The calendar date of window day ``day``."""
        return self.start_date + dt.timedelta(days=day)

    def day_ts(self, day: int) -> int:
        """Midnight UTC of window day ``day``."""
        return self.start_ts + day * _DAY

    def day_of(self, ts: int) -> int:
        """The window day (UTC) that contains ``ts``."""
        return (ts - self.start_ts) // _DAY

    def local_ts(self, day: int, minute: int, site: Site) -> int:
        """The time ``minute`` minutes after local midnight of window day ``day`` at ``site``."""
        return self.day_ts(day) + minute * 60 - site.utc_offset(self.date(day)) * 3600

    def fmt(self, ts: int) -> str:
        """RFC 3339 UTC text of ``ts`` (whole seconds)."""
        rel = ts - self.start_ts
        day = rel // _DAY
        prefix = self._prefix.get(day)
        if prefix is None:
            return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return prefix + _HMS[rel - day * _DAY]


def iso(ts: int) -> str:
    """RFC 3339 UTC text of any epoch second."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
