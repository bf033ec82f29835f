"""``/v1/actors``: staff by risk, and one actor's activity per day against their usual and
their team's (:mod:`sentinelle.actors`) with their suspension, if any; permission
``actors:read``, never a merchant's. ``POST /v1/actors/{actor}/suspension/lift`` lifts a
suspension with a reason (``alerts:triage``: responders, DPOs, admins;
:func:`sentinelle.guard.respond.lift`).

Actors are staff (and apps, integrations) identifiers; nothing here names a customer. Times
are RFC 3339 in UTC, days ``YYYY-MM-DD`` (UTC).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from sentinelle import actors
from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor, invalid_cursor
from sentinelle.api.deps import CurrentPrincipal, GuardedRoute, StateDep, guarded, locked
from sentinelle.api.responses import BAD_BODY, NOT_FOUND, Rfc3339
from sentinelle.connectors import outbound
from sentinelle.detect.triage import MAX_REASON
from sentinelle.guard.respond import lift, suspension_of
from sentinelle.timeutil import DAY, iso, parse_time, to_us

__all__ = ["DEFAULT_DAYS", "MAX_LIMIT", "router"]

MAX_LIMIT: Final = 500
DEFAULT_DAYS: Final = 30  # the window when ``since`` is not given: the 30 days before ``until``
_KIND: Final = "actors"

router = APIRouter(prefix="/v1/actors", tags=["actors"], route_class=GuardedRoute)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityCounts(_Out):
    """Alerts per severity."""

    low: int
    medium: int
    high: int
    critical: int


class ActorRiskOut(_Out):
    """An actor in the risk list (see ``sentinelle.actors.ActorRisk``): ``score`` sums the
    severity weights of their alerts of the window that are not dismissed, halving every 7
    days; ``open`` counts those still new or acknowledged, per severity."""

    actor: str
    team: str | None
    score: float
    alerts: int
    open: SeverityCounts
    highest: str
    latest: str


class RiskPage(_Out):
    """One page of the risk list over ``[since, until)``; ``next`` continues it."""

    since: str
    until: str
    items: list[ActorRiskOut]
    next: str | None


class FiguresOut(_Out):
    """One day's figures: access events, distinct merchants, list views (customer or order
    lists, searches), exports (export, download), accesses citing no ticket or grant, and
    records exposed by allowed accesses."""

    accesses: int
    merchants: int
    list_views: int
    exports: int
    unjustified: int
    records: int


class AveragesOut(_Out):
    """The same figures as medians (usual) or averages per member (team)."""

    accesses: float
    merchants: float
    list_views: float
    exports: float
    unjustified: float
    records: float


class TeamDayOut(_Out):
    """The other members of the team active that day, and their average per member."""

    members: int
    average: AveragesOut


class DayOut(_Out):
    """A UTC day: the actor's figures, their usual (median of their active days among the 30
    before; ``null`` with fewer than 5) and their team's (``null`` if no other member was
    active)."""

    day: str
    figures: FiguresOut
    usual: AveragesOut | None
    team: TeamDayOut | None


class AlertOut(_Out):
    """An alert of the actor (the whole alert: ``GET /v1/alerts/{id}``)."""

    id: str
    detector: str
    severity: str
    status: str
    time: str
    last: str
    score: float


class SuspensionStepOut(_Out):
    """A step of the actor's suspensions: ``suspended`` or ``lifted``, when, by whom, why."""

    at: str
    kind: str
    by: str
    reason: str


class SuspensionOut(_Out):
    """The actor's latest suspension: in force (``active``) since when, by whom (``sentinelle``
    for the automatic response), on which alert, why; once lifted, when, by whom and why; and
    every suspension step, oldest first."""

    active: bool
    since: str
    by: str
    alert: str | None
    reason: str
    lifted: str | None
    lifted_by: str | None
    lift_reason: str | None
    history: list[SuspensionStepOut]


