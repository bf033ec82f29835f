"""``/``: a merchant's accesses for a merchant account; otherwise the open incidents with
their clocks and the alerts waiting for triage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from sentinelle.access import Permission
from sentinelle.api.deps import locked
from sentinelle.detect import Severity
from sentinelle.incidents import State as IncidentState
from sentinelle.web.common import render, see_other, state_of, viewer

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

    def work() -> dict[str, Any]:
        out: dict[str, Any] = {"incidents": [], "counts": None}
        if seen.may(Permission.INCIDENTS_READ):
            out["incidents"] = [
                (i, state.engine.clock(i.id))
                for i in state.engine.incidents()
                if i.state is not IncidentState.CLOSED
            ]
        if seen.may(Permission.ALERTS_READ):
            counts = state.store.alert_counts(status="new")
            out["counts"] = [(Severity(s), counts.get(int(s), 0)) for s in reversed(Severity)]
        return out

    found = await locked(state, work)
    return render("home.html", viewer=seen, section="/", **found)
