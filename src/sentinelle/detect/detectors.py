"""The built-in detectors. Each is small, configurable, and explains itself in numbers.

Every detector sees an access event after the :class:`~sentinelle.detect.context.Context`
recorded it (windows and day summaries include it) but before the actor's habits learned
its device, country and hour. Thresholds are relative to the actor's own baseline and their
team's wherever the behaviour varies between people (fraud and onboarding teams touch many
merchants; tier-1 agents few); absolute floors keep actors whose baseline is still being
learned from alerting on ordinary days.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from msgspec import UNSET
from pydantic import Field

from sentinelle.detect.base import Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import ActorState, Context, Quantiles, Ticket, is_bulk, mark
from sentinelle.events import AccessEvent, ContextEvent
from sentinelle.timeutil import DAY, HOUR, MINUTE

__all__ = [
    "BreadthVolume",
    "Collusion",
    "ExportAfterNotice",
    "FakeTickets",
    "LongHorizon",
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


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean): how surprising ``k`` is when ``mean`` is expected."""
    if k <= 0:
        return 1.0
    mean = max(mean, 1e-9)
    term = math.exp(-mean)
    below = 0.0
    for i in range(k):
        below += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - below) if below < 0.999999 else term  # tail ≈ first term when tiny


def _chance(p: float) -> str:
    return f"1 in {1 / p:,.0f}" if p >= 1e-9 else "less than 1 in a billion"


def team_rate(ctx: Context, me: str, team: str | None, kind: str) -> tuple[float, int]:
    """Marks of ``kind`` per working day among ``team``'s other members, last 30 days."""
    marks = days = 0
    for actor, state in ctx.actors.items():
        if actor != me and state.team == team and state.kind == "staff" and state.active:
            marks += len(state.marks.get(kind, ()))
            days += len(state.active)
    return (marks / days if days else 0.0), days


def base_rate(
    ctx: Context, state: ActorState, kind: str, peers: float, prior_days: float, floor: float
) -> tuple[float, float, int]:
    """The rate of ``kind`` marks per working day expected of the actor of ``state``: their
    own before the last 7 days, shrunk towards their team's, ``peers`` (:func:`team_rate`),
    weighing ``prior_days``. Returns (expected rate, own earlier rate, working days in the
    last 7)."""
    week = ctx.now_us - 7 * DAY
    today = ctx.now_us // DAY
    earlier_days = sum(1 for d in state.active if d < today - 6)
    earlier = sum(1 for u, _ in state.marks.get(kind, ()) if u < week)
    own = earlier / earlier_days if earlier_days else 0.0
    rate = (earlier + prior_days * max(peers, floor)) / (earlier_days + prior_days)
    recent_days = max(1, sum(1 for d in state.active if d >= today - 6))
    return max(rate, floor), own, recent_days


def _by_chance(p: float, low: float, medium: float, high: float) -> Severity | None:
    if p < high:
        return Severity.HIGH
    if p < medium:
        return Severity.MEDIUM
    if p < low:
        return Severity.LOW
    return None


