"""Actors: who to look at first, and what one actor did, day by day, against their usual and
their team's.

Actors are staff (and apps, integrations) identifiers, never customers' personal data. Both
functions read the per-day rollup ingest keeps (:mod:`sentinelle.store.activity`) and the
alerts, so their cost depends on the number of actors, days and alerts, not on the number of
stored events. The console and ``/v1/actors`` call them.

**Risk** (:func:`risk_list`). An actor's risk over a window is the sum, over their alerts
triggered in the window and not dismissed, of the alert's severity weight (low 1, medium 3,
high 9, critical 27: one step of severity weighs as much as three alerts of the step below)
halved for every :data:`HALF_LIFE_DAYS` days between the alert's last event and the end of
the window; rounded to 3 decimals. Dismissed alerts count for nothing: a person decided they
were no abuse. Unlike ``sentinelle risk`` (which weighs each detector's own score and caps at
100), the sum is not capped, so the list keeps its order at the top.

**Activity** (:func:`activity`). Per UTC day of the window, the actor's figures (access
events, distinct merchants, list views, exports, accesses citing no ticket or grant, records
exposed; defined in :class:`~sentinelle.store.activity.ActorDayRow`); their *usual*: for each
figure, the median over the days among the :data:`USUAL_DAYS` before that day on which the
actor made at least one access (days off are not zeros), given once they had
:data:`USUAL_MIN_DAYS` such days; and their *team's*: the average per member over the other
members of the actor's team who made at least one access that day (the actor left out, so
they do not pull the comparison towards themselves).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from sentinelle.detect import Severity
from sentinelle.errors import NotFoundError
from sentinelle.store import Store
from sentinelle.store.activity import ActorDayRow, RiskAlertRow, TeamDayRow
from sentinelle.timeutil import DAY, to_us

__all__ = [
    "HALF_LIFE_DAYS",
    "MAX_ALERTS",
    "MAX_WINDOW_DAYS",
    "SEVERITY_WEIGHTS",
    "USUAL_DAYS",
    "USUAL_MIN_DAYS",
    "ActivityDay",
    "ActorActivity",
    "ActorAlert",
    "ActorRisk",
    "Averages",
    "Figures",
    "TeamDay",
    "activity",
    "risk_list",
    "risk_of",
]

SEVERITY_WEIGHTS: Final = {
    Severity.LOW: 1,
    Severity.MEDIUM: 3,
    Severity.HIGH: 9,
    Severity.CRITICAL: 27,
}
HALF_LIFE_DAYS: Final = 7.0
USUAL_DAYS: Final = 30
USUAL_MIN_DAYS: Final = 5
MAX_WINDOW_DAYS: Final = 366  # days of one activity() answer
MAX_ALERTS: Final = 100  # alerts listed with an actor's activity (all are counted)
#: Times a window may start or end at: whole UTC days from 0001-01-02 to 9999-12-30, so every
#: day of a window has a date.
MIN_US: Final = to_us(dt.datetime(1, 1, 2, tzinfo=dt.UTC))
MAX_US: Final = to_us(dt.datetime(9999, 12, 30, tzinfo=dt.UTC))
_OPEN: Final = frozenset({"new", "acknowledged"})


@dataclass(frozen=True, slots=True)
class Figures:
    """One actor's access events of one day (see
    :class:`~sentinelle.store.activity.ActorDayRow` for each figure)."""

    accesses: int = 0
    merchants: int = 0
    list_views: int = 0
    exports: int = 0
    unjustified: int = 0
    records: int = 0


@dataclass(frozen=True, slots=True)
class Averages:
    """The same figures as :class:`Figures`, as medians or averages."""

    accesses: float
    merchants: float
    list_views: float
    exports: float
    unjustified: float
    records: float


_FIGURES: Final = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True, slots=True)
class TeamDay:
    """The team's day: how many other members were active, and their average per member."""

    members: int
    average: Averages


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """One UTC day of an actor's activity: theirs, their usual (``None`` with too little
    history) and their team's (``None`` without a team or with no other member active)."""

    day: dt.date
    figures: Figures
    usual: Averages | None
    team: TeamDay | None


