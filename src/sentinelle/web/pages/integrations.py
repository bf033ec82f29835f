"""``/integrations``: what detection receives from the help desk's and HR's feeds, as
``/v1/feeds`` serves it (:mod:`sentinelle.detect.feeds`), then the inventory of apps,
integrations and services (what each reads, from how many merchants, how much recently against
its usual, since when, and its alerts), as ``/v1/integrations`` serves it
(:mod:`sentinelle.inventory`); for the people who read alerts (permission ``alerts:read``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, reading
from sentinelle.detect.feeds import saved_feeds
from sentinelle.errors import Error
from sentinelle.inventory import (
    ALERT_DAYS,
    RECENT_DAYS,
    USUAL_DAYS,
    USUAL_MIN_DAYS,
    Integration,
    inventory,
)
from sentinelle.web.common import render, state_of, viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/integrations")
async def integrations(request: Request) -> Response:
    """Every machine that read customer data."""
    seen = await viewer(request, Permission.ALERTS_READ)
    state = state_of(request)
    now = state.clock()

    def work(r: Reader) -> tuple[list[tuple[int, str]], list[Integration]]:
        try:
            feeds = saved_feeds(r.store, "this store").report()
        except Error as exc:  # not run yet, or a state it cannot read: said, the rest shown
            feeds = [(0, exc.diagnostics())]
        return feeds, inventory(r.store, now_us=now)

    feeds, rows = await reading(state, work)
    return render(
        "integrations.html",
        viewer=seen,
        section="/integrations",
        feeds=feeds,
        rows=rows,
        now=now,
        recent_days=RECENT_DAYS,
        usual_days=USUAL_DAYS,
        usual_min_days=USUAL_MIN_DAYS,
        alert_days=ALERT_DAYS,
    )
