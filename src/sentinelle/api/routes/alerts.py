"""``/v1/alerts``: the stored alerts, newest first, filtered and paged in SQL, each with its
triage status and history; and their triage (``alerts:triage``), one alert or a batch, all or
nothing (:mod:`sentinelle.detect.triage`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor
from sentinelle.api.deps import (
    CurrentPrincipal,
    GuardedRoute,
    Reader,
    State,
    StateDep,
    guarded,
    locked,
    reading,
)
from sentinelle.api.responses import BAD_BODY, NOT_FOUND, Rfc3339
from sentinelle.detect import Severity
from sentinelle.detect.runner import alert_from_row
from sentinelle.detect.triage import (
    MAX_BATCH,
    MAX_REASON,
    MAX_SUPPRESS_DAYS,
    Decided,
    triage,
    triage_json,
)
from sentinelle.errors import NotFoundError
from sentinelle.timeutil import to_us

__all__ = ["MAX_LIMIT", "router"]

MAX_LIMIT: Final = 500
_KIND: Final = "alerts"

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], route_class=GuardedRoute)

_Id = Annotated[str, Field(min_length=1, max_length=64)]
_Decision = Literal["acknowledged", "dismissed", "escalated"]
_Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON, pattern=r"\S")]
_Days = Annotated[int, Field(ge=0, le=MAX_SUPPRESS_DAYS)]


class TriageRequest(BaseModel):
    """A decision on one alert: why is required; ``incident`` only with ``escalated`` (else
    a new incident is opened from the alert); ``suppress_days`` only with ``dismissed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    status: _Decision
    reason: _Reason
    incident: _Id | None = None
    suppress_days: _Days | None = None

    def apply(self, state: State, alert_ids: Sequence[str], *, by: str) -> Decided:
        """Record this decision on ``alert_ids`` (all or nothing), attributed to ``by``: what
        the API's triage routes and the console's forms run (under the store's lock)."""
        return triage(
            state.store,
            state.engine,
            alert_ids,
            self.status,
            by=by,
            reason=self.reason,
            incident=self.incident,
            suppress_days=self.suppress_days,
        )


class BulkTriageRequest(TriageRequest):
    """The same decision on up to 500 alerts, all or nothing; an escalation without
    ``incident`` opens one incident for them all."""

    ids: Annotated[list[_Id], Field(min_length=1, max_length=MAX_BATCH)]


@router.get("", **guarded(Permission.ALERTS_READ))
async def list_alerts(
    state: StateDep,
    min_severity: Annotated[
        Literal["low", "medium", "high", "critical"], Query(description="Lowest severity")
    ] = "low",
    detector: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: Annotated[Rfc3339 | None, Query(description="Triggered at or after (RFC 3339)")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Triggered before (RFC 3339)")] = None,
    status: Annotated[
        Literal["new", "acknowledged", "dismissed", "escalated"] | None,
        Query(description="Only alerts with this triage status"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Stored alerts, newest first (by time, then id), as ``sentinelle alerts --json`` prints
    them, with their triage ``status`` and history (``triage``); ``next`` continues the list
    (same filters), ``null`` on the last page."""
    before = None
    if cursor is not None:
        time_us, alert_id = decode_cursor(cursor, _KIND, (int, str))
        before = (time_us, alert_id)

    def work(r: Reader) -> dict[str, Any]:
        rows = r.store.alerts_page(
            limit=limit + 1,
            before=before,
            min_severity=int(Severity.parse(min_severity)),
            detector=detector,
            actor=actor,
            since_us=to_us(since) if since is not None else None,
            until_us=to_us(until) if until is not None else None,
            status=status,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "items": triage_json(r.store, [alert_from_row(a).to_dict() for a in page]),
            "next": encode_cursor(_KIND, page[-1].time_us, page[-1].id) if more else None,
        }

    return await reading(state, work)


# A decision answers 404 (no such alert or incident) or 400 (a body that is not UTF-8 JSON).
_DECIDE: Final = {**NOT_FOUND, **BAD_BODY}


@router.post("/triage", responses=_DECIDE, **guarded(Permission.ALERTS_TRIAGE))
async def triage_alerts(
    state: StateDep, principal: CurrentPrincipal, body: BulkTriageRequest
) -> dict[str, Any]:
    """The same decision on many alerts, all or nothing: an unknown alert refuses the whole
    batch (404, naming it). An escalation joins ``incident`` or opens one for them all."""

    return await locked(state, lambda: body.apply(state, body.ids, by=principal.label).to_dict())


@router.get("/{alert_id}", responses=NOT_FOUND, **guarded(Permission.ALERTS_READ))
async def get_alert(state: StateDep, alert_id: str) -> dict[str, Any]:
    """One stored alert, as ``sentinelle alerts --json`` prints it, with its triage
    ``status`` and history (``triage``: at, by, status, reason, incident, suppress_until)."""

    def work(r: Reader) -> dict[str, Any]:
        row = r.store.alert(alert_id)
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        return triage_json(r.store, [alert_from_row(row).to_dict()])[0]

    return await reading(state, work)


@router.post("/{alert_id}/triage", responses=_DECIDE, **guarded(Permission.ALERTS_TRIAGE))
async def triage_alert(
    state: StateDep, principal: CurrentPrincipal, alert_id: str, body: TriageRequest
) -> dict[str, Any]:
    """Decide on an alert: acknowledged, dismissed (``suppress_days``: the same actor and
    detector raise no alert for that many days) or escalated (joins ``incident``, or opens
    one from the alert: its id is in ``incident``). Returns the alert with its history."""

    def work() -> dict[str, Any]:
        decided = body.apply(state, [alert_id], by=principal.label)
        row = state.store.alert(alert_id)
        if row is None:  # pragma: no cover - triage refused an unknown alert
            raise NotFoundError(f"no alert with id {alert_id!r}")
        alert = triage_json(state.store, [alert_from_row(row).to_dict()])[0]
        return {**alert, "incident": decided.incident, "incident_opened": decided.opened}

    return await locked(state, work)
