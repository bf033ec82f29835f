"""``/alerts``: the triage queue (most severe and newest first, reasons in full, filters, bulk
triage, who triaged and why) and ``/alerts/{id}``: one alert, its evidence and its history.

Triage goes through :func:`sentinelle.detect.triage.triage`, as ``POST /v1/alerts/triage``
does: all or nothing, attributed to the viewer. An escalation that opens an incident leads to
the incident's page.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from sentinelle.access import Permission
from sentinelle.api.cursors import decode_cursor, encode_cursor
from sentinelle.api.deps import Reader, locked, reading
from sentinelle.api.routes.alerts import BulkTriageRequest
from sentinelle.detect import Severity
from sentinelle.detect.runner import alert_from_row
from sentinelle.detect.triage import MAX_SUPPRESS_DAYS, Decided, Status
from sentinelle.errors import Error
from sentinelle.incidents import Incident
from sentinelle.incidents import State as IncidentState
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

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE: Final = 50
_KIND: Final = "queue"
_STATUSES: Final = (*(s.value for s in Status), "all")
_DECISIONS: Final = tuple(s.value for s in Status if s is not Status.NEW)
_FILTERS: Final = ("status", "min_severity", "detector", "actor")


def _filters(request: Request) -> tuple[dict[str, str], list[str]]:
    """The queue's filters from the query (defaults: new alerts, every severity), and what
    was wrong with them (each wrong value is dropped, and named)."""
    q = request.query_params
    chosen = {"status": q.get("status", "new"), "min_severity": q.get("min_severity", "low")}
    problems = []
    if chosen["status"] not in _STATUSES:
        problems.append(f"status must be one of {', '.join(_STATUSES)}")
        chosen["status"] = "new"
    if chosen["min_severity"] not in [str(s) for s in Severity]:
        problems.append("min_severity must be one of low, medium, high, critical")
        chosen["min_severity"] = "low"
    for name in ("detector", "actor"):
        value = q.get(name, "").strip()
        if len(value) > 200:
            problems.append(f"{name} is too long")
        elif value:
            chosen[name] = value
    return chosen, problems


def _alert_view(row: Any, history: list[Any]) -> dict[str, Any]:
    alert = alert_from_row(row)
    return {
        "alert": alert,
        "status": history[-1].status if history else "new",
        "history": history,
    }


async def _queue(
    request: Request,
    seen: Viewer,
    *,
    status_code: int = 200,
    error: str = "",
    kept: dict[str, Any] | None = None,
) -> Response:
    chosen, problems = _filters(request)
    cursor = request.query_params.get("after")
    after: tuple[int, int, str] | None = None
    if cursor:
        try:
            severity, time_us, alert_id = decode_cursor(cursor[:400], _KIND, (int, int, str))
            after = (severity, time_us, alert_id)
        except RequestValidationError:
            problems.append("the page link is not valid any more: showing the first page")
    state = state_of(request)

    def work(r: Reader) -> dict[str, Any]:
        rows = r.store.alerts_by_severity(
            limit=PAGE + 1,
            after=after,
            min_severity=int(Severity.parse(chosen["min_severity"])),
            detector=chosen.get("detector"),
            actor=chosen.get("actor"),
            status=None if chosen["status"] == "all" else chosen["status"],
        )
        page = rows[:PAGE]
        history = r.store.triage_history([row.id for row in page])
        last = page[-1] if len(rows) > PAGE else None
        return {
            "items": [_alert_view(row, history.get(row.id, [])) for row in page],
            "next": (encode_cursor(_KIND, last.severity, last.time_us, last.id) if last else None),
            "counts": r.store.alert_counts(status="new"),
            **_incidents_of_actors(r),
        }

    found = await reading(state, work)
    query = dict(chosen)
    next_url = "/alerts?" + urlencode({**query, "after": found["next"]}) if found["next"] else None
    return render(
        "alerts.html",
        status_code,
        viewer=seen,
        section="/alerts",
        filters=chosen,
        problems=problems,
        next_url=next_url,
        here="/alerts?" + urlencode(query),
        statuses=_STATUSES,
        severities=[str(s) for s in Severity],
        decisions=_DECISIONS,
        max_suppress=MAX_SUPPRESS_DAYS,
        notice=_done(request),
        error=error,
        kept=kept or {},
        **found,
    )


def _incidents_of_actors(r: Reader) -> dict[str, Any]:
    """``incidents``: those an escalation may join (not closed); ``in_incident``: each of
    their actors and the newest of them that names the actor, so an alert still waiting on
    someone an open incident is about says so (escalate it into that incident, or dismiss it
    as covered) instead of looking like news."""
    incidents = [i for i in r.engine.incidents() if i.state is not IncidentState.CLOSED]
    in_incident: dict[str, Incident] = {}
    for incident in sorted(incidents, key=lambda i: i.created_us):
        in_incident.update(dict.fromkeys(incident.actors, incident))
    return {"incidents": incidents, "in_incident": in_incident}


def _done(request: Request) -> str:
    """What the previous form did (a fixed sentence; nothing of the query is echoed)."""
    q = request.query_params
    if q.get("done") in _DECISIONS and q.get("n", "").isdigit():
        n = int(q["n"])
        return f"{n} alert{'s' if n != 1 else ''} {q['done']}."
    return ""


@router.get("/alerts")
async def queue(request: Request) -> Response:
    """The queue of alerts."""
    seen = await viewer(request, Permission.ALERTS_READ)
    return await _queue(request, seen)


# The triage form's labels, to name a refused field as the form does.
_LABELS: Final = {
    "ids": "Alerts",
    "status": "Decision",
    "reason": "Reason",
    "incident": "Escalate into",
    "suppress_days": "Suppress for (days)",
}


async def _decide(
    request: Request, seen: Viewer, *, only: str | None = None
) -> tuple[Decided | None, str, dict[str, Any]]:
    """Record the posted decision (on ``only``, if given, whatever the form ticks), held to
    the API's triage body: (the outcome, "", {}) or (None, why it was refused, what the form
    held, to show it again as it was typed)."""
    fields = await posted(request, seen)
    form = dict(fields)
    ids = [only] if only is not None else [v for k, v in fields if k == "ids" and v]
    status = form.get("status", "")
    kept: dict[str, Any] = {
        **{k: form.get(k, "")[:2000] for k in ("status", "reason", "incident", "suppress_days")},
        "ids": set(ids),
    }
    body, problems = validated(
        BulkTriageRequest,
        {
            "ids": ids,
            "status": status,
            "reason": form.get("reason", ""),
            # the form always has these fields: they count only with their decision
            "suppress_days": form.get("suppress_days", "") if status == "dismissed" else None,
            "incident": form.get("incident", "") if status == "escalated" else None,
        },
        _LABELS,
    )
    if not ids:
        problems = ["tick at least one alert"]
    if body is None or problems:
        return None, "Nothing was recorded: " + "; ".join(problems) + ".", kept
    state = state_of(request)
    try:
        decided = await locked(state, lambda: body.apply(state, body.ids, by=seen.principal.label))
    except Error as exc:
        return None, "Nothing was recorded: " + plain(exc) + ".", kept
    return decided, "", {}


def _after_decision(decided: Decided, back: str) -> Response:
    if decided.opened or (decided.incident and len(decided.decisions) == 1):
        # the incident page says what happened: opened from the alert(s), or joined by one
        said = "opened" if decided.opened else "joined"
        return see_other(f"/incidents/{decided.incident}?done={said}")
    sep = "&" if "?" in back else "?"
    return see_other(f"{back}{sep}done={decided.decisions[0].status}&n={len(decided.decisions)}")


def _back(request: Request, default: str) -> str:
    """Where to go after a form: its ``back`` query, if it is one of our own pages."""
    back = request.query_params.get("back", "")
    return back if back.startswith("/alerts") and "//" not in back else default


@router.post("/alerts/triage")
async def triage_many(request: Request) -> Response:
    """The same decision on the ticked alerts, all or nothing."""
    seen = await viewer(request, Permission.ALERTS_TRIAGE)
    decided, error, kept = await _decide(request, seen)
    if decided is None:
        return await _queue(request, seen, status_code=422, error=error, kept=kept)
    return _after_decision(decided, _back(request, "/alerts"))


async def _one(
    request: Request,
    seen: Viewer,
    alert_id: str,
    *,
    status_code: int = 200,
    error: str = "",
    kept: dict[str, Any] | None = None,
) -> Response:
    state = state_of(request)

    def work(r: Reader) -> dict[str, Any] | None:
        row = r.store.alert(alert_id)
        if row is None:
            return None
        history = r.store.triage_history([alert_id]).get(alert_id, [])
        return {**_alert_view(row, history), **_incidents_of_actors(r)}

    found = await reading(state, work)
    if found is None:
        return render("missing.html", 404, viewer=seen, message=f"There is no alert {alert_id!r}.")
    return render(
        "alert.html",
        status_code,
        viewer=seen,
        section="/alerts",
        decisions=_DECISIONS,
        max_suppress=MAX_SUPPRESS_DAYS,
        notice=_done(request),
        error=error,
        kept=kept or {},
        **found,
    )


@router.get("/alerts/{alert_id}")
async def one_alert(request: Request, alert_id: str) -> Response:
    """One alert: its reasons, merchants, events, and who decided what on it, and why."""
    seen = await viewer(request, Permission.ALERTS_READ)
    return await _one(request, seen, alert_id)


@router.post("/alerts/{alert_id}/triage")
async def triage_one(request: Request, alert_id: str) -> Response:
    """A decision on this alert."""
    seen = await viewer(request, Permission.ALERTS_TRIAGE)
    decided, error, kept = await _decide(request, seen, only=alert_id)
    if decided is None:
        return await _one(request, seen, alert_id, status_code=422, error=error, kept=kept)
    return _after_decision(decided, f"/alerts/{alert_id}")
