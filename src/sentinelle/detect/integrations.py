"""Detectors of apps, integrations and services (``actor.kind`` other than a person's).

A payment, shipping, CRM or ERP integration reads a shop's customers through the API, on a
schedule or as orders come; a merchant-installed app calls when something happens at the
shop. They are machines: each is judged against **its own history** (:mod:`.machines`), never
against staff teams, and each finding says what it saw and what the machine usually does, in
numbers:

* :class:`IntegrationVolume`: far more records, customers or merchants in 24 hours, or in one
  clock hour, than its usual (robust levels of its last 28 active days);
* :class:`IntegrationOddHours`: a bulk pull in an hour of the day it is almost idle;
* :class:`IntegrationNewData`: a data category it never read;
* :class:`IntegrationNewNetwork`: a network (/24, /48) it never called from;
* :class:`IntegrationTwoPlaces`: one credential used from two networks within minutes.

All are silent while the machine has fewer than ``min_days`` active days of history (its
learning period). Thresholds are multiples of its own usual (with small floors), so a machine
making 10 calls a day and one making a million are judged alike; the usual is the last weeks'
(90th percentile), so the gradual growth of a shop's season moves it along, while a sudden
tenfold pull stands out. Findings are evidence (:mod:`.evidence`); a long pull is reported
again when it grows a grade, or after an hour with its new numbers, not on every call.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Final, Literal, NamedTuple, get_args

from pydantic import Field

from sentinelle.detect.base import Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import ActorState, Context
from sentinelle.detect.machines import HISTORY_DAYS, PLACE_MINUTES, Level, MachineState, machine
from sentinelle.events import AccessEvent
from sentinelle.timeutil import DAY, HOUR, iso

__all__ = [
    "INTEGRATION_DETECTORS",
    "IntegrationNewData",
    "IntegrationNewNetwork",
    "IntegrationOddHours",
    "IntegrationTwoPlaces",
    "IntegrationVolume",
]

MachineKind = Literal["app", "integration", "service"]
"""Actor kinds judged against their own history (``staff`` and ``merchant_user`` are people)."""
_KINDS: Final[tuple[MachineKind, ...]] = get_args(MachineKind)
SENSITIVE: Final = (
    "payment_full",
    "credentials",
    "identity_document",
    "financial",
    "special",
    "children",
)
_REPORT_EVERY: Final = HOUR  # a finding that keeps holding is reported again this often


class Look(NamedTuple):
    """What a machine detector judges: the event, its time, the machine's history with it,
    the actor's rolling windows, and whether the machine is still learning."""

    event: AccessEvent
    t: int
    ms: MachineState
    state: ActorState
    learning: bool


class MachineConfig(DetectorConfig):
    """Settings every machine detector has."""

    kinds: list[MachineKind] = Field(
        default_factory=lambda: list(_KINDS),
        description="Actor kinds judged.",
    )
    min_days: int = Field(7, ge=1, le=HISTORY_DAYS, description="Active days learnt first.")


class _MachineDetector(Detector):
    """Looks at machines' read accesses only, once they have ``min_days`` of history."""

    Config: ClassVar[type[DetectorConfig]] = MachineConfig
    graded = True
    learns_always: ClassVar[bool] = False  # judge() also during the learning period

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__(config)
        assert isinstance(self.config, MachineConfig)  # noqa: S101
        self._kinds = frozenset(self.config.kinds)
        self._min_days = self.config.min_days

    def judges(self, kind: str) -> bool:
        """Machines of the configured kinds only."""
        return kind in self._kinds

    def observe(
        self,
        event: AccessEvent,
        ctx: Context,
        state: ActorState,
        justified: bool,  # noqa: ARG002  (machines carry no tickets)
    ) -> list[Finding]:
        """Findings about a machine's read access (the engine asks only about the kinds
        :meth:`judges` names)."""
        ms = machine(state, event, ctx.now_us)
        learning = ms.days < self._min_days
        if learning and not self.learns_always:
            return []
        return self.judge(Look(event, ctx.now_us, ms, state, learning))

    @abc.abstractmethod
    def judge(self, look: Look) -> list[Finding]:
        """The detector's own check, with the machine's history up to this event."""

    def _due(self, ms: MachineState, key: str, t: int, severity: Severity) -> bool:
        """Whether a finding about ``key`` is worth reporting now: the first, one of a higher
        grade than the last, or the last is an hour old."""
        slot = f"{self.name}|{key}"
        last = ms.reported.get(slot)
        if last is not None and t - last[0] < _REPORT_EVERY and severity <= last[1]:
            return False
        if len(ms.reported) > 32:
            ms.reported = {k: v for k, v in ms.reported.items() if t - v[0] < DAY}
        ms.reported[slot] = (t, int(severity))
        return True

    def _finding(
        self,
        event: AccessEvent,
        t: int,
        severity: Severity,
        score: float,
        merchants: tuple[str, ...],
        reason: str,
    ) -> list[Finding]:
        return [
            Finding(
                self.name, event.actor.id, t, severity, score, merchants, (event.id,), (reason,)
            )
        ]


