"""``/v1/alerts``: the stored alerts, newest first, filtered and paged in SQL."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor
from sentinelle.api.deps import GuardedRoute, StateDep, guarded, locked
from sentinelle.detect import Severity
from sentinelle.detect.runner import alert_from_row
from sentinelle.errors import NotFoundError
from sentinelle.timeutil import to_us

__all__ = ["MAX_LIMIT", "router"]

MAX_LIMIT: Final = 500
_KIND: Final = "alerts"

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], route_class=GuardedRoute)


@router.get("", **guarded(Permission.ALERTS_READ))
async def list_alerts(
    state: StateDep,
    min_severity: Annotated[
        Literal["low", "medium", "high", "critical"], Query(description="Lowest severity")
    ] = "low",
    detector: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Triggered at or after (RFC 3339)")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="Triggered before (RFC 3339)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Stored alerts, newest first (by time, then id), as ``sentinelle alerts --json`` prints
    them; ``next`` continues the list (same filters), ``null`` on the last page."""
    before = None
    if cursor is not None:
        time_us, alert_id = decode_cursor(cursor, _KIND, (int, str))
        before = (time_us, alert_id)

    def work() -> dict[str, Any]:
        rows = state.store.alerts_page(
            limit=limit + 1,
            before=before,
            min_severity=int(Severity.parse(min_severity)),
            detector=detector,
            actor=actor,
            since_us=to_us(since) if since is not None else None,
            until_us=to_us(until) if until is not None else None,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "items": [alert_from_row(r).to_dict() for r in page],
            "next": encode_cursor(_KIND, page[-1].time_us, page[-1].id) if more else None,
        }

    return await locked(state, work)


@router.get("/{alert_id}", **guarded(Permission.ALERTS_READ))
async def get_alert(state: StateDep, alert_id: str) -> dict[str, Any]:
    """One stored alert, as ``sentinelle alerts --json`` prints it."""
    row = await locked(state, lambda: state.store.alert(alert_id))
    if row is None:
        raise NotFoundError(f"no alert with id {alert_id!r}")
    return alert_from_row(row).to_dict()