class UnjustifiedAccess(Detector):
    """Customer data of merchants the actor has no ticket or grant for, beyond their usual.

    Three measures, each against the actor's own daily baseline and their team's: list views
    and exports without justification (bulk harvesting); merchants the actor had not opened
    before, reached without justification in 24 hours (breadth); and the same over 7 days
    (low and slow). Follow-up looks at merchants the actor already works with are common and
    do not count towards the last two.
    """

    graded = True
    weight = 1.0

    name = "unjustified_access"
    description = "Access without a matching ticket or grant, beyond the actor's usual and peers'."

    class Config(DetectorConfig):
        """Thresholds."""

        min_bulk_merchants: int = Field(
            3,
            ge=1,
            description="Floor: merchants whose lists were opened or exported unjustified in 24 h.",
        )
        min_new_merchants: int = Field(
            5, ge=1, description="Floor: new merchants reached unjustified in 24 h."
        )
        margin: int = Field(2, ge=0, description="Above the actor's / team's usual daily (p95)…")
        factor: float = Field(1.5, ge=1, description="…and at least this many times it.")
        min_new_merchants_week: int = Field(
            8, ge=1, description="Floor: new merchants reached unjustified in 7 days."
        )
        week_factor: float = Field(2.5, ge=1, description="Times the usual week (daily mean × 7).")
        min_days: int = Field(5, ge=1, description="Days of own history before it counts.")
        min_peer_days: int = Field(
            20, ge=1, description="Peer actor-days needed while the actor's own are too few."
        )

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        if justified or state.kind != "staff":
            return []
        cfg = self.config
        assert isinstance(cfg, UnjustifiedAccess.Config)  # noqa: S101
        t = ctx.now_us
        who = event.actor.id
        team = state.team or "team"
        learning = len(state.history) < cfg.min_days
        if learning and ctx.team_baseline(state.team, "novel").n < cfg.min_peer_days:
            return []  # neither the actor's usual nor their peers' is known yet

        def usual(metric: str) -> tuple[Quantiles, Quantiles]:
            own = Quantiles() if learning else state.baseline(metric)
            return own, ctx.team_baseline(state.team, metric)

        def finding(
            count: int, threshold: float, merchants: Iterable[str], text: str
        ) -> list[Finding]:
            return [
                Finding(
                    self.name,
                    who,
                    t,
                    _severity(count, threshold),
                    _score(count, threshold),
                    tuple(sorted(merchants)),
                    (event.id,),
                    (text,),
                )
            ]

        bulk = state.b24.keys()
        if len(bulk) >= cfg.min_bulk_merchants:
            own, peers = usual("unjustified_bulk")
            # While the actor's own usual is unknown, compare with the busiest of their peers.
            usual_day = max(own.top, peers.top if learning else peers.p95)
            threshold = max(cfg.min_bulk_merchants, usual_day + cfg.margin, cfg.factor * usual_day)
            if len(bulk) >= threshold:
                return finding(
                    len(bulk),
                    threshold,
                    bulk,
                    f"{who} opened customer or order lists, or exports, of {len(bulk)} merchants "
                    f"in the last 24 h without a ticket or grant for them ({_list(bulk)}); "
                    f"their usual is {own}; {team} peers {peers}.",
                )
        if learning:
            return []  # until the actor has history, every merchant is "new" to them
        new = state.n24.keys()
        if len(new) >= cfg.min_new_merchants:
            own, peers = usual("novel")
            usual_day = max(own.p95, peers.p95)
            threshold = max(cfg.min_new_merchants, usual_day + cfg.margin, cfg.factor * usual_day)
            if len(new) >= threshold:
                return finding(
                    len(new),
                    threshold,
                    new,
                    f"{who} opened customer data of {len(new)} merchants they had not worked on "
                    f"before, in the last 24 h, without a ticket or grant for them "
                    f"({_list(new)}); their usual is {own}; {team} peers {peers}.",
                )
        week = state.n7.keys()
        if len(week) >= cfg.min_new_merchants_week:
            own, peers = usual("novel")
            threshold = max(
                cfg.min_new_merchants_week, cfg.week_factor * 7 * max(own.mean, peers.mean)
            )
            if len(week) >= threshold:
                found = finding(
                    len(week),
                    threshold,
                    week,
                    f"{who} opened customer data of {len(week)} merchants they had not worked on "
                    f"before, over the last 7 days, without a ticket or grant for them "
                    f"({_list(week)}); on average they reach {own.mean:.1f} such merchants a day, "
                    f"{team} peers {peers.mean:.1f}.",
                )
                return [dataclasses.replace(found[0], severity=Severity.MEDIUM)]
        return []