def _grade(ratio: float) -> Severity:
    """A figure ``ratio`` times its threshold: medium from 1, high from 2, critical from 4."""
    if ratio >= 4:
        return Severity.CRITICAL
    if ratio >= 2:
        return Severity.HIGH
    return Severity.MEDIUM


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _usual(level: Level, unit: str) -> str:
    return (
        f"its usual is {_n(level.median)} {unit} (median of its last {level.days} active days; "
        f"90th percentile {_n(level.p90)})"
    )


def _span(hour: int) -> str:
    return f"{hour % 24:02d}:00–{(hour + 1) % 24:02d}:00 UTC"


class IntegrationVolume(_MachineDetector):
    """Far more records, customers or merchants than the machine's own usual, in 24 hours or
    in one clock hour."""

    name = "integration_volume"
    description = "Records, customers, merchants in 24 h or 1 h against the machine's own usual."
    family = "machine_volume"

    class Config(MachineConfig):
        """Thresholds."""

        factor: float = Field(4.0, ge=1, description="Times the usual high (90th percentile).")
        min_records: int = Field(100, ge=1, description="Floor: records in 24 h.")
        min_subjects: int = Field(100, ge=1, description="Floor: customers named in 24 h.")
        min_merchants: int = Field(10, ge=1, description="Floor: merchants in 24 h.")
        min_hour_records: int = Field(100, ge=1, description="Floor: records in one hour.")

    def judge(self, look: Look) -> list[Finding]:
        """The figure furthest beyond its threshold, if any is."""
        event, t, ms = look.event, look.t, look.ms
        cfg = self.config
        assert isinstance(cfg, IntegrationVolume.Config)  # noqa: S101
        hour = ms.hour_records(t)
        checks = (
            ("records", ms.records24, cfg.min_records),
            ("subjects", ms.subjects24, cfg.min_subjects),
            ("merchants", len(look.state.m24), cfg.min_merchants),
            ("hour", hour, cfg.min_hour_records),
        )
        best: tuple[float, str, int, float] | None = None
        for metric, value, floor in checks:
            if value < floor:
                continue  # cannot reach the threshold: its level is not needed
            threshold = max(float(floor), cfg.factor * ms.level(metric).high)
            if value >= threshold and (best is None or value / threshold > best[0]):
                best = (value / threshold, metric, value, threshold)
        if best is None:
            return []
        ratio, metric, value, threshold = best
        severity = _grade(ratio)
        if not self._due(ms, "volume", t, severity):
            return []
        level = ms.level(metric)
        who = event.actor.id
        times = f"{value / max(level.median, 1):.1f}×"
        limit = f"it alerts from {cfg.factor:g}× its usual high, at least {_n(threshold)}"
        if metric == "hour":
            reason = (
                f"{who} read {_n(value)} records in the hour {_span(t // HOUR)}; its busiest "
                f"hour of a day is usually {_n(level.median)} records (median of its last "
                f"{level.days} active days; 90th percentile {_n(level.p90)}), so {times} its "
                f"usual busiest hour; {limit}."
            )
        else:
            what = {
                "records": f"read {_n(value)} records",
                "subjects": f"named {_n(value)} customers' records",
                "merchants": f"read customer data of {_n(value)} merchants",
            }[metric]
            unit = {"records": "records", "subjects": "customers", "merchants": "merchants"}
            reason = (
                f"{who} {what} in the last 24 hours ({_n(ms.calls24)} calls, "
                f"{_n(ms.records24)} records, {len(look.state.m24)} merchants); "
                f"{_usual(level, unit[metric] + ' a day')}, so {times} its usual; {limit}."
            )
        merchants = tuple(sorted(look.state.m24))[:50]
        return self._finding(event, t, severity, min(100.0, 50.0 * ratio), merchants, reason)


