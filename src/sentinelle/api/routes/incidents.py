"""``/v1/incidents`` and ``/v1/register``: the incident workflow over HTTP, through the same
:class:`~sentinelle.response.ResponseEngine` as the CLI.

Reads need ``incidents:read`` (the register ``register:read``); opening, moving and recording a
scope ``incidents:write``; assessing and recording what was sent to the authority
``incidents:decide``. Every change is attributed to the caller (``key:NAME``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from sentinelle.access import Permission
from sentinelle.api.deps import (
    CurrentPrincipal,
    GuardedRoute,
    Reader,
    StateDep,
    guarded,
    locked,
    reading,
)
from sentinelle.api.responses import BAD_BODY, CONFLICT, NOT_FOUND, Rfc3339
from sentinelle.assess import facts_to_dict
from sentinelle.incidents import Clock, Incident, Phase, ScopeBasis, State
from sentinelle.notify.report import configured_controller, render_authority_report_html
from sentinelle.response import AssessOutcome, ResponseEngine
from sentinelle.timeutil import to_us

__all__ = ["router"]

router = APIRouter(tags=["incidents"], route_class=GuardedRoute)
_Id = Annotated[str, Field(min_length=1, max_length=64)]
# Something besides blanks and control characters: the engine refuses a reason that is blank
# once stripped (Python strips the control characters \x1c-\x1f too), so the schema says so.
_Text = Annotated[str, Field(min_length=1, max_length=5000, pattern=r"[^\s\x00-\x1f\x7f\x85]")]
# A change answers 404 (no such incident or alert), 409 (not in its state) or 400 (unreadable body).
_CHANGE = {**NOT_FOUND, **CONFLICT, **BAD_BODY}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IncidentCreate(_Body):
    """A new incident: its actors and window, or an alert to start from."""

    title: Annotated[str, Field(min_length=1, max_length=300)]
    actors: list[_Id] = Field(default_factory=list, max_length=1000)
    from_: Rfc3339 | None = Field(default=None, alias="from")
    to: Rfc3339 | None = None
    alert: _Id | None = None


class IncidentAdvance(_Body):
    """Move an incident to its next state, with the reason."""

    state: State
    reason: _Text

    def apply(self, engine: ResponseEngine, incident_id: str, *, by: str) -> Incident:
        """Move the incident, attributed to ``by`` (the API's route and the console's form)."""
        return engine.advance(incident_id, self.state, by=by, reason=self.reason)


class AssessRequest(_Body):
    """An assessment: facts people state (incident-facts keys), and changes to awareness or
    the scope basis; ``reason`` is required for a change that lowers a duty, narrows the scope
    or moves awareness later."""

    facts: dict[str, Any] | None = None
    aware_at: Rfc3339 | None = None
    basis: ScopeBasis | None = None
    reason: _Text | None = None

    def apply(
        self, engine: ResponseEngine, incident_id: str, *, by: str, source: str
    ) -> AssessOutcome:
        """Assess, attributed to ``by``; ``source`` names where the facts came from (errors)."""
        return engine.assess(
            incident_id,
            by=by,
            given=self.facts,
            source=source,
            aware_us=to_us(self.aware_at) if self.aware_at is not None else None,
            basis=self.basis,
            reason=self.reason,
        )


class PhaseRequest(_Body):
    """A notification sent to the supervisory authority (GDPR Art. 33(4))."""

    phase: Phase
    at: Rfc3339 | None = None
    reference: Annotated[str, Field(max_length=200)] | None = None
    note: _Text | None = None
    delay_reasons: _Text | None = None

    def apply(self, engine: ResponseEngine, incident_id: str, *, by: str) -> Clock:
        """Record the notification, attributed to ``by``; the 72-hour clock after it."""
        return engine.record_phase(
            incident_id,
            self.phase,
            by=by,
            sent_us=to_us(self.at) if self.at is not None else None,
            reference=self.reference,
            note=self.note,
            delay_reasons=self.delay_reasons,
        )


def _public(incident: Incident, engine_clock: dict[str, Any]) -> dict[str, Any]:
    return {**incident.to_dict(), "clock": engine_clock}


@router.get("/v1/incidents", **guarded(Permission.INCIDENTS_READ))
async def list_incidents(state: StateDep) -> list[dict[str, Any]]:
    """Every incident, oldest first, with its 72-hour clock."""

    def work(r: Reader) -> list[dict[str, Any]]:
        engine = r.engine
        return [_public(i, engine.clock(i.id).to_dict()) for i in engine.incidents()]

    return await reading(state, work)


@router.post(
    "/v1/incidents", status_code=201, responses=_CHANGE, **guarded(Permission.INCIDENTS_WRITE)
)
async def open_incident(
    state: StateDep, principal: CurrentPrincipal, body: IncidentCreate
) -> dict[str, Any]:
    """Open an incident (from an alert: its actor, and a window from 30 days before it)."""

    def work() -> dict[str, Any]:
        found = state.engine.open(
            title=body.title,
            by=principal.label,
            actors=body.actors,
            from_us=to_us(body.from_) if body.from_ is not None else None,
            to_us=to_us(body.to) if body.to is not None else None,
            alert_id=body.alert,
        )
        return _public(found, state.engine.clock(found.id).to_dict())

    return await locked(state, work)


@router.get(
    "/v1/incidents/{incident_id}", responses=NOT_FOUND, **guarded(Permission.INCIDENTS_READ)
)
async def get_incident(state: StateDep, incident_id: str) -> dict[str, Any]:
    """One incident with its 72-hour clock and its change log (who, when, why)."""

    def work(r: Reader) -> dict[str, Any]:
        engine = r.engine
        found = engine.get(incident_id)
        return {
            **_public(found, engine.clock(incident_id).to_dict()),
            "decisions": [e.to_dict() for e in engine.log(incident_id)],
        }

    return await reading(state, work)


@router.post(
    "/v1/incidents/{incident_id}/advance", responses=_CHANGE, **guarded(Permission.INCIDENTS_WRITE)
)
async def advance_incident(
    state: StateDep, principal: CurrentPrincipal, incident_id: str, body: IncidentAdvance
) -> dict[str, Any]:
    """Move the incident to its next state (open → assessed → notifying → closed)."""

    def work() -> dict[str, Any]:
        moved = body.apply(state.engine, incident_id, by=principal.label)
        return _public(moved, state.engine.clock(incident_id).to_dict())

    return await locked(state, work)


@router.get(
    "/v1/incidents/{incident_id}/scope", responses=NOT_FOUND, **guarded(Permission.INCIDENTS_READ)
)
async def get_scope(
    state: StateDep,
    incident_id: str,
    basis: Annotated[ScopeBasis | None, Query(description="[default: as assessed]")] = None,
) -> dict[str, Any]:
    """The scope counted from the ledger (counts only), on the basis assessed unless given."""
    return await reading(state, lambda r: r.engine.scope(incident_id, basis=basis).to_dict())


@router.get(
    "/v1/incidents/{incident_id}/facts", responses=NOT_FOUND, **guarded(Permission.INCIDENTS_READ)
)
async def get_facts(state: StateDep, incident_id: str) -> dict[str, Any]:
    """The facts the next assessment would use: edit and send back to ``assess``."""
    return await reading(state, lambda r: facts_to_dict(r.engine.prefilled_facts(incident_id)))


@router.post(
    "/v1/incidents/{incident_id}/assess", responses=_CHANGE, **guarded(Permission.INCIDENTS_DECIDE)
)
async def assess_incident(
    state: StateDep, principal: CurrentPrincipal, incident_id: str, body: AssessRequest
) -> dict[str, Any]:
    """Assess: scope, facts, severity and GDPR duties recorded in one transaction; what
    changed since the last assessment is in ``changes``."""

    return await locked(
        state,
        lambda: body.apply(
            state.engine, incident_id, by=principal.label, source="request body"
        ).to_dict(),
    )


@router.post(
    "/v1/incidents/{incident_id}/phases", responses=_CHANGE, **guarded(Permission.INCIDENTS_DECIDE)
)
async def record_phase(
    state: StateDep, principal: CurrentPrincipal, incident_id: str, body: PhaseRequest
) -> dict[str, Any]:
    """Record a notification sent to the authority; returns the 72-hour clock after it."""

    return await locked(
        state, lambda: body.apply(state.engine, incident_id, by=principal.label).to_dict()
    )


@router.get(
    "/v1/incidents/{incident_id}/notices", responses=NOT_FOUND, **guarded(Permission.INCIDENTS_READ)
)
async def get_notices(
    state: StateDep,
    incident_id: str,
    recipients: Annotated[bool, Query(description="List each notice (hashed address)")] = False,
) -> dict[str, Any]:
    """Where the incident's notices stand per audience: sent, failed, pending."""
    return await reading(
        state, lambda r: r.engine.notice_status(incident_id, recipients=recipients)
    )


@router.get(
    "/v1/incidents/{incident_id}/report",
    response_model=None,
    responses={
        **NOT_FOUND,
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
    },
    **guarded(Permission.INCIDENTS_READ),
)
async def get_report(
    state: StateDep,
    incident_id: str,
    format: Annotated[Literal["json", "html"], Query()] = "json",
) -> dict[str, Any] | HTMLResponse:
    """The report for the supervisory authority (GDPR Art. 33(3)): JSON, or the printable
    HTML page (no script, no external resource)."""
    controller = configured_controller(state.settings)
    report = await reading(state, lambda r: r.engine.report(incident_id, controller=controller))
    if format == "html":
        return HTMLResponse(render_authority_report_html(report))
    return report


@router.get(
    "/v1/register",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    **guarded(Permission.REGISTER_READ),
)
async def get_register(
    state: StateDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> list[dict[str, Any]] | PlainTextResponse:
    """The breach register (GDPR Art. 33(5)): every incident with its facts and decisions;
    ``format=csv`` for a spreadsheet (summary columns, every cell within Excel's limit)."""
    if format == "csv":
        text = await reading(state, lambda r: r.engine.register_csv())
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")
    return await reading(state, lambda r: r.engine.register())