class BreadthVolume(Detector):
    """Many more merchants, customers or records than the actor and their peers usually reach."""

    graded = True
    weight = 1.0

    name = "breadth_volume"
    description = (
        "Distinct merchants, customers and records in 24 h against own and peer baselines."
    )

    class Config(DetectorConfig):
        """Thresholds."""

        factor: float = Field(
            3.0, ge=1, description="Times the higher of own busiest day and peer p95."
        )
        min_days: int = Field(7, ge=1, description="Days of own history before it judges.")
        min_merchants: int = Field(20, ge=1)
        min_subjects: int = Field(500, ge=1)
        min_records: int = Field(3000, ge=1)

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, BreadthVolume.Config)  # noqa: S101
        if len(state.history) < cfg.min_days:
            return []  # still learning what is usual for this actor
        t = ctx.now_us
        merchants, records, subjects = state.m24.keys(), state.records24, state.subjects24
        who = event.actor.id
        checks = (
            ("merchants", len(merchants), cfg.min_merchants, "distinct merchants"),
            ("subjects", subjects, cfg.min_subjects, "customer records viewed"),
            ("records", records, cfg.min_records, "records"),
        )
        for metric, value, floor, words in checks:
            own = state.baseline(metric)
            peers = ctx.team_baseline(state.team, metric)
            threshold = max(floor, cfg.factor * max(own.top, peers.p95))
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
                            f"{own} (busiest day {own.top:g}); {state.team or 'team'} peers {peers}.",
                        ),
                    )
                ]
        return []


class ExportAfterNotice(Detector):
    """Exports or downloads by someone who has given notice."""

    graded = True
    weight = 2.0

    name = "export_after_notice"
    description = "Export or download after staff.notice_given."

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        notice = ctx.notice.get(event.actor.id)
        if notice is None or ctx.now_us < notice or event.action not in ("export", "download"):
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
                    f"{event.actor.id} gave notice {days:.1f} days ago and then ran an "
                    f"{event.action} of {what} of merchant {event.merchant} {because}.",
                ),
            )
        ]


class UnusualContext(Detector):
    """A new device or country, together with unjustified list views or new merchants.

    Travel and new laptops are normal; so is ordinary ticketed work from them. What counts is
    the combination with what is done: unjustified bulk access, or unjustified access to
    merchants new to the actor. An hour the actor almost never works at raises it further.
    """

    graded = True
    weight = 1.2

    name = "unusual_context"
    description = "New device / new country (and odd hours) combined with unjustified bulk or new-merchant access."

    class Config(DetectorConfig):
        """Thresholds."""

        min_history_days: int = Field(7, ge=1, description="Days before anything is 'new'.")
        rare_hour_share: float = Field(
            0.01, ge=0, le=1, description="An hour this rare is unusual."
        )

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, UnusualContext.Config)  # noqa: S101
        if justified or state.kind != "staff" or len(state.history) < cfg.min_history_days:
            return []
        bulk = is_bulk(event)
        if not bulk and event.merchant not in state.n24:
            return []
        t = ctx.now_us
        unusual: list[str] = []
        device = getattr(event.source, "device", None) if event.source is not UNSET else None
        country = getattr(event.source, "country", None) if event.source is not UNSET else None
        if isinstance(device, str) and device not in state.devices:
            unusual.append(f"a device never seen for them ({device})")
        if isinstance(country, str) and country not in state.countries:
            unusual.append(f"a new country ({country})")
        if not unusual:
            return []
        total = sum(state.hours)
        hour = (t // HOUR) % 24
        if total >= 100 and state.hours[hour] <= cfg.rare_hour_share * total:
            unusual.append(f"at an hour they almost never work ({hour:02d}:00 UTC)")
        risky = "a list view or export" if bulk else "a first look at customer data"
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
                    f"{event.actor.id} did {risky} at merchant {event.merchant}, without a ticket "
                    f"or grant for it, from {', '.join(unusual)}.",
                ),
            )
        ]