class LiftRequest(BaseModel):
    """Why the suspension is lifted (required: the guard log keeps it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON, pattern=r"\S")]


class LiftedOut(_Out):
    """A lifted suspension: whose, by whom, when, why, and the alert it was on."""

    actor: str
    lifted_by: str
    lifted: str
    reason: str
    alert: str | None


class ActivityOut(_Out):
    """An actor's window: every UTC day, their team, risk and alerts (newest first, at most
    100; ``alerts_total`` counts them all), and their latest suspension (``null``: never
    suspended)."""

    actor: str
    team: str | None
    since: str
    until: str
    days: list[DayOut]
    risk: ActorRiskOut | None
    alerts: list[AlertOut]
    alerts_total: int
    suspension: SuspensionOut | None


@router.get("", **guarded(Permission.ACTORS_READ))
async def list_actors(
    state: StateDep,
    since: Annotated[
        Rfc3339 | None, Query(description="Alerts triggered at or after (default: until − 30 d)")
    ] = None,
    until: Annotated[
        Rfc3339 | None, Query(description="Alerts triggered before (default: now)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
    ] = None,
) -> RiskPage:
    """Actors by risk over the window, highest first (then by actor): those with alerts
    triggered in ``[since, until)`` that are not all dismissed. ``next`` continues the list
    over the same window (it carries the window the first page resolved), ``null`` on the
    last page."""
    after: tuple[int, str] | None = None
    since_us = to_us(since) if since is not None else None
    until_us = to_us(until) if until is not None else None
    if cursor is not None:
        first, end, score, actor = decode_cursor(cursor, _KIND, (str, str, int, str))
        try:
            bound = (parse_time(first), parse_time(end))
        except ValueError:
            raise invalid_cursor(cursor) from None
        if since_us not in (None, bound[0]) or until_us not in (None, bound[1]):
            raise invalid_cursor(cursor, "it belongs to another window")
        since_us, until_us = bound
        after = (-score, actor)
    if until_us is None:
        until_us = min(state.clock(), actors.MAX_US)
    if since_us is None:
        since_us = max(until_us - DEFAULT_DAYS * DAY, actors.MIN_US)
    window = _window(since_us, until_us)

    def work() -> RiskPage:
        found = actors.risk_list(
            state.store, since_us=window[0], until_us=window[1], limit=limit + 1, after=after
        )
        page = found[:limit]
        more = len(found) > limit
        return RiskPage(
            since=iso(window[0]),
            until=iso(window[1]),
            items=[_risk_out(r) for r in page],
            next=encode_cursor(
                _KIND, iso(window[0]), iso(window[1]), -page[-1].key[0], page[-1].actor
            )
            if more
            else None,
        )

    return await locked(state, work)


@router.get("/{actor}", responses=NOT_FOUND, **guarded(Permission.ACTORS_READ))
async def get_actor(
    state: StateDep,
    actor: Annotated[str, Path(min_length=1, max_length=128)],
    since: Annotated[
        Rfc3339 | None,
        Query(description="First day: the UTC day of this time (default: until − 30 d)"),
    ] = None,
    until: Annotated[
        Rfc3339 | None, Query(description="End, excluded (default: now); at most 366 days")
    ] = None,
) -> ActivityOut:
    """The actor's activity per UTC day of ``[since, until)`` against their usual and their
    team's, their risk over the window and their alerts triggered in it. 404 for an actor no
    stored access event or alert names."""
    until_us = to_us(until) if until is not None else min(state.clock(), actors.MAX_US)
    since_us = (
        to_us(since) if since is not None else max(until_us - DEFAULT_DAYS * DAY, actors.MIN_US)
    )
    window = _window(since_us, until_us)
    if (window[1] - 1) // DAY - window[0] // DAY + 1 > actors.MAX_WINDOW_DAYS:
        raise HTTPException(422, f"the window is longer than {actors.MAX_WINDOW_DAYS} days")

    def work() -> ActivityOut:
        found = actors.activity(state.store, actor, since_us=window[0], until_us=window[1])
        held = suspension_of(state.store, actor)
        return ActivityOut(
            actor=found.actor,
            team=found.team,
            since=iso(found.since_us),
            until=iso(found.until_us),
            days=[
                DayOut(
                    day=d.day.isoformat(),
                    figures=_figures_out(d.figures),
                    usual=_averages_out(d.usual) if d.usual is not None else None,
                    team=TeamDayOut(members=d.team.members, average=_averages_out(d.team.average))
                    if d.team is not None
                    else None,
                )
                for d in found.days
            ],
            risk=_risk_out(found.risk) if found.risk is not None else None,
            alerts=[
                AlertOut(
                    id=a.id,
                    detector=a.detector,
                    severity=str(a.severity),
                    status=a.status,
                    time=iso(a.time_us),
                    last=iso(a.last_us),
                    score=round(a.score, 1),
                )
                for a in found.alerts
            ],
            alerts_total=found.alerts_total,
            suspension=SuspensionOut.model_validate(held.to_dict()) if held else None,
        )

    return await locked(state, work)


@router.post(
    "/{actor}/suspension/lift",
    responses={**NOT_FOUND, **BAD_BODY},
    **guarded(Permission.ALERTS_TRIAGE),
)
async def lift_suspension(
    state: StateDep,
    principal: CurrentPrincipal,
    actor: Annotated[str, Path(min_length=1, max_length=128)],
    body: LiftRequest,
) -> LiftedOut:
    """Lift the actor's suspension, saying why: from now on their decisions follow the policy
    again (grants revoked by the suspension stay revoked). Logged with who and why. 404 when
    the actor is not suspended."""
    done = await locked(
        state,
        lambda: lift(
            state.store,
            actor,
            by=principal.label,
            reason=body.reason,
            now_us=state.clock(),
            also=outbound.guard_hook(state.store, state.settings),  # the lift goes out too
        ),
    )
    return LiftedOut.model_validate(done.to_dict())


def _window(since_us: int, until_us: int) -> tuple[int, int]:
    """``(since, until)`` if they make a window :mod:`sentinelle.actors` takes, else a 422."""
    if not since_us < until_us:
        raise HTTPException(422, "since must be before until")
    if since_us < actors.MIN_US or until_us > actors.MAX_US:
        raise HTTPException(422, "since and until must be between 0001-01-02 and 9999-12-30")
    return since_us, until_us


def _figures_out(f: actors.Figures) -> FiguresOut:
    return FiguresOut(
        accesses=f.accesses,
        merchants=f.merchants,
        list_views=f.list_views,
        exports=f.exports,
        unjustified=f.unjustified,
        records=f.records,
    )


def _averages_out(f: actors.Averages) -> AveragesOut:
    return AveragesOut(
        accesses=round(f.accesses, 3),
        merchants=round(f.merchants, 3),
        list_views=round(f.list_views, 3),
        exports=round(f.exports, 3),
        unjustified=round(f.unjustified, 3),
        records=round(f.records, 3),
    )


def _risk_out(r: actors.ActorRisk) -> ActorRiskOut:
    return ActorRiskOut(
        actor=r.actor,
        team=r.team,
        score=r.score,
        alerts=r.alerts,
        open=SeverityCounts(**r.open_by_severity),
        highest=str(r.highest),
        latest=iso(r.latest_us),
    )
