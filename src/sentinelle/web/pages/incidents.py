"""``/incidents`` and ``/incidents/{id}``: the incident with its live 72-hour clock, its scope
counted from the ledger (summary and per merchant), severity with its parts, duties with their
reasons, authority phases, notice progress, the change log; and its actions: assess with a
facts form, record an authority notification, move it on, download the report.

Every action goes through the :class:`~sentinelle.response.ResponseEngine`, as the REST API's
does, attributed to the viewer; a refused action shows the page again with the engine's
reason and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from sentinelle.access import Permission
from sentinelle.api.deps import locked
from sentinelle.assess import facts_to_dict
from sentinelle.errors import Error, NotFoundError, ValidationError
from sentinelle.incidents import Phase, ScopeBasis
from sentinelle.incidents import State as IncidentState
from sentinelle.notify.model import Audience
from sentinelle.timeutil import parse_time
from sentinelle.web.common import Viewer, posted, render, see_other, state_of, viewer

__all__ = ["FACT_CHOICES", "router"]

router = APIRouter(include_in_schema=False)

# The facts a person states on the form, with their choices (the facts schema's): what the
# ledger cannot know. Anything else goes in the form's JSON field.
FACT_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "cause.intent": ("malicious", "accidental", "unknown"),
    "cause.source": ("internal", "external", "processor", "unknown"),
    "exfiltration": ("confirmed", "possible", "ruled_out"),
    "recipients": ("none", "trusted", "known", "unknown", "public"),
    "identifiability": ("negligible", "limited", "significant", "maximum"),
    "data_recovered": ("true", "false"),
    "subjects_contactable": ("true", "false"),
}
_NEXT: Final = {
    IncidentState.OPEN: (),  # assessing moves it on
    IncidentState.ASSESSED: (IncidentState.NOTIFYING, IncidentState.CLOSED),
    IncidentState.NOTIFYING: (IncidentState.CLOSED,),
    IncidentState.CLOSED: (),
}
_DONE: Final = {
    "assessed": "Assessment recorded.",
    "phase": "Notification to the authority recorded.",
    "moved": "Incident moved on.",
    "sending": "Sending started: the counts below grow as notices go out (reload the page).",
}


def _missing(seen: Viewer, incident_id: str) -> Response:
    return render(
        "missing.html", 404, viewer=seen, message=f"There is no incident {incident_id!r}."
    )


@router.get("/incidents")
async def incidents(request: Request) -> Response:
    """Every incident, newest first, with its clock."""
    seen = await viewer(request, Permission.INCIDENTS_READ)
    state = state_of(request)

    def work() -> list[Any]:
        found = state.engine.incidents()
        return [(i, state.engine.clock(i.id)) for i in reversed(found)]

    rows = await locked(state, work)
    return render("incidents.html", viewer=seen, section="/incidents", rows=rows)


def _choices_of(facts: dict[str, Any]) -> dict[str, str]:
    """The values of the form's choices in ``facts`` (dotted keys; booleans as JSON)."""
    out: dict[str, str] = {}
    for key in FACT_CHOICES:
        head, _, tail = key.partition(".")
        value = facts.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        if value is not None:
            out[key] = json.dumps(value) if isinstance(value, bool) else str(value)
    return out


def _given(incident: Any) -> dict[str, str]:
    """The form's values from the facts people stated before (dotted keys)."""
    given = incident.given or {}
    out = _choices_of(given)
    out["summary"] = str(given.get("summary", ""))
    mitigations = given.get("mitigations")
    out["mitigations"] = "\n".join(mitigations) if isinstance(mitigations, list) else ""
    return out


async def _page(
    request: Request,
    seen: Viewer,
    incident_id: str,
    *,
    status_code: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
) -> Response:
    state = state_of(request)

    def work() -> dict[str, Any] | None:
        try:
            found = state.engine.get(incident_id)
        except NotFoundError:
            return None
        return {
            "incident": found,
            "clock": state.engine.clock(incident_id),
            "scope": state.engine.scope(incident_id),
            "log": state.engine.log(incident_id),
            "notices": state.engine.notice_status(incident_id, recipients=False),
            "runs": state.notice_runs.status(incident_id),
        }

    found = await locked(state, work)
    if found is None:
        return _missing(seen, incident_id)
    incident = found["incident"]
    q = request.query_params
    return render(
        "incident.html",
        status_code,
        viewer=seen,
        section="/incidents",
        error=error,
        notice=_DONE.get(q.get("done", ""), ""),
        form=form if form is not None else _given(incident),
        current=_choices_of(facts_to_dict(incident.facts)) if incident.facts else {},
        choices=FACT_CHOICES,
        bases=[b.value for b in ScopeBasis],
        phases=[p.value for p in Phase],
        next_states=[s.value for s in _NEXT[incident.state]],
        audiences=[a.value for a in Audience],
        **found,
    )


