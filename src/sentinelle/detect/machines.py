"""What the detectors remember of an app, an integration or a service: its own history.

Machines are steady: a shipping integration reads about as many orders every day, at the same
hours, from the same networks, with the same token. Their baseline is therefore their own past,
not a team's (they have none): :class:`MachineState` keeps, per machine and in a size that does
not grow with its volume (10 calls a day or a million),

* its daily totals (calls, records, customers, merchants, and records per UTC hour) of its
  last :data:`HISTORY_DAYS` active days, and the robust levels computed from them when a day
  ends (:class:`Level`: median, median absolute deviation, 90th percentile);
* the rolling 24 hours, hour by hour;
* the data categories it ever read, the networks (IPv4 /24, IPv6 /48) and countries it came
  from, and, per credential, where it was used in the last minutes.

The detectors of :mod:`sentinelle.detect.integrations` share one update per event
(:func:`machine`), which also notes what the event brought that was new (:class:`Fresh`), so
that each detector sees the history as it was before the event. It is plain data, saved with
the engine's state (``ActorState.machine``).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from msgspec import UNSET

from sentinelle.events import AccessEvent
from sentinelle.timeutil import DAY, HOUR, MINUTE

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinelle.detect.context import ActorState

__all__ = [
    "HISTORY_DAYS",
    "Fresh",
    "Level",
    "MachineDay",
    "MachineState",
    "machine",
    "network",
]

HISTORY_DAYS: Final = 28  # active days a machine's baseline is computed over
PLACE_MINUTES: Final = 60  # where each credential was used is remembered this long
_MAX_NETWORKS: Final = 64  # networks remembered per machine (the most recently used)
_MAX_CREDENTIALS: Final = 64  # credentials remembered per machine (the most recently used)
_MAX_PLACES: Final = 8  # networks remembered per credential within PLACE_MINUTES
_MAD_SCALE: Final = 1.4826  # MAD x this estimates a normal distribution's standard deviation


class Level(NamedTuple):
    """A robust daily (or hourly) level of one figure over a machine's active days.

    ``high`` is the top of the usual range: the 90th percentile, or the median plus three
    robust standard deviations when that is higher (a machine with few days of history).
    """

    median: float = 0.0
    mad: float = 0.0  # median absolute deviation from the median
    p90: float = 0.0
    days: int = 0
    high: float = 0.0


@dataclass(slots=True)
class MachineDay:
    """One UTC day of a machine's read accesses."""

    day: int = -1
    calls: int = 0
    records: int = 0
    subjects: int = 0  # customers' records named (the events' ``subjects``)
    merchants: int = 0  # distinct merchants (filled in when the day ends)
    hours: list[int] = field(default_factory=lambda: [0] * 24)  # records per UTC hour


@dataclass(slots=True)
class Fresh:
    """What the last event recorded brought that the machine had never shown before (reset
    in place for each event: nothing is allocated for an ordinary one)."""

    categories: tuple[str, ...] = ()
    network: str = ""  # a network never seen for the machine, or ""
    country: str = ""  # ... from a country never seen for it, or ""
    other_network: str = ""  # the same credential in another network within the last minutes
    other_country: str = ""
    other_minutes: float = 0.0
    credential: str = ""

    def clear(self) -> None:
        """Nothing new (yet)."""
        self.categories = ()
        self.network = self.country = self.other_network = self.other_country = ""
        self.other_minutes = 0.0


