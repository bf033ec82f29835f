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
import typing
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, locked, reading
from sentinelle.api.routes.incidents import AssessRequest, IncidentAdvance, PhaseRequest
from sentinelle.assess import facts_to_dict
from sentinelle.assess.facts import Cause, Facts
from sentinelle.errors import Error, NotFoundError, ValidationError
from sentinelle.incidents import Phase, ScopeBasis
from sentinelle.incidents import State as IncidentState
from sentinelle.notify.model import Audience
from sentinelle.web.common import (
    Viewer,
    clear_cookie,
    in_words,
    plain,
    posted,
    render,
    see_other,
    set_cookie,
    state_of,
    validated,
    viewer,
    waiting_on,
    with_clocks,
)

__all__ = ["FACT_CHOICES", "router"]

router = APIRouter(include_in_schema=False)
_Body = TypeVar("_Body", AssessRequest, PhaseRequest, IncidentAdvance)


def _choices(struct: type, name: str) -> tuple[str, ...]:
    """The values the facts schema allows for ``struct.name``: a Literal's, or yes/no."""
    hint = typing.get_type_hints(struct)[name]
    allowed = next(
        (typing.get_args(a) for a in typing.get_args(hint) if typing.get_origin(a) is Literal),
        None,
    )
    return allowed if allowed is not None else ("true", "false")  # a bool


# The facts a person states on the form, with their choices (the facts schema's own): what
# the ledger cannot know. Anything else goes in the form's JSON field.
FACT_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "cause.intent": _choices(Cause, "intent"),
    "cause.source": _choices(Cause, "source"),
    "exfiltration": _choices(Facts, "exfiltration"),
    "recipients": _choices(Facts, "recipients"),
    "identifiability": _choices(Facts, "identifiability"),
    "data_recovered": _choices(Facts, "data_recovered"),
    "subjects_contactable": _choices(Facts, "subjects_contactable"),
}
_DONE: Final = {
    "opened": "Incident opened from the escalated alert(s).",
    "joined": "Alert escalated into this incident: its actor and time are in the scope now.",
    "assessed": "Assessment recorded.",
    "phase": "Notification to the authority recorded.",
    "moved": "Incident moved on.",
    "sending": "Sending started: the counts below grow as notices go out (reload the page).",
}


# The facts an assessment may assume, in words (else the path without "$.").
_FACT_LABELS: Final = {
    "$.identifiability": "How easily people can be identified",
    "$.recipients": "Who obtained the data",
    "$.subjects_contactable": "Whether each person can be contacted",
    "$.jurisdictions": "Jurisdiction",
    "$.cause.intent": "Whether it was deliberate",
    "$.encryption.key_compromised": "Whether the encryption key was compromised",
    "$.availability.impact_on_subjects": "What losing access to the data does to people",
    "$.availability.permanent_loss": "Whether the data is lost for good",
    "$.integrity": "Whether the data was altered",
    "$.credentials_for": "What the exposed credentials open",
    "$.cause.source": "Where it came from",
    "$.exfiltration": "Whether the data left our systems",
    "$.data_recovered": "Whether the copies were recovered or deleted",
}
# The assessment appends its answers that would change the decision to each statement
# (sentinelle.assess); the page lists them under the statement instead, once.
_EFFECTS: Final = " Answers that would change the decision: "


def _fact_label(path: str) -> str:
    """A facts path (``$.cause.intent``) in words."""
    return _FACT_LABELS.get(path) or in_words(path.removeprefix("$.").replace(".", ": "))


