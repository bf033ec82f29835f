"""``/``: a merchant's accesses for a merchant account; otherwise the open incidents with
their clocks and the alerts waiting for triage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, reading
from sentinelle.detect import Severity
from sentinelle.incidents import State as IncidentState
from sentinelle.web.common import (
    render,
    see_other,
    state_of,
    viewer,
    waiting_on,
    with_clocks,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    """The start page of the viewer's role."""
    seen = await viewer(request)
    merchant = seen.principal.merchant
    if merchant is not None:
        return see_other(f"/merchants/{merchant}")
    state = state_of(request)

    def work(r: Reader) -> dict[str, Any]:
        out: dict[str, Any] = {"incidents": [], "counts": None}
        if seen.may(Permission.INCIDENTS_READ):
            out["incidents"] = [
                (i, clock) for i, clock in with_clocks(r) if i.state is not IncidentState.CLOSED
            ]
        if seen.may(Permission.ALERTS_READ):
            counts = r.store.alert_counts(status="new")
            out["counts"] = [(Severity(s), counts.get(int(s), 0)) for s in reversed(Severity)]
            if out["incidents"]:  # of them, on people an open incident is about
                out["covered"] = waiting_on(r, {a for i, _ in out["incidents"] for a in i.actors})
        return out

    found = await reading(state, work)
    return render("home.html", viewer=seen, section="/", **found)