class IntegrationOddHours(_MachineDetector):
    """A bulk pull in an hour of the day the machine is almost idle (2 AM for an app that
    follows its shops' day; between the syncs of a scheduled integration)."""

    name = "integration_odd_hours"
    description = "A bulk pull in an hour of the day the machine is usually almost idle."
    family = "machine_volume"

    class Config(MachineConfig):
        """Thresholds."""

        quiet_share: float = Field(
            0.01, gt=0, lt=1, description="An hour (and the hours either side) this idle."
        )
        bulk_share: float = Field(0.25, gt=0, description="Pull: this share of a usual day.")
        factor: float = Field(4.0, ge=1, description="Times that hour's usual (90th pct).")
        min_records: int = Field(100, ge=1, description="Floor: records in the hour.")

    def judge(self, look: Look) -> list[Finding]:
        """A pull in a quiet hour: that hour, and the hours either side (a job running late,
        summer time), hold under ``quiet_share`` of the machine's records."""
        event, t, ms = look.event, look.t, look.ms
        cfg = self.config
        assert isinstance(cfg, IntegrationOddHours.Config)  # noqa: S101
        clock = t // HOUR
        h = clock % 24
        around = ((h - 1) % 24, h, (h + 1) % 24)
        share = max(ms.hour_share[i] for i in around)
        if share >= cfg.quiet_share:
            return []
        value = ms.hour_records(t)
        usual_hour = ms.usual_hour(around)
        day = ms.level("records").median
        threshold = max(float(cfg.min_records), cfg.factor * usual_hour, cfg.bulk_share * day)
        if value < threshold:
            return []
        ratio = value / threshold
        severity = _grade(ratio)
        if not self._due(ms, f"hour{clock}", t, severity):
            return []
        reason = (
            f"{event.actor.id} read {_n(value)} records in the hour {_span(clock)}, when it is "
            f"almost idle: {share:.1%} of its records of its last {ms.days} active days fall "
            f"between {_span(clock - 1)[:5]} and {_span(clock + 1)[6:]} (at most "
            f"{_n(usual_hour)} records in such an hour, 90th percentile); a usual day is "
            f"{_n(day)} records, so this pull is {value / max(day, 1):.0%} of one; it alerts "
            f"from {_n(threshold)} ({cfg.bulk_share:.0%} of a usual day, {cfg.factor:g}× that "
            f"hour's usual, at least {cfg.min_records})."
        )
        return self._finding(
            event, t, severity, min(100.0, 50.0 * ratio), (event.merchant,), reason
        )


class IntegrationNewData(_MachineDetector):
    """A data category the machine never read (a shipping integration reading payment data)."""

    name = "integration_new_data"
    description = "A data category the machine never read before (high for sensitive ones)."

    class Config(MachineConfig):
        """Which categories are sensitive."""

        sensitive: list[str] = Field(
            default_factory=lambda: list(SENSITIVE),
            description="A first read of one of these is high; of another, medium.",
        )

    def judge(self, look: Look) -> list[Finding]:
        """The categories this event read first."""
        event, t, ms = look.event, look.t, look.ms
        cfg = self.config
        assert isinstance(cfg, IntegrationNewData.Config)  # noqa: S101
        new = ms.fresh.categories
        if not new:
            return []
        sensitive = [c for c in new if c in cfg.sensitive]
        severity = Severity.HIGH if sensitive else Severity.MEDIUM
        before = sorted(c for c in ms.categories if c not in new)
        records = getattr(event.resource, "count", None)
        size = f", {records} records" if isinstance(records, int) else ""
        reason = (
            f"{event.actor.id} read {', '.join(new)} data for the first time (merchant "
            f"{event.merchant}, {event.action} of {getattr(event.resource, 'type', 'records')}"
            f"{size}); in its {ms.days} active days since {iso(ms.first_us)[:10]} it read only "
            f"{', '.join(before) or 'nothing else'}"
            + (f"; {', '.join(sensitive)} is sensitive." if sensitive else ".")
        )
        return self._finding(
            event, t, severity, 80.0 if sensitive else 55.0, (event.merchant,), reason
        )