def _answer(raw: str) -> str:
    """An answer as the assessment quotes it (JSON) in words: ``true`` → yes."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ")


def _assumptions(assessment: Any) -> list[dict[str, Any]]:
    """The assessment's assumptions as the page says them: the fact in words, what was
    assumed, and each answer that would change the decision with what it would change."""
    out = []
    for x in assessment.assumptions if assessment is not None else ():
        changes = []
        for effect in x.would_change:
            answer, _, what = effect.partition(": ")
            changes.append((_answer(answer), what.strip().rstrip(".")))
        out.append(
            {
                "label": _fact_label(x.field),
                "statement": x.statement.split(_EFFECTS, 1)[0].strip(),
                "changes": changes,
            }
        )
    return out


def _required(duty: Any) -> str:
    return "required" if isinstance(duty, dict) and duty.get("required") else "not required"


def _log_line(change: str, d: dict[str, Any]) -> tuple[str, list[str]]:
    """One change of the incident's log in words: what, and its details (without the
    reason, shown apart)."""
    if change == "opened":
        parts = [f"from alert {d['alert']}"] if d.get("alert") else []
        if d.get("actors"):
            parts.append("actors " + ", ".join(map(str, d["actors"])))
        return "opened", parts
    if change == "joined":
        parts = [f"alerts {', '.join(map(str, d.get('alerts') or []))}"]
        if d.get("actors_added"):
            parts.append("actors added: " + ", ".join(map(str, d["actors_added"])))
        return "alerts joined", parts
    if change == "state":
        return "moved on", [f"{d.get('from', '?')} → {d.get('to', '?')}"]
    if change == "scope":
        s = d.get("scope") or {}
        return "scope recorded", [
            f"{s.get('merchants', 0):,} merchants, {s.get('subjects', 0):,} people, "
            f"{s.get('records', 0):,} records"
        ]
    if change == "facts":
        given = sorted(d.get("given") or {})
        parts = ["stated: " + ", ".join(k.replace("_", " ") for k in given)] if given else []
        if d.get("source"):
            parts.append(f"through {d['source']}")
        return "facts recorded", parts
    if change == "assessment":
        a = d.get("assessment") or {}
        level = (a.get("severity") or {}).get("level")
        parts = [f"severity {level}"] if level else []
        parts.append(f"authority notification {_required(a.get('notify_authority'))}")
        parts.append(f"telling the people {_required(a.get('notify_subjects'))}")
        fields = [
            str(c.get("field", "")).removeprefix("facts.").replace("_", " ").replace(".", ": ")
            for c in d.get("changes") or []
        ]
        if fields:
            more = f" and {len(fields) - 5} more" if len(fields) > 5 else ""
            parts.append("changed: " + ", ".join(fields[:5]) + more)
        return "assessed", parts
    if change == "authority_notified":
        parts = [f"{d.get('phase', '?')} notification"]
        if d.get("reference"):
            parts.append(f"reference {d['reference']}")
        parts.append("late" if d.get("late") else "on time")
        return "authority notified", parts
    if change == "notices":
        head = f"to the {d.get('audience', '?')}, version {d.get('version', '?')}"
        if d.get("event") == "ran":
            counts = [f"{d.get('sent', 0):,} sent"]
            counts += [f"{d[k]:,} {k}" for k in ("failed", "deferred") if d.get(k)]
            return "notices sent", [head, ", ".join(counts)]
        count = d.get("recipients")
        parts = [head] + ([f"{count:,} recipients"] if isinstance(count, int) else [])
        if d.get("missing"):
            parts.append(f"{d['missing']:,} missing from the directory")
        return "notices prepared", parts
    return change.replace("_", " "), []


def _log(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """The change log, newest first, in words."""
    out = []
    for e in reversed(entries):
        details = e.details if isinstance(e.details, dict) else {}
        what, parts = _log_line(e.change, details)
        reason = details.get("reason")
        out.append(
            {
                "at_us": e.at_us,
                "by": e.by,
                "what": what,
                "details": parts,
                "reason": reason if isinstance(reason, str) else "",
            }
        )
    return out


# The incident page's forms' labels, to name a refused field as its form does.
_LABELS: Final = {
    "aware_at": "Aware at",
    "basis": "Scope basis",
    "facts": "Facts",
    "reason": "Reason",
    "phase": "Phase",
    "at": "Sent at",
    "reference": "Authority's reference",
    "note": "Note",
    "delay_reasons": "Reasons for the delay",
    "state": "To",
}


_ONCE: Final = "sentinelle_done"  # a notice said once, on the next page (see _page)
_ONCE_DONE: Final = "sending"


def _missing(seen: Viewer, incident_id: str) -> Response:
    return render(
        "missing.html", 404, viewer=seen, message=f"There is no incident {incident_id!r}."
    )


@router.get("/incidents")
async def incidents(request: Request) -> Response:
    """Every incident, newest first, with its clock."""
    seen = await viewer(request, Permission.INCIDENTS_READ)
    state = state_of(request)

    rows = await reading(state, lambda r: list(reversed(with_clocks(r))))
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

    def work(r: Reader) -> dict[str, Any] | None:
        # a read transaction of its own: counting the scope takes a while on a large incident
        engine = r.engine
        try:
            found = engine.get(incident_id)
        except NotFoundError:
            return None
        scope = engine.scope(incident_id)
        return {
            "incident": found,
            "clock": engine.clock(incident_id),
            "scope": scope,
            # what the engine would take it to by hand (its rules, not the page's)
            "next_states": [m.value for m in engine.moves(incident_id, shown=scope.scope)],
            "log": engine.log(incident_id),
            "notices": engine.notice_status(incident_id, recipients=False),
            "runs": state.notice_runs.status(incident_id),
            "alerts": r.store.escalated_to(incident_id),
            # the queue's work this incident may already cover (none once closed), for
            # those who may read the queue
            "waiting": (
                waiting_on(r, found.actors)
                if found.state is not IncidentState.CLOSED and seen.may(Permission.ALERTS_READ)
                else {}
            ),
        }

    found = await reading(state, work)
    if found is None:
        return _missing(seen, incident_id)
    incident = found["incident"]
    q = request.query_params
    # "Sending started" is said once, after the form (a cookie the page clears), not kept in
    # the URL: a reload of the page does not announce a new start.
    once = request.cookies.get(_ONCE, "")
    done = once if once == _ONCE_DONE else q.get("done", "")
    page = render(
        "incident.html",
        status_code,
        viewer=seen,
        section="/incidents",
        error=error,
        notice=_DONE.get(done, ""),
        form=form if form is not None else _given(incident),
        current=_choices_of(facts_to_dict(incident.facts)) if incident.facts else {},
        choices=FACT_CHOICES,
        labels={key: _FACT_LABELS.get(f"$.{key}", key) for key in FACT_CHOICES},
        bases=[b.value for b in ScopeBasis],
        phases=[p.value for p in Phase],
        audiences=[a.value for a in Audience],
        assumptions=_assumptions(incident.assessment),
        **{**found, "log": _log(found["log"])},
    )
    if once:
        clear_cookie(request, page, _ONCE)
    return page


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


@router.post("/incidents/{incident_id}/assess")
async def assess(request: Request, incident_id: str) -> Response:
    """Assess with the form's facts, awareness and scope basis (the API's assessment body)."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    form = dict(await posted(request, seen))
    given, problems = _stated(form)
    fields = {k: form.get(k, "") for k in ("aware_at", "basis", "reason")}
    state = state_of(request)
    return await _submit(
        request,
        seen,
        incident_id,
        AssessRequest,
        {**fields, "facts": given or None},
        lambda body: body.apply(
            state.engine, incident_id, by=seen.principal.label, source="the facts form"
        ),
        "assessed",
        form,
        problems=problems,
    )


