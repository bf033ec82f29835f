"""``/actors`` (who to look at first: actors by risk, the suspended ones marked) and
``/actors/{actor}`` (one actor's activity per day against their usual and their team's, as a
chart and a table; their alerts; the tickets and grants their accesses cited; their
suspension, with a form to lift it). Figures come from :mod:`sentinelle.actors`, as
``/v1/actors`` serves them; lifting goes through :func:`sentinelle.guard.respond.lift`, as
``POST /v1/actors/{actor}/suspension/lift``."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from sentinelle.access import Permission
from sentinelle.actors import activity, risk_list
from sentinelle.api.deps import Reader, locked, reading
from sentinelle.api.routes.actors import LiftRequest
from sentinelle.connectors import outbound
from sentinelle.errors import Error, NotFoundError
from sentinelle.guard.respond import lift, suspension_of
from sentinelle.store import Store
from sentinelle.timeutil import DAY, now_us, to_us
from sentinelle.web.common import (
    Viewer,
    plain,
    posted,
    render,
    see_other,
    state_of,
    validated,
    viewer,
)
from sentinelle.web.plot import Series, line_chart

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

METRICS: Final = {  # the first is shown unless another is asked for
    "unjustified": "accesses citing no ticket or grant",
    "merchants": "distinct merchants",
    "accesses": "accesses",
    "list_views": "list views",
    "exports": "exports",
    "records": "records exposed",
}
_ACCESSES_SHOWN: Final = 20_000  # accesses read for the tickets and grants they cited


def _window(request: Request) -> tuple[int, int, int, list[str]]:
    """``(since, until, days, problems)`` from ``?until=YYYY-MM-DD&days=N`` (default: the
    30 days up to today, UTC)."""
    problems = []
    raw_days = request.query_params.get("days", "30")
    days = int(raw_days) if raw_days.isdigit() and 1 <= int(raw_days) <= 366 else 30
    if raw_days != str(days):
        problems.append("days must be a whole number from 1 to 366")
    raw_until = request.query_params.get("until", "")
    end = (now_us() // DAY + 1) * DAY
    if raw_until:
        try:
            end = to_us(dt.datetime.fromisoformat(raw_until[:10]).replace(tzinfo=dt.UTC)) + DAY
        except ValueError:
            problems.append("until must be a date, YYYY-MM-DD")
    return end - days * DAY, end, days, problems


@router.get("/actors")
async def actors(request: Request) -> Response:
    """Actors by risk over the window."""
    seen = await viewer(request, Permission.ACTORS_READ)
    since, until, days, problems = _window(request)
    state = state_of(request)

    def work(r: Reader) -> dict[str, Any]:
        rows = risk_list(r.store, since_us=since, until_us=until, limit=200)
        return {"rows": rows, "suspended": r.store.suspensions(limit=200)}

    got = await reading(state, work)
    return render(
        "actors.html",
        viewer=seen,
        section="/actors",
        days=days,
        until=(until - DAY),
        problems=problems,
        rows=got["rows"],
        suspended=got["suspended"],
        suspended_ids={s.actor for s in got["suspended"]},
    )


def _cited(store: Store, actor: str, since: int, until: int) -> dict[str, Any]:
    """The tickets and grants the actor's accesses cited in the window, with counts."""
    tickets: Counter[str] = Counter()
    grants: Counter[str] = Counter()
    bare = total = 0
    for batch in store.access_events_by_actors([actor], since, until - 1):
        for _time, _seq, body in batch:
            total += 1
            why = json.loads(body).get("justification") or {}
            if why.get("ticket"):
                tickets[why["ticket"]] += 1
            if why.get("grant"):
                grants[why["grant"]] += 1
            if not why.get("ticket") and not why.get("grant"):
                bare += 1
        if total >= _ACCESSES_SHOWN:
            break
    return {
        "tickets": tickets.most_common(50),
        "grants": grants.most_common(50),
        "unjustified": bare,
        "read": total,
        "capped": total >= _ACCESSES_SHOWN,
        "n_tickets": len(tickets),
    }


@router.get("/actors/{actor}")
async def one_actor(request: Request, actor: str) -> Response:
    """One actor's activity per day, against their usual and their team's."""
    seen = await viewer(request, Permission.ACTORS_READ)
    return await _one(request, seen, actor)


@router.post("/actors/{actor}/suspension/lift")
async def lift_suspension(request: Request, actor: str) -> Response:
    """Lift the actor's suspension, with the reason the form gives (required)."""
    seen = await viewer(request, Permission.ALERTS_TRIAGE)
    form = dict(await posted(request, seen))
    body, problems = validated(
        LiftRequest, {"reason": form.get("reason", "")}, {"reason": "Reason"}
    )
    if body is None:
        error = "The suspension was not lifted: " + "; ".join(problems) + "."
        return await _one(request, seen, actor, status_code=422, error=error)
    state = state_of(request)
    try:
        await locked(
            state,
            lambda: lift(
                state.store,
                actor,
                by=seen.principal.label,
                reason=body.reason,
                now_us=state.clock(),
                also=outbound.guard_hook(state.store, state.settings),  # the lift goes out too
            ),
        )
    except Error as exc:
        error = "The suspension was not lifted: " + plain(exc)
        return await _one(request, seen, actor, status_code=422, error=error)
    return see_other(f"/actors/{quote(actor, safe='')}?lifted=1")


async def _one(
    request: Request, seen: Viewer, actor: str, *, status_code: int = 200, error: str = ""
) -> Response:
    since, until, days, problems = _window(request)
    metric = request.query_params.get("metric", "unjustified")
    if metric not in METRICS:
        problems.append(f"metric must be one of {', '.join(METRICS)}")
        metric = "unjustified"
    state = state_of(request)

    def work(r: Reader) -> dict[str, Any] | None:
        try:
            found = activity(r.store, actor, since_us=since, until_us=until)
        except NotFoundError:
            return None
        return {
            "found": found,
            "cited": _cited(r.store, actor, since, until),
            "suspension": suspension_of(r.store, actor),
        }

    got = await reading(state, work)
    if got is None:
        return render("missing.html", 404, viewer=seen, message=f"There is no actor {actor!r}.")
    found = got["found"]
    labels = [d.day.isoformat() for d in found.days]
    chart = line_chart(
        labels,
        [
            Series(actor, "mine", [float(getattr(d.figures, metric)) for d in found.days]),
            Series(
                "usual",
                "usual",
                [getattr(d.usual, metric) if d.usual else None for d in found.days],
            ),
            Series(
                "team",
                "team",
                [getattr(d.team.average, metric) if d.team else None for d in found.days],
            ),
        ],
        title=f"{actor}: {METRICS[metric]} per day, against their usual and their team's",
    )
    lifted = request.query_params.get("lifted") == "1"
    return render(
        "actor.html",
        status_code,
        viewer=seen,
        suspension=got["suspension"],
        notice="The suspension was lifted." if lifted and not error else "",
        error=error,
        section="/actors",
        a=found,
        actor=actor,
        chart=chart,
        metric=metric,
        metrics=METRICS,
        days=days,
        until=(until - DAY),
        problems=problems,
        **got["cited"],
    )