@dataclass(slots=True)
class MachineState:
    """An app's, an integration's or a service's own history (see the module docstring)."""

    first_us: int = 0
    event: str = ""  # the id of the last event recorded: the detectors share one update
    fresh: Fresh = field(default_factory=Fresh)
    today: MachineDay = field(default_factory=MachineDay)
    merchants_today: set[str] = field(default_factory=set)
    history: list[MachineDay] = field(default_factory=list)  # oldest first
    # Levels of the history: "calls", "records", "subjects", "merchants", and "hour" (each
    # day's busiest hour of records), empty until asked after a day closed (level); per UTC
    # hour of the day, the 90th percentile of its records (also when asked: usual_hour) and
    # its share of the records.
    levels: dict[str, Level] = field(default_factory=dict)
    hour_p90: list[float] = field(default_factory=lambda: [0.0] * 24)
    hour_share: list[float] = field(default_factory=lambda: [0.0] * 24)
    # The rolling 24 hours: [hour number, calls, records, subjects] per clock hour, oldest first.
    recent: list[list[int]] = field(default_factory=list)
    calls24: int = 0
    records24: int = 0
    subjects24: int = 0
    categories: dict[str, int] = field(default_factory=dict)  # category → first read
    networks: dict[str, int] = field(default_factory=dict)  # network → last used
    networks_seen: int = 0  # networks ever learned (``networks`` keeps the recent ones)
    countries: dict[str, int] = field(default_factory=dict)  # country → first seen
    # credential → [[time, network, country]] of its latest use from each network, last first
    places: dict[str, list[list[Any]]] = field(default_factory=dict)
    two_place_days: list[int] = field(default_factory=list)  # days a credential was in two
    # detector|key → (time, severity) of its latest finding, so a long pull is reported when it
    # grows a grade or after an hour, not on every call
    reported: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def days(self) -> int:
        """Active days of history (the learning period counts these)."""
        return len(self.history)

    def hour_records(self, t: int) -> int:
        """Records read in the clock hour of ``t`` so far."""
        return self.recent[-1][2] if self.recent and self.recent[-1][0] == t // HOUR else 0

    def record(self, event: AccessEvent, t: int) -> None:
        """Add a read access at ``t`` (never earlier than the previous one: the engine keeps
        time order) and note in :attr:`fresh` what it brought that is new."""
        self.event = event.id
        if not self.first_us:
            self.first_us = t
        day = t // DAY
        if day != self.today.day:
            self._close_day()
            self.today = MachineDay(day=day)
        records, subjects = _sizes(event)
        today = self.today
        today.calls += 1
        today.records += records
        today.subjects += subjects
        today.hours[(t // HOUR) % 24] += records
        self.merchants_today.add(event.merchant)
        self._roll(t, records, subjects)
        fresh = self.fresh
        fresh.clear()
        known = self.categories
        for category in event.data:
            if category not in known:
                known[category] = t
                fresh.categories += (category,)
        self._place(event, t, fresh)

    def _close_day(self) -> None:
        today = self.today
        if today.calls:
            today.merchants = len(self.merchants_today)
            self.history.append(today)
            if len(self.history) > HISTORY_DAYS:
                del self.history[0]
            days = self.history
            total = sum(d.records for d in days) or 1
            hours = zip(*(d.hours for d in days), strict=True)
            self.hour_share = [sum(hour) / total for hour in hours]  # read by every call
            # The rest when first asked (level, usual_hour): only for a day beyond a floor.
            self.levels = {}
            self.hour_p90 = []
        self.merchants_today = set()

    def level(self, metric: str) -> Level:
        """The level of ``metric`` (a key of :attr:`levels`) over the history."""
        levels = self.levels
        if not levels:
            days = self.history
            levels = self.levels = {
                "calls": _level([d.calls for d in days]),
                "records": _level([d.records for d in days]),
                "subjects": _level([d.subjects for d in days]),
                "merchants": _level([d.merchants for d in days]),
                "hour": _level([max(d.hours) for d in days]),
            }
        return levels[metric]

    def usual_hour(self, hours: Iterable[int]) -> float:
        """The highest usual (90th percentile) records of the hours of the day ``hours``."""
        if len(self.hour_p90) != 24:
            columns = zip(*(d.hours for d in self.history), strict=True)
            self.hour_p90 = [_p90(sorted(column)) for column in columns]
        return max(self.hour_p90[i] for i in hours)

    def _roll(self, t: int, records: int, subjects: int) -> None:
        hour = t // HOUR
        recent = self.recent
        if not recent or recent[-1][0] < hour:
            recent.append([hour, 0, 0, 0])
            cut = 0
            while recent[cut][0] <= hour - 24:
                _, calls, rec, subj = recent[cut]
                self.calls24 -= calls
                self.records24 -= rec
                self.subjects24 -= subj
                cut += 1
            del recent[:cut]
        bucket = recent[-1]
        bucket[1] += 1
        bucket[2] += records
        bucket[3] += subjects
        self.calls24 += 1
        self.records24 += records
        self.subjects24 += subjects

    def _place(self, event: AccessEvent, t: int, fresh: Fresh) -> None:
        source = event.source
        if source is UNSET:
            return
        ip = source.ip
        net = network(ip) if isinstance(ip, str) else None
        country = source.country if isinstance(source.country, str) else ""
        if country and country not in self.countries:
            self.countries[country] = t
            fresh.country = country
        if net is None:
            return
        if net not in self.networks:
            self.networks_seen += 1
            fresh.network = net
            if len(self.networks) >= _MAX_NETWORKS:
                del self.networks[min(self.networks, key=self.networks.__getitem__)]
        self.networks[net] = t
        credential = source.device if isinstance(source.device, str) else event.actor.id
        fresh.credential = credential
        uses = self.places.get(credential)
        if uses is None:
            if len(self.places) >= _MAX_CREDENTIALS:  # forget the one unused the longest
                del self.places[min(self.places, key=lambda c: self.places[c][0][0])]
            uses = self.places[credential] = []
        since = t - PLACE_MINUTES * MINUTE
        if uses and uses[0][1] == net:  # the usual case: the same place as last time
            uses[0][0] = t
            if len(uses) == 1 or uses[1][0] < since:
                return
        for use in uses:
            if use[1] != net and use[0] >= since:  # the latest use elsewhere
                fresh.other_network, fresh.other_country = use[1], use[2]
                fresh.other_minutes = (t - use[0]) / MINUTE
                break
        mine = next((use for use in uses if use[1] == net), None)
        if mine is None:
            mine = [t, net, country]
            del uses[_MAX_PLACES - 1 :]
        else:
            uses.remove(mine)
            mine[0], mine[2] = t, country
        uses.insert(0, mine)


def machine(state: ActorState, event: AccessEvent, t: int) -> MachineState:
    """The machine's history with ``event`` (at ``t``) recorded, once, whichever detector asks
    first."""
    ms = state.machine
    if ms is None:
        ms = state.machine = MachineState()
    if ms.event != event.id:
        ms.record(event, t)
    return ms


@functools.lru_cache(maxsize=4096)
def network(ip: str) -> str | None:
    """The IPv4 /24 or IPv6 /48 of ``ip`` (``203.0.113.0/24``), or ``None`` if it is not an
    address. A /24 is the usual size of a network a provider hands out; a machine moving
    between addresses of one provider's block stays in it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _sizes(event: AccessEvent) -> tuple[int, int]:
    """(records, customers named) an access exposed (:meth:`AccessEvent.records`); exports
    count too (a machine's export is reading in bulk)."""
    return event.records(), len(event.subjects) if isinstance(event.subjects, list) else 0


def _level(values: list[int]) -> Level:
    if not values:
        return Level()
    ordered = sorted(values)
    median = _median(ordered)
    mad = _median(sorted(abs(v - median) for v in ordered))
    p90 = _p90(ordered)
    return Level(median, mad, p90, len(ordered), max(p90, median + 3 * _MAD_SCALE * mad))


def _p90(ordered: list[int]) -> float:
    """The 90th percentile of sorted ``ordered``, nearest rank (as ``context.percentile``)."""
    return float(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))])


def _median(ordered: list[int] | list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