class IntegrationNewNetwork(_MachineDetector):
    """A network the machine never called from (an IPv4 /24 or IPv6 /48; no ASN: there is no
    offline registry of them to read)."""

    name = "integration_new_network"
    description = "A source network (/24, /48) never seen for the machine."

    class Config(MachineConfig):
        """How many networks make a machine steady, or one whose addresses always change."""

        steady: int = Field(3, ge=1, description="Up to this many known: a new one is medium.")
        max_networks: int = Field(
            8, ge=1, description="Beyond this many known: silent (addresses change often)."
        )

    def judge(self, look: Look) -> list[Finding]:
        """A network first seen at this event, for a machine whose networks are few."""
        event, t, ms = look.event, look.t, look.ms
        cfg = self.config
        assert isinstance(cfg, IntegrationNewNetwork.Config)  # noqa: S101
        fresh = ms.fresh
        known = ms.networks_seen - 1
        if not fresh.network or known > cfg.max_networks:
            return []
        if fresh.country:
            severity = Severity.HIGH
        elif known <= cfg.steady:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        others = sorted(n for n in ms.networks if n != fresh.network)
        shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        where = f" in {fresh.country}, a country new for it" if fresh.country else ""
        countries = ", ".join(sorted(c for c in ms.countries if c != fresh.country))
        reason = (
            f"{event.actor.id} called from network {fresh.network}{where} for the first time "
            f"(merchant {event.merchant}); in its {ms.days} active days it used {known} "
            f"network(s) ({shown or 'none recorded'})"
            + (f" from {countries}" if countries else "")
            + "."
        )
        return self._finding(
            event, t, severity, 70.0 if fresh.country else 50.0, (event.merchant,), reason
        )


class IntegrationTwoPlaces(_MachineDetector):
    """One credential used from two networks within minutes: a copied token. The credential
    is the event's ``source.device`` (the API token's or client's id, for a machine), else the
    actor itself; machines that usually run from several networks at once are learnt."""

    name = "integration_two_places"
    description = "One credential used from two networks within minutes."
    learns_always = True

    class Config(MachineConfig):
        """Thresholds."""

        minutes: float = Field(
            10.0, gt=0, le=PLACE_MINUTES, description="Two networks this close in time."
        )
        usual_days: int = Field(
            3, ge=1, description="Days with two places at once, last 28: then it is its usual."
        )

    def judge(self, look: Look) -> list[Finding]:
        """Two networks for one credential within ``minutes``, for a machine that does not
        usually do so (learnt while learning, and from every such day since)."""
        event, t, ms = look.event, look.t, look.ms
        cfg = self.config
        assert isinstance(cfg, IntegrationTwoPlaces.Config)  # noqa: S101
        fresh = ms.fresh
        if not fresh.other_network or fresh.other_minutes > cfg.minutes:
            return []
        today = t // DAY
        days = [d for d in ms.two_place_days if d > today - HISTORY_DAYS]
        before = len([d for d in days if d != today])
        if not days or days[-1] != today:
            days.append(today)
        ms.two_place_days = days
        if look.learning or before >= cfg.usual_days:
            return []
        here = fresh.network + (f" ({_country(event)})" if _country(event) else "")
        there = fresh.other_network + (f" ({fresh.other_country})" if fresh.other_country else "")
        countries = {fresh.other_country, _country(event)} - {""}
        severity = Severity.CRITICAL if len(countries) > 1 else Severity.HIGH
        if not self._due(ms, f"{fresh.credential}|{fresh.other_network}", t, severity):
            return []
        credential = (
            f"credential {fresh.credential}"
            if fresh.credential != event.actor.id
            else "credential (its actor id: the events name no token)"
        )
        reason = (
            f"{event.actor.id}'s {credential} was used from {here} and, "
            f"{fresh.other_minutes:.0f} minute(s) earlier, from {there}; in its last "
            f"{min(ms.days, HISTORY_DAYS)} active days it was used from two networks within "
            f"{cfg.minutes:g} minutes on {before} day(s) (its usual from {cfg.usual_days})."
        )
        return self._finding(
            event, t, severity, 90.0 if len(countries) > 1 else 75.0, (event.merchant,), reason
        )


def _country(event: AccessEvent) -> str:
    country = getattr(event.source, "country", None)
    return country if isinstance(country, str) else ""


INTEGRATION_DETECTORS: Final[tuple[type[Detector], ...]] = (
    IntegrationVolume,
    IntegrationOddHours,
    IntegrationNewData,
    IntegrationNewNetwork,
    IntegrationTwoPlaces,
)
"""The machine detectors, in the order the engine asks them."""
