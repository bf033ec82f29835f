"""The built-in detectors. Each is small, configurable, and explains itself in numbers.

Every detector sees an access event after the :class:`~sentinelle.detect.context.Context`
recorded it (windows and day summaries include it) but before the actor's habits learned
its device, country and hour. Thresholds are relative to the actor's own baseline and their
team's wherever the behaviour varies between people; absolute floors keep new actors, whose
baseline is still empty, from alerting on their first days.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import UNSET
from pydantic import Field

from sentinelle.detect.base import Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import (
    ActorState,
    Context,
    Quantiles,
    is_bulk,
)
from sentinelle.detect.timeutil import DAY, HOUR, MINUTE
from sentinelle.events import AccessEvent

__all__ = [
    "BreadthVolume",
    "Collusion",
    "ExportAfterNotice",
    "FakeTickets",
    "RepeatedLooks",
    "UnjustifiedAccess",
    "UnusualContext",
]


def _list(items: Iterable[str], limit: int = 6) -> str:
    ordered = sorted(items)
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


def _severity(value: float, threshold: float) -> Severity:
    if value >= 4 * threshold:
        return Severity.CRITICAL
    if value >= 2 * threshold:
        return Severity.HIGH
    return Severity.MEDIUM


def _score(value: float, threshold: float) -> float:
    return min(100.0, 50.0 * value / max(threshold, 1e-9))


class UnjustifiedAccess(Detector):
    """Customer data of merchants the actor has no ticket or grant for."""

    name = "unjustified_access"
    description = "Access without a matching ticket or grant, beyond the actor's usual and peers'."

    class Config(DetectorConfig):
        """Thresholds."""

        min_merchants_day: int = Field(3, ge=1, description="Floor: unjustified merchants in 24 h.")
        margin_day: int = Field(2, ge=0, description="Above the actor's / team's usual daily.")
        min_merchants_week: int = Field(
            6, ge=1, description="Floor: unjustified merchants in 7 days."
        )
        week_factor: float = Field(2.0, ge=1, description="Times the usual weekly count.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        if justified or state.kind != "staff":
            return []
        cfg = self.config
        assert isinstance(cfg, UnjustifiedAccess.Config)  # noqa: S101
        t = ctx.now_us
        day_set = state.u24.keys()
        own = state.baseline("unjustified")
        peers = ctx.team_baseline(state.team, "unjustified")
        usual_day = max(own.p95, peers.p95)
        threshold = max(cfg.min_merchants_day, usual_day + cfg.margin_day)
        who = event.actor.id
        team = state.team or "team"
        if len(day_set) >= threshold:
            return [
                Finding(
                    self.name,
                    who,
                    t,
                    _severity(len(day_set), threshold),
                    _score(len(day_set), threshold),
                    tuple(sorted(day_set)),
                    (event.id,),
                    (
                        f"{who} accessed customer data of {len(day_set)} merchants in the last 24 h "
                        f"without a ticket or grant for them ({_list(day_set)}); their usual is "
                        f"{own} a day; {team} peers {peers}.",
                    ),
                )
            ]
        week_set = state.u7.keys()
        usual_week = 7 * max(own.p50, peers.p50)
        week_threshold = max(cfg.min_merchants_week, cfg.week_factor * usual_week)
        if len(week_set) >= week_threshold:
            return [
                Finding(
                    self.name,
                    who,
                    t,
                    Severity.MEDIUM,
                    _score(len(week_set), week_threshold),
                    tuple(sorted(week_set)),
                    (event.id,),
                    (
                        f"{who} accessed customer data of {len(week_set)} merchants in the last 7 "
                        f"days without a ticket or grant for them ({_list(week_set)}), a few a day; "
                        f"their usual is {own} a day; {team} peers {peers}.",
                    ),
                )
            ]
        return []


class BreadthVolume(Detector):
    """Many more merchants, customers or records than the actor and their peers usually reach."""

    name = "breadth_volume"
    description = (
        "Distinct merchants, customers and records in 24 h against own and peer baselines."
    )

    class Config(DetectorConfig):
        """Thresholds."""

        factor: float = Field(3.0, ge=1, description="Times the higher of own and peer p95.")
        min_days: int = Field(
            5, ge=1, description="Days of own history before own baseline counts."
        )
        min_merchants: int = Field(15, ge=1)
        min_subjects: int = Field(300, ge=1)
        min_records: int = Field(2000, ge=1)

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, BreadthVolume.Config)  # noqa: S101
        t = ctx.now_us
        merchants, records, subjects = state.m24.keys(), state.records24, state.subjects24
        who = event.actor.id
        checks = (
            ("merchants", len(merchants), cfg.min_merchants, "distinct merchants"),
            ("subjects", subjects, cfg.min_subjects, "customer records viewed"),
            ("records", records, cfg.min_records, "records"),
        )
        for metric, value, floor, words in checks:
            own = state.baseline(metric) if len(state.history) >= cfg.min_days else Quantiles()
            peers = ctx.team_baseline(state.team, metric)
            usual = max(own.p95, peers.p95)
            threshold = max(floor, cfg.factor * usual)
            if value >= threshold:
                return [
                    Finding(
                        self.name,
                        who,
                        t,
                        _severity(value, threshold),
                        _score(value, threshold),
                        tuple(sorted(merchants))[:50],
                        (event.id,),
                        (
                            f"{who} reached {value} {words} in the last 24 h; their usual is "
                            f"{own} a day; {state.team or 'team'} peers {peers}.",
                        ),
                    )
                ]
        return []


class ExportAfterNotice(Detector):
    """Exports, downloads or list views by someone who has given notice."""

    name = "export_after_notice"
    description = "Export or download after staff.notice_given."

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        notice = ctx.notice.get(event.actor.id)
        if notice is None or ctx.now_us < notice or not is_bulk(event):
            return []
        days = (ctx.now_us - notice) / DAY
        count = getattr(event.resource, "count", None)
        what = f"{count} records" if isinstance(count, int) else "records"
        severity = Severity.LOW if justified else Severity.HIGH
        because = "with a ticket for it" if justified else "without a ticket or grant for it"
        return [
            Finding(
                self.name,
                event.actor.id,
                ctx.now_us,
                severity,
                40.0 if justified else 85.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} gave notice {days:.1f} days ago and then ran a "
                    f"{event.action} of {what} of merchant {event.merchant} {because}.",
                ),
            )
        ]


class UnusualContext(Detector):
    """A new device, a new country or an unusual hour, together with a risky action."""

    name = "unusual_context"
    description = "New device / new country / off-hours combined with bulk or unjustified access."

    class Config(DetectorConfig):
        """Thresholds."""

        min_history_days: int = Field(5, ge=1, description="Days before anything is 'new'.")
        rare_hour_share: float = Field(
            0.01, ge=0, le=1, description="An hour this rare is unusual."
        )

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, UnusualContext.Config)  # noqa: S101
        if state.kind != "staff" or len(state.history) < cfg.min_history_days:
            return []
        if justified and not is_bulk(event):
            return []
        t = ctx.now_us
        unusual: list[str] = []
        device = getattr(event.source, "device", None) if event.source is not UNSET else None
        country = getattr(event.source, "country", None) if event.source is not UNSET else None
        if isinstance(device, str) and device not in state.devices:
            unusual.append(f"a device never seen for them ({device})")
        if isinstance(country, str) and country not in state.countries:
            unusual.append(f"a new country ({country})")
        total = sum(state.hours)
        hour = (t // HOUR) % 24
        if total >= 100 and state.hours[hour] <= cfg.rare_hour_share * total:
            unusual.append(f"an hour they almost never work ({hour:02d}:00 UTC)")
        if not unusual:
            return []
        risky = []
        if is_bulk(event):
            risky.append(f"a {event.action} of a list or export")
        if not justified:
            risky.append("access without a ticket or grant")
        severity = Severity.HIGH if len(unusual) >= 2 else Severity.MEDIUM
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                severity,
                45.0 + 15 * len(unusual),
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} did {' and '.join(risky)} at merchant {event.merchant} from {', '.join(unusual)}.",
                ),
            )
        ]


class Collusion(Detector):
    """Two or more actors touching the same unusual set of merchants without tickets."""

    name = "collusion"
    description = "Actors sharing unjustified access to the same merchants within 7 days."

    class Config(DetectorConfig):
        """Thresholds."""

        min_shared: int = Field(3, ge=2, description="Merchants both reached without a ticket.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, Collusion.Config)  # noqa: S101
        if justified or state.kind != "staff":
            return []
        me = event.actor.id
        others = {a for a in ctx.unjustified_by.get(event.merchant, {}) if a != me}
        if not others:
            return []
        mine = state.u7.keys()
        findings = []
        for other in sorted(others):
            shared = {m for m in mine if other in ctx.unjustified_by.get(m, {})}
            if len(shared) >= cfg.min_shared:
                findings.append(
                    Finding(
                        self.name,
                        me,
                        ctx.now_us,
                        _severity(len(shared), cfg.min_shared)
                        if len(shared) < 2 * cfg.min_shared
                        else Severity.HIGH,
                        _score(len(shared), cfg.min_shared),
                        tuple(sorted(shared)),
                        (event.id,),
                        (
                            f"{me} and {other} both accessed customer data of the same "
                            f"{len(shared)} merchants in the last 7 days without a ticket or grant "
                            f"({_list(shared)}).",
                        ),
                    )
                )
        return findings


class FakeTickets(Detector):
    """Tickets the actor opened and closed within minutes, then used to justify bulk access."""

    name = "fake_tickets"
    description = "Self-made tickets closed within minutes that 'justify' bulk views."

    class Config(DetectorConfig):
        """Thresholds."""

        max_minutes: int = Field(10, ge=1, description="A ticket closed this fast is suspicious.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        just = event.justification
        ticket_id = just.ticket if just is not UNSET and isinstance(just.ticket, str) else None
        if ticket_id is None or not is_bulk(event):
            return []
        ticket = ctx.tickets.get(ticket_id)
        if ticket is None or ticket.opened_us is None or ticket.closed_us is None:
            return []
        quick = ticket.closed_us - ticket.opened_us <= cfg.max_minutes * MINUTE
        self_made = (
            ticket.opened_by in (None, event.actor.id) and event.actor.id in ticket.assignees
        )
        if not (quick and self_made and ctx.now_us >= ticket.closed_us):
            return []
        minutes = (ticket.closed_us - ticket.opened_us) / MINUTE
        return [
            Finding(
                self.name,
                event.actor.id,
                ctx.now_us,
                Severity.HIGH,
                80.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} ran a {event.action} of merchant {event.merchant}'s customer "
                    f"data citing ticket {ticket_id}, which they handled themselves and closed "
                    f"{minutes:.0f} minutes after it was opened.",
                ),
            )
        ]


class RepeatedLooks(Detector):
    """Repeated unjustified looks at the same few customers."""

    name = "repeated_looks"
    description = "The same customers viewed again and again without a ticket."

    class Config(DetectorConfig):
        """Thresholds."""

        min_looks: int = Field(3, ge=2, description="Unjustified looks at one customer in 14 days.")
        min_days: int = Field(2, ge=1, description="…spread over at least this many days.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, RepeatedLooks.Config)  # noqa: S101
        if justified or state.kind != "staff" or event.subjects is UNSET or len(event.subjects) > 5:
            return []
        t = ctx.now_us
        hot = []
        for subject in event.subjects:
            looks = state.looks.setdefault(subject, [])
            looks.append(t)
            recent = [x for x in looks if x >= t - 14 * DAY]
            state.looks[subject] = recent
            if len(recent) >= cfg.min_looks and len({x // DAY for x in recent}) >= cfg.min_days:
                hot.append((subject, len(recent)))
        if not hot:
            return []
        text = ", ".join(f"{s} ({n} times)" for s, n in hot)
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                Severity.MEDIUM,
                60.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} looked again at {text} in the last 14 days without a ticket or grant.",
                ),
            )
        ]