async def _submit(
    request: Request,
    seen: Viewer,
    incident_id: str,
    model: type[_Body],
    values: dict[str, Any],
    act: Callable[[_Body], object],
    done: str,
    form: dict[str, str] | None = None,
    *,
    problems: Sequence[str] = (),
) -> Response:
    """The form's ``values`` as the API's body ``model`` (the same checks as the API's
    route), then ``act`` on it under the store's lock (see :func:`_act`)."""
    body: _Body | None
    wrong: list[str]
    body, wrong = validated(model, values, _LABELS)
    every = [*problems, *wrong]
    if body is None:
        return await _act(request, seen, incident_id, None, done, form, problems=every)
    valid = body
    return await _act(request, seen, incident_id, lambda: act(valid), done, form, problems=every)


async def _act(
    request: Request,
    seen: Viewer,
    incident_id: str,
    work: Any,
    done: str,
    form: dict[str, str] | None = None,
    *,
    problems: Sequence[str] = (),
    on_store: bool = True,
    failed: str = "Nothing was recorded: ",
) -> Response:
    """Run an action (under the store's lock, or on connections of its own when not
    ``on_store``) unless the form had ``problems``; on success back to the page (303), else
    the page with the reason (422 for the form's problems)."""
    if problems or work is None:
        error = failed + "; ".join(problems) + "."
        return await _page(request, seen, incident_id, status_code=422, error=error, form=form)
    state = state_of(request)
    try:
        await (locked(state, work) if on_store else run_in_threadpool(work))
    except NotFoundError:
        return _missing(seen, incident_id)
    except Error as exc:
        status = 422 if isinstance(exc, ValidationError) else 409
        return await _page(
            request, seen, incident_id, status_code=status, error=failed + plain(exc), form=form
        )
    if done == _ONCE_DONE:
        back = see_other(f"/incidents/{incident_id}#h-notices")
        set_cookie(request, back, _ONCE, done, max_age=300)
        return back
    return see_other(f"/incidents/{incident_id}?done={done}")


@router.post("/incidents/{incident_id}/phases")
async def record_phase(request: Request, incident_id: str) -> Response:
    """Record a notification sent to the supervisory authority (the API's phase body)."""
    seen = await viewer(request, Permission.INCIDENTS_DECIDE)
    form = dict(await posted(request, seen))
    names = ("phase", "reference", "note", "delay_reasons")
    state = state_of(request)
    return await _submit(
        request,
        seen,
        incident_id,
        PhaseRequest,
        {"at": form.get("sent_at", ""), **{k: form.get(k, "") for k in names}},
        lambda body: body.apply(state.engine, incident_id, by=seen.principal.label),
        "phase",
    )


@router.post("/incidents/{incident_id}/advance")
async def advance(request: Request, incident_id: str) -> Response:
    """Move the incident to its next state, with the reason (the API's body)."""
    seen = await viewer(request, Permission.INCIDENTS_WRITE)
    form = dict(await posted(request, seen))
    state = state_of(request)
    return await _submit(
        request,
        seen,
        incident_id,
        IncidentAdvance,
        {"state": form.get("state", ""), "reason": form.get("reason", "")},
        lambda body: body.apply(state.engine, incident_id, by=seen.principal.label),
        "moved",
    )


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
            request, seen, incident_id, status_code=409, error="No dry run: " + plain(exc)
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
    state = state_of(request)

    def start() -> Any:
        return state.notice_runs.start(
            incident_id, chosen, by=seen.principal.label, version=int(raw_version)
        )

    return await _act(
        request,
        seen,
        incident_id,
        start,
        "sending",
        problems=problems,
        on_store=False,
        failed="Nothing was sent: ",
    )
