"""``/v1/incidents/{id}/notices/…``: an incident's notices dry run and sent over HTTP, with the
server's settings (:mod:`sentinelle.notify.setup`), through the same engine as
``sentinelle incident notify`` (:mod:`sentinelle.response.runs`).

Sending and the dry run need ``incidents:decide`` (admin, dpo): a dry run sends nothing and
returns no contact, but it reads the shop's whole contact directory (every affected person
is looked up) and previews a decision to notify, so it is offered to those who may take it;
and a POST is never a reader's (``tests/e2e/test_api_permissions.py``). The runs' status
needs ``incidents:read``, as the notices' own status does. A send is attributed to the caller
(``key:NAME`` or the account), in the incident's log.

What the server cannot do now answers 409 with what to fix: the incident not assessed, a run
under way (here or in another process), the content changed since the version went out, and
the server's own configuration (a setting missing or wrong, named; a directory with bad rows,
by file and line, never an address).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from sentinelle.access import Permission
from sentinelle.api.deps import CurrentPrincipal, GuardedRoute, StateDep, guarded, locked
from sentinelle.api.responses import BAD_BODY, NOT_FOUND, ErrorBody
from sentinelle.errors import ConfigError
from sentinelle.notify.directory import DirectoryError
from sentinelle.notify.model import Audience
from sentinelle.response import NotifyError

__all__ = ["router"]

router = APIRouter(tags=["incidents"], route_class=GuardedRoute)
_REFUSED = {
    **NOT_FOUND,
    409: {
        "model": ErrorBody,
        "description": "Not now: the incident is not assessed, a run is under way, or the "
        "server's notice settings are missing or wrong (`detail` names the setting)",
    },
}


class SendRequest(BaseModel):
    """Send the audience's notices: ``version`` 1 first; the same version again resumes (sends
    only what is missing), a higher one is an update to everyone. ``confirm`` must be true."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    confirm: Literal[True]


def _refusal(exc: ConfigError | DirectoryError | NotifyError) -> HTTPException:
    return HTTPException(status_code=409, detail=exc.diagnostics())


@router.post(
    "/v1/incidents/{incident_id}/notices/{audience}/dry-run",
    responses=_REFUSED,
    **guarded(Permission.INCIDENTS_DECIDE),
)
async def dry_run_notices(state: StateDep, incident_id: str, audience: Audience) -> dict[str, Any]:
    """The audience's notice in every language (subject, text, HTML) and, with its contacts
    configured on the server, how many would get it and which ids the directory lacks.
    Nothing is sent or recorded."""
    try:
        found = await run_in_threadpool(state.notice_runs.dry_run, incident_id, audience)
    except (ConfigError, DirectoryError, NotifyError) as exc:
        raise _refusal(exc) from None
    return found.to_dict()


@router.post(
    "/v1/incidents/{incident_id}/notices/{audience}/send",
    status_code=202,
    responses={**_REFUSED, **BAD_BODY},
    **guarded(Permission.INCIDENTS_DECIDE),
)
async def send_notices(
    state: StateDep,
    principal: CurrentPrincipal,
    incident_id: str,
    audience: Audience,
    body: SendRequest,
) -> dict[str, Any]:
    """Start sending the audience's notices by SMTP, each recipient once, in the background:
    202 with the run's status once it is sending (lease taken, directory checked, content
    recorded); follow it with ``GET …/notices/runs``. It goes on if the client goes away."""

    def start() -> dict[str, Any]:
        run = state.notice_runs.start(
            incident_id, audience, by=principal.label, version=body.version
        )
        return run.to_dict()

    try:
        return await run_in_threadpool(start)
    except (ConfigError, DirectoryError, NotifyError) as exc:
        raise _refusal(exc) from None


@router.get(
    "/v1/incidents/{incident_id}/notices/runs",
    responses=NOT_FOUND,
    **guarded(Permission.INCIDENTS_READ),
)
async def notice_runs(state: StateDep, incident_id: str) -> dict[str, Any]:
    """The runs this server started for the incident, the latest per audience, under way or
    ended: ``{"runs": {audience: status}}``. What every run sent, here or elsewhere, is in
    ``GET …/notices``."""
    await locked(state, lambda: state.engine.get(incident_id))  # 404 for an unknown incident
    runs = state.notice_runs.status(incident_id)
    return {"runs": {a.value: s.to_dict() for a, s in runs.items()}}