class Collusion(Detector):
    """Two or more actors reaching the same unusual set of merchants without tickets.

    Only merchants new to each actor count, and the shared set must be a large part of the
    smaller actor's set: teams that touch many merchants overlap by chance, not by plan.
    """

    graded = True
    weight = 0.5

    name = "collusion"
    description = "Actors sharing unjustified access to the same new merchants within 7 days."

    class Config(DetectorConfig):
        """Thresholds."""

        min_shared: int = Field(6, ge=2, description="New merchants both reached without a ticket.")
        max_actors: int = Field(
            3, ge=2, description="A merchant more actors reached is not unusual."
        )
        min_share: float = Field(0.5, gt=0, le=1, description="…as a share of the smaller set.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, Collusion.Config)  # noqa: S101
        if justified or state.kind != "staff" or event.merchant not in state.n7:
            return []
        me = event.actor.id
        # ``unjustified_by`` is pruned once a day: entries can be up to a day past the week.
        week = ctx.now_us - 7 * DAY
        others = sorted(
            a
            for a, u in ctx.unjustified_by.get(event.merchant, {}).items()
            if a != me and u >= week
        )
        mine = state.n7.keys()
        findings = []
        for other in others:
            theirs = ctx.actors[other].n7.keys() if other in ctx.actors else set()
            week_ago = ctx.now_us - 7 * DAY
            shared = {
                m
                for m in mine & theirs
                # ``theirs`` is refreshed only by the other's own accesses: check their time too.
                if ctx.unjustified_by.get(m, {}).get(other, -1) >= week_ago
                and sum(1 for u in ctx.unjustified_by.get(m, {}).values() if u >= week_ago)
                <= cfg.max_actors
            }
            smaller = max(1, min(len(mine), len(theirs)))
            if len(shared) >= cfg.min_shared and len(shared) >= cfg.min_share * smaller:
                severity = Severity.HIGH if len(shared) >= 2 * cfg.min_shared else Severity.MEDIUM
                findings.append(
                    Finding(
                        self.name,
                        me,
                        ctx.now_us,
                        severity,
                        _score(len(shared), cfg.min_shared),
                        tuple(sorted(shared)),
                        (event.id,),
                        (
                            f"{me} and {other} both opened customer data of the same {len(shared)} "
                            f"merchants, new to each of them, in the last 7 days without a ticket "
                            f"or grant ({_list(shared)}); that is {len(shared) / smaller:.0%} of the "
                            f"new merchants the smaller of the two reached.",
                        ),
                    )
                )
        return findings


class FakeTickets(Detector):
    """Tickets the actor opened and closed within minutes, used to justify bulk access."""

    graded = True
    weight = 1.0

    name = "fake_tickets"
    description = "Self-made tickets closed within minutes that 'justify' list views or exports."

    class Config(DetectorConfig):
        """Thresholds."""

        max_minutes: int = Field(
            10, ge=1, description="A self-made ticket closed this fast is suspicious."
        )
        prior_days: float = Field(
            10, ge=0, description="The team's rate weighs like this many of own days."
        )
        floor_rate: float = Field(0.05, gt=0, description="Least rate assumed, a working day.")
        medium_p: float = Field(
            0.01, gt=0, le=1, description="Medium when this unlikely at the usual rate."
        )
        high_p: float = Field(1e-3, gt=0, le=1, description="High when this unlikely.")

    def _suspicious(self, ticket: Ticket | None, actor: str | None) -> bool:
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        return (
            ticket is not None
            and ticket.opened_us is not None
            and ticket.closed_us is not None
            and ticket.closed_us - ticket.opened_us <= cfg.max_minutes * MINUTE
            and actor is not None
            and ticket.opened_by == actor
            and actor in ticket.assignees
        )

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        just = event.justification
        ticket_id = just.ticket if just is not UNSET and isinstance(just.ticket, str) else None
        if ticket_id is None or not is_bulk(event):
            return []
        ticket = ctx.tickets.get(ticket_id)
        if not self._suspicious(ticket, event.actor.id):
            return []  # not (yet) closed: judged when it closes
        assert ticket is not None  # noqa: S101
        events = tuple(ticket.bulk_events) if event.id in ticket.bulk_events else (event.id,)
        return self._finding(
            ctx, event.actor.id, ticket_id, ticket, ctx.now_us, event.merchant, events
        )

    def observe_context(self, event: ContextEvent, ctx: Context) -> list[Finding]:
        """At a ticket's close: list views or exports made under a self-made, minutes-long ticket."""
        if event.type != "ticket.closed" or not isinstance(event.ticket, str):
            return []
        ticket = ctx.tickets.get(event.ticket)
        if (
            ticket is None
            or not ticket.bulk_events
            or not self._suspicious(ticket, ticket.opened_by)
        ):
            return []
        actor = ticket.opened_by
        assert actor is not None  # noqa: S101
        return self._finding(
            ctx,
            actor,
            event.ticket,
            ticket,
            ctx.now_us,
            ticket.merchant or "?",
            tuple(ticket.bulk_events),
        )

    def _finding(
        self,
        ctx: Context,
        actor: str,
        ticket_id: str,
        ticket: Ticket,
        t: int,
        merchant: str,
        events: tuple[str, ...],
    ) -> list[Finding]:
        """One such ticket is low; more of them in a day than the actor and their team
        usually open (their own rate, shrunk towards the team's) is medium, then high."""
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        minutes = ((ticket.closed_us or 0) - (ticket.opened_us or 0)) / MINUTE
        state = ctx.actor(actor)
        mark(state, "quick_ticket", t, ticket_id)
        day_ago = t - DAY
        today = sum(1 for u, _ in state.marks.get("quick_ticket", ()) if u >= day_ago)
        peers, _ = team_rate(ctx, actor, state.team, "quick_ticket")
        rate, own, _ = base_rate(ctx, state, "quick_ticket", peers, cfg.prior_days, cfg.floor_rate)
        p = poisson_tail(today, rate)
        severity = Severity.LOW
        if today >= 2:
            severity = _by_chance(p, 1.0, cfg.medium_p, cfg.high_p) or Severity.LOW
        return [
            Finding(
                self.name,
                actor,
                t,
                severity,
                min(100.0, 30.0 + 10 * today),
                (merchant,),
                events,
                (
                    f"{actor} opened customer or order lists of merchant {merchant} citing ticket "
                    f"{ticket_id}, which they opened themselves, handled alone and closed "
                    f"{minutes:.0f} minutes later; {len(events)} list view(s) or export(s) cite "
                    f"it. That is {today} such ticket(s) in 24 h; they usually open "
                    f"{own:.2f} a working day, {state.team or 'team'} peers {peers:.2f} "
                    f"(chance {_chance(p)}).",
                ),
            )
        ]


class RepeatedLooks(Detector):
    """Repeated unjustified looks at the same few customers."""

    graded = True
    weight = 1.0

    name = "repeated_looks"
    description = "The same customers viewed again and again without a ticket."

    class Config(DetectorConfig):
        """Thresholds."""

        min_looks: int = Field(6, ge=2, description="Unjustified looks at one customer in 14 days.")
        min_days: int = Field(4, ge=1, description="…spread over at least this many days.")
        high_profile_days: int = Field(
            2, ge=1, description="Days a high-profile customer looked at unjustified is high."
        )

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, RepeatedLooks.Config)  # noqa: S101
        if justified or state.kind != "staff" or event.subjects is UNSET or len(event.subjects) > 5:
            return []
        t = ctx.now_us
        hot = []
        vip = []
        for subject in event.subjects:
            looks = state.looks.setdefault(subject, [])
            looks.append(t)
            recent = [x for x in looks if x >= t - 14 * DAY]
            state.looks[subject] = recent
            days = len({x // DAY for x in recent})
            if len(recent) >= cfg.min_looks and days >= cfg.min_days:
                hot.append((subject, len(recent), days))
            elif subject in self.high_profile and days >= cfg.high_profile_days:
                vip.append((subject, len(recent), days))
        if not hot and not vip:
            return []
        text = ", ".join(f"{s} ({n} times on {d} days)" for s, n, d in hot + vip)
        also = (
            f" {', '.join(s for s, _, _ in vip)} is flagged high-profile by the platform."
            if vip
            else ""
        )
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                Severity.HIGH if vip else Severity.MEDIUM,
                75.0 if vip else 60.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} looked again at {text} in the last 14 days without a "
                    f"ticket or grant.{also}",
                ),
            )
        ]