@dataclass(frozen=True, slots=True)
class ActorAlert:
    """An alert of the actor, as lists show it (the whole alert is at ``/v1/alerts/{id}``)."""

    id: str
    detector: str
    severity: Severity
    status: str
    time_us: int
    last_us: int
    score: float


@dataclass(frozen=True, slots=True)
class ActorRisk:
    """An actor's place in the risk list over a window.

    ``alerts``: their alerts triggered in the window and not dismissed (what ``score`` sums);
    ``open_by_severity``: of those, the ones awaiting a decision (new or acknowledged), per
    severity name; ``highest``: the highest severity of ``alerts``; ``latest_us``: the latest
    last event of ``alerts``; ``team``: the actor's latest known team.
    """

    actor: str
    team: str | None
    score: float
    alerts: int
    open_by_severity: dict[str, int]
    highest: Severity
    latest_us: int

    @property
    def key(self) -> tuple[int, str]:
        """Where it sits in the list (highest score first, then by actor): a page after this
        one starts after this key. The score in thousandths, as it is rounded."""
        return (-round(self.score * 1000), self.actor)


@dataclass(frozen=True, slots=True)
class ActorActivity:
    """An actor's window: every UTC day from ``since`` to ``until`` (zeros on days without
    access), their team, their risk over the window (``None`` without an alert that counts),
    their alerts triggered in the window, newest first (at most :data:`MAX_ALERTS`, all
    statuses; ``alerts_total`` counts them all)."""

    actor: str
    team: str | None
    since_us: int
    until_us: int
    days: list[ActivityDay]
    risk: ActorRisk | None
    alerts: list[ActorAlert]
    alerts_total: int


def risk_of(alerts: Sequence[RiskAlertRow], *, until_us: int) -> float:
    """The risk score of these alerts (one actor's) at ``until`` (see the module docstring)."""
    total = 0.0
    for alert in alerts:
        if alert.status == "dismissed":
            continue
        age_days = max(0, until_us - alert.last_us) / DAY
        total += SEVERITY_WEIGHTS[Severity(alert.severity)] * 0.5 ** (age_days / HALF_LIFE_DAYS)
    return round(total, 3)


def risk_list(
    store: Store,
    *,
    since_us: int,
    until_us: int,
    limit: int,
    after: tuple[int, str] | None = None,
) -> list[ActorRisk]:
    """Actors with alerts triggered in ``[since, until)`` that are not all dismissed, highest
    risk first (then by actor id); up to ``limit``, after the :attr:`ActorRisk.key` ``after``
    (the last of the previous page)."""
    _check_window(since_us, until_us)
    # One pass over the alerts' four columns that count, each actor's figures summed as
    # risk_of() and _risk() do (same order, same operations: the same scores to the bit);
    # every alert of the window is read, so nothing per alert but arithmetic.
    # Figures: [score, alerts, highest severity, latest last event, open per severity].
    weights = {int(s): w for s, w in SEVERITY_WEIGHTS.items()}
    names = {int(s): str(s) for s in Severity}
    half_life, day, is_open = HALF_LIFE_DAYS, DAY, _OPEN
    by_actor: dict[str, list[Any]] = {}
    for actor, severity, status, last_us in store.risk_weights(since_us, until_us):
        fig = by_actor.get(actor)
        if fig is None:
            fig = by_actor[actor] = [0.0, 0, severity, last_us, dict.fromkeys(names.values(), 0)]
        age_days = max(0, until_us - last_us) / day
        fig[0] += weights[severity] * 0.5 ** (age_days / half_life)
        fig[1] += 1
        if severity > fig[2]:
            fig[2] = severity
        if last_us > fig[3]:
            fig[3] = last_us
        if status in is_open:
            fig[4][names[severity]] += 1
    ranked = sorted(
        (
            ActorRisk(actor, None, round(f[0], 3), f[1], f[4], Severity(f[2]), f[3])
            for actor, f in by_actor.items()
        ),
        key=lambda r: r.key,
    )
    if after is not None:
        ranked = [r for r in ranked if r.key > after]
    page = ranked[:limit]
    teams = store.actor_teams([r.actor for r in page])
    return [_with_team(r, teams.get(r.actor)) for r in page]