@router.get("/incidents/{incident_id}")
async def incident(request: Request, incident_id: str) -> Response:
    """One incident."""
    seen = await viewer(request, Permission.INCIDENTS_READ)
    return await _page(request, seen, incident_id)


def _stated(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The facts the form states (empty fields state nothing), and what is wrong with it."""
    problems: list[str] = []
    given: dict[str, Any] = {}
    raw = form.get("facts_json", "").strip()
    if raw:
        try:
            extra = json.loads(raw)
        except json.JSONDecodeError as exc:
            extra = None
            problems.append(f"the facts JSON is not JSON ({exc.msg} at character {exc.pos})")
        if extra is not None and not isinstance(extra, dict):
            problems.append("the facts JSON must be an object of incident-facts keys")
        elif extra:
            given.update(extra)
    for key, allowed in FACT_CHOICES.items():
        value = form.get(key, "")
        if not value:
            continue
        if value not in allowed:
            problems.append(f"{key} must be one of {', '.join(allowed)}")
            continue
        head, _, tail = key.partition(".")
        typed: Any = value == "true" if allowed == ("true", "false") else value
        if tail:
            given.setdefault(head, {})
            if isinstance(given[head], dict):
                given[head][tail] = typed
        else:
            given[head] = typed
    if form.get("summary", "").strip():
        given["summary"] = form["summary"].strip()
    lines = [m.strip() for m in form.get("mitigations", "").splitlines() if m.strip()]
    if lines:
        given["mitigations"] = lines
    return given, problems


def _plain(exc: Error) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems)
    return exc.diagnostics()


@router.post("/incidents/{incident_id}/assess")
async def assess(request: Request, incident_id: str) -> Response:
    """Assess with the form's facts, awareness and scope basis."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    form = dict(await posted(request, seen))
    given, problems = _stated(form)
    aware_us = None
    if form.get("aware_at", "").strip():
        try:
            aware_us = parse_time(form["aware_at"].strip())
        except ValueError:
            problems.append("aware at must be an RFC 3339 time, e.g. 2026-12-01T09:30:00Z")
    basis = form.get("basis") or None
    if basis is not None and basis not in {b.value for b in ScopeBasis}:
        problems.append("scope basis must be unjustified or all")
    if problems:
        return await _page(
            request,
            seen,
            incident_id,
            status_code=422,
            error="Nothing was recorded: " + "; ".join(problems) + ".",
            form=form,
        )
    state = state_of(request)

    def work() -> Any:
        return state.engine.assess(
            incident_id,
            by=seen.principal.label,
            given=given or None,
            source="the facts form",
            aware_us=aware_us,
            basis=ScopeBasis(basis) if basis else None,
            reason=form.get("reason", "").strip() or None,
        )

    return await _act(request, seen, incident_id, work, "assessed", form)


async def _act(
    request: Request,
    seen: Viewer,
    incident_id: str,
    work: Any,
    done: str,
    form: dict[str, str] | None = None,
    *,
    on_store: bool = True,
    failed: str = "Nothing was recorded: ",
) -> Response:
    """Run an action (under the store's lock, or on connections of its own when not
    ``on_store``); on success back to the page (303), else the page with the reason."""
    state = state_of(request)
    try:
        await (locked(state, work) if on_store else run_in_threadpool(work))
    except NotFoundError:
        return _missing(seen, incident_id)
    except Error as exc:
        status = 422 if isinstance(exc, ValidationError) else 409
        return await _page(
            request, seen, incident_id, status_code=status, error=failed + _plain(exc), form=form
        )
    return see_other(f"/incidents/{incident_id}?done={done}")


@router.post("/incidents/{incident_id}/phases")
async def record_phase(request: Request, incident_id: str) -> Response:
    """Record a notification sent to the supervisory authority."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    form = dict(await posted(request, seen))
    problems = []
    phase = form.get("phase", "")
    if phase not in {p.value for p in Phase}:
        problems.append("choose the phase: initial, complementary or final")
    sent_us = None
    if form.get("sent_at", "").strip():
        try:
            sent_us = parse_time(form["sent_at"].strip())
        except ValueError:
            problems.append("sent at must be an RFC 3339 time, e.g. 2026-12-01T09:30:00Z")
    for name, limit in (("reference", 200), ("note", 5000), ("delay_reasons", 5000)):
        if len(form.get(name, "")) > limit:
            problems.append(f"{name} is longer than {limit} characters")
    if problems:
        return await _page(
            request,
            seen,
            incident_id,
            status_code=422,
            error="Nothing was recorded: " + "; ".join(problems) + ".",
        )
    state = state_of(request)

    def work() -> Any:
        return state.engine.record_phase(
            incident_id,
            phase,
            by=seen.principal.label,
            sent_us=sent_us,
            reference=form.get("reference", "").strip() or None,
            note=form.get("note", "").strip() or None,
            delay_reasons=form.get("delay_reasons", "").strip() or None,
        )

    return await _act(request, seen, incident_id, work, "phase")


@router.post("/incidents/{incident_id}/advance")
async def advance(request: Request, incident_id: str) -> Response:
    """Move the incident to its next state, with the reason."""
    seen = await viewer(request, Permission.INCIDENTS_WRITE)
    form = dict(await posted(request, seen))
    target = form.get("state", "")
    reason = form.get("reason", "").strip()
    if target not in {s.value for s in IncidentState} or not reason or len(reason) > 5000:
        return await _page(
            request,
            seen,
            incident_id,
            status_code=422,
            error="Nothing was recorded: choose the next state and say why.",
        )
    state = state_of(request)

    def work() -> Any:
        return state.engine.advance(incident_id, target, by=seen.principal.label, reason=reason)

    return await _act(request, seen, incident_id, work, "moved")


def _audience(audience: str) -> Audience | None:
    try:
        return Audience(audience)
    except ValueError:
        return None


@router.get("/incidents/{incident_id}/notices/{audience}")
async def notices_dry_run(request: Request, incident_id: str, audience: str) -> Response:
    """A dry run of the audience's notices: the notice in each language and, with the
    contacts configured on the server, how many would get it; nothing is sent."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    chosen = _audience(audience)
    if chosen is None:
        return render("missing.html", 404, viewer=seen, message=f"No audience {audience!r}.")
    state = state_of(request)
    try:
        dry = await run_in_threadpool(state.notice_runs.dry_run, incident_id, chosen)
    except NotFoundError:
        return _missing(seen, incident_id)
    except Error as exc:
        return await _page(
            request, seen, incident_id, status_code=409, error="No dry run: " + _plain(exc)
        )
    return render(
        "notices_dry_run.html", viewer=seen, section="/incidents", incident_id=incident_id, dry=dry
    )


@router.post("/incidents/{incident_id}/notices/{audience}/send")
async def notices_send(request: Request, incident_id: str, audience: str) -> Response:
    """Start sending the audience's notices (each recipient once per version), in the
    background of the server; the incident page shows the run's progress."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    form = dict(await posted(request, seen))
    chosen = _audience(audience)
    if chosen is None:
        return render("missing.html", 404, viewer=seen, message=f"No audience {audience!r}.")
    raw_version = form.get("version", "1").strip() or "1"
    problems = []
    if form.get("confirm") != "yes":
        problems.append("tick the box that confirms the notices may go out")
    if not raw_version.isdigit() or not 1 <= int(raw_version) <= 1000:
        problems.append("the notice version is a whole number from 1")
    if problems:
        return await _page(
            request,
            seen,
            incident_id,
            status_code=422,
            error="Nothing was sent: " + "; ".join(problems) + ".",
        )
    state = state_of(request)

    def start() -> Any:
        return state.notice_runs.start(
            incident_id, chosen, by=seen.principal.label, version=int(raw_version)
        )

    return await _act(
        request, seen, incident_id, start, "sending", on_store=False, failed="Nothing was sent: "
    )