class LongHorizon(Detector):
    """Merchants new to the actor, listed or browsed without a ticket, over days.

    Two marks, each once per merchant and 30 days: list views or exports of a merchant new to
    the actor without a ticket or grant (``harvest``), and two or more customers of such a
    merchant looked at without one (``browse``: a look-up for a caller is one customer). The
    count of the last 7 days is compared with the rate expected of the actor — their own rate
    before that week, shrunk towards their team's (so a newcomer or a small team has a
    sensible prior) — and graded by how unlikely it is by chance.
    """

    name = "long_horizon"
    description = (
        "New merchants listed or browsed without a ticket over 7 days, against the actor's "
        "and team's own rate."
    )
    graded = True
    weight = 1.0

    class Config(DetectorConfig):
        """Thresholds."""

        min_count: int = Field(2, ge=1, description="Merchants in 7 days before it judges.")
        min_days: int = Field(5, ge=1, description="Working days of own history first.")
        min_peer_days: int = Field(20, ge=1, description="Peer working days needed.")
        max_rate: float = Field(
            0.3,
            gt=0,
            description="A signal the actor or their team shows this often a day tells nothing.",
        )
        prior_days: float = Field(
            10, ge=0, description="The team's rate weighs like this many of own days."
        )
        floor_rate: float = Field(0.02, gt=0, description="Least rate assumed, a working day.")
        low_p: float = Field(0.01, gt=0, le=1, description="Low when this unlikely by chance.")
        medium_p: float = Field(1e-3, gt=0, le=1, description="Medium when this unlikely.")
        high_p: float = Field(1e-5, gt=0, le=1, description="High when this unlikely.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        if justified or state.kind != "staff" or event.merchant not in state.n24:
            return []
        merchant = event.merchant
        if is_bulk(event):
            kind = "harvest"
        else:
            subjects = event.subjects if isinstance(event.subjects, list) else []
            seen = state.browsing.setdefault(merchant, [])
            seen += [c for c in subjects if c not in seen][:5]
            if len(seen) < 2:
                return []
            kind = "browse"
        count = mark(state, kind, ctx.now_us, merchant)  # newcomers' marks are their base rate
        if count < cfg.min_count or len(state.active) < cfg.min_days:
            return []  # everything is new to a newcomer
        peers, peer_days = team_rate(ctx, event.actor.id, state.team, kind)
        if peer_days < cfg.min_peer_days:
            return []  # the team's rate is not known yet
        rate, own, days = base_rate(ctx, state, kind, peers, cfg.prior_days, cfg.floor_rate)
        if max(own, peers) >= cfg.max_rate:
            return []  # routine for them or their team (fraud sweeps, onboarding checks)
        expected = rate * days
        p = poisson_tail(count, expected)
        severity = _by_chance(p, cfg.low_p, cfg.medium_p, cfg.high_p)
        if severity is None:
            return []
        week = ctx.now_us - 7 * DAY
        merchants = sorted(m for u, m in state.marks[kind] if u >= week)
        what = (
            "opened customer or order lists, or exports,"
            if kind == "harvest"
            else "looked at several customers"
        )
        who = event.actor.id
        return [
            Finding(
                self.name,
                who,
                ctx.now_us,
                severity,
                min(100.0, 10 * -math.log10(max(p, 1e-10))),
                tuple(merchants),
                (event.id,),
                (
                    f"{who} {what} of {count} merchants new to them without a ticket or grant "
                    f"in the last 7 days ({_list(merchants)}); their own earlier rate is "
                    f"{own:.2f} such merchants a working day, {state.team or 'team'} peers "
                    f"{peers:.2f}, so {expected:.2f} were expected over {days} working day(s) "
                    f"(chance {_chance(p)}).",
                ),
            )
        ]