def activity(store: Store, actor: str, *, since_us: int, until_us: int) -> ActorActivity:
    """What ``actor`` did per UTC day of ``[since, until)``, against their usual and their
    team's, with their alerts (see the module docstring).

    Raises :class:`~sentinelle.errors.NotFoundError` for an actor no stored access event or
    alert names, and :class:`ValueError` for a window that is empty, longer than
    :data:`MAX_WINDOW_DAYS` or outside the dates a day can have.
    """
    _check_window(since_us, until_us)
    first, last = since_us // DAY, (until_us - 1) // DAY
    if last - first + 1 > MAX_WINDOW_DAYS:
        raise ValueError(
            f"the window spans {last - first + 1} days; at most {MAX_WINDOW_DAYS} at once"
        )
    if not store.actor_known(actor):
        raise NotFoundError(f"no actor {actor!r}: no stored access event or alert names them")
    team = store.actor_teams([actor]).get(actor)
    mine = {r.day: r for r in store.actor_days(actor, first - USUAL_DAYS, last)}
    theirs: dict[int, TeamDayRow] = {}
    if team is not None:
        theirs = {r.day: r for r in store.team_days(team, first, last, without=actor)}
    days = [
        ActivityDay(
            day=_date(day),
            figures=_figures(mine.get(day)),
            usual=_usual([mine[d] for d in range(day - USUAL_DAYS, day) if d in mine]),
            team=_team_day(theirs.get(day)),
        )
        for day in range(first, last + 1)
    ]
    alerts = store.risk_alerts(since_us, until_us, actor=actor)
    counted = [a for a in alerts if a.status != "dismissed"]
    return ActorActivity(
        actor=actor,
        team=team,
        since_us=since_us,
        until_us=until_us,
        days=days,
        risk=_risk(actor, counted, until_us=until_us, team=team) if counted else None,
        alerts=[
            ActorAlert(
                a.id, a.detector, Severity(a.severity), a.status, a.time_us, a.last_us, a.score
            )
            for a in alerts[:MAX_ALERTS]
        ],
        alerts_total=len(alerts),
    )


def _check_window(since_us: int, until_us: int) -> None:
    if not MIN_US <= since_us < until_us <= MAX_US:
        raise ValueError(
            "the window must start before it ends, between 0001-01-02 and 9999-12-30 (UTC)"
        )


def _risk(actor: str, alerts: list[RiskAlertRow], *, until_us: int, team: str | None) -> ActorRisk:
    """The risk entry of an actor's alerts that count (none dismissed, at least one)."""
    open_by = {str(s): 0 for s in Severity}
    for a in alerts:
        if a.status in _OPEN:
            open_by[str(Severity(a.severity))] += 1
    return ActorRisk(
        actor=actor,
        team=team,
        score=risk_of(alerts, until_us=until_us),
        alerts=len(alerts),
        open_by_severity=open_by,
        highest=Severity(max(a.severity for a in alerts)),
        latest_us=max(a.last_us for a in alerts),
    )


def _with_team(risk: ActorRisk, team: str | None) -> ActorRisk:
    return ActorRisk(
        risk.actor,
        team,
        risk.score,
        risk.alerts,
        risk.open_by_severity,
        risk.highest,
        risk.latest_us,
    )


def _date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)


def _figures(row: ActorDayRow | None) -> Figures:
    if row is None:
        return Figures()
    return Figures(*(getattr(row, name) for name in _FIGURES))


def _usual(days: list[ActorDayRow]) -> Averages | None:
    if len(days) < USUAL_MIN_DAYS:
        return None
    return Averages(
        *(float(statistics.median(getattr(d, name) for d in days)) for name in _FIGURES)
    )


def _team_day(row: TeamDayRow | None) -> TeamDay | None:
    if row is None or row.members == 0:
        return None
    return TeamDay(
        members=row.members,
        average=Averages(*(getattr(row, name) / row.members for name in _FIGURES)),
    )
