"""Alert triage: what a responder decided about an alert, who, when and why.

An alert's status is ``new`` until someone decides: ``acknowledged`` (being looked at),
``dismissed`` (nothing to pursue) or ``escalated`` (an incident: the one given, or a new one
opened from the alert through the :class:`~sentinelle.response.ResponseEngine`). Every
decision is kept (``alert_triage``, append-only); the latest sets the status. A dismissal with
``suppress_days`` also suppresses the same evidence, the alert's actor and detector, from the
decision for that many days: detection (live and ``sentinelle detect``) drops their findings
in that period, so they neither raise a new alert nor raise the dismissed one further. A later
decision on the alert lifts its suppression.

A batch of alerts is decided all or nothing: an unknown alert or incident refuses it whole.
An escalation without an incident opens it first (its own transaction), then records the
decisions naming it: there is never a decision naming an incident that does not exist.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sentinelle.errors import NotFoundError, Problem, ValidationError
from sentinelle.store.alerts import SuppressionRow, TriageRow
from sentinelle.timeutil import DAY, iso, now_us

if TYPE_CHECKING:
    from sentinelle.response import ResponseEngine
    from sentinelle.store import Store, Writer

__all__ = [
    "MAX_BATCH",
    "MAX_REASON",
    "MAX_SUPPRESS_DAYS",
    "Status",
    "Suppressions",
    "TriageInputError",
    "status_of",
    "triage",
    "triage_json",
]

MAX_BATCH: Final = 500
MAX_REASON: Final = 5000
MAX_SUPPRESS_DAYS: Final = 90


class Status(enum.StrEnum):
    """Where an alert stands."""

    NEW = "new"  # nobody decided yet
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"
    ESCALATED = "escalated"


class TriageInputError(ValidationError):
    """A decision was refused: each problem names the field at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, unit="field")

    def diagnostics(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" for p in self.problems)


@dataclass(frozen=True, slots=True)
class Decided:
    """The outcome of :func:`triage`: the decisions recorded and the incident escalated to."""

    decisions: list[TriageRow]
    incident: str | None
    opened: bool  # the incident was opened by this escalation

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the API returns it."""
        return {
            "alerts": [d.alert_id for d in self.decisions],
            "status": self.decisions[0].status if self.decisions else None,
            "incident": self.incident,
            "incident_opened": self.opened,
            "triage": [decision_json(d) for d in self.decisions],
        }


def decision_json(row: TriageRow) -> dict[str, Any]:
    """One decision as the API and ``sentinelle alerts --json`` show it."""
    return {
        "at": iso(row.at_us),
        "by": row.by,
        "status": row.status,
        "reason": row.reason,
        "incident": row.incident,
        "suppress_until": iso(row.suppress_until_us) if row.suppress_until_us is not None else None,
    }


def status_of(history: Sequence[TriageRow]) -> str:
    """The status the decisions leave (the latest), ``new`` without any."""
    return history[-1].status if history else Status.NEW.value


def triage_json(store: Store, alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Alerts' JSON (``Alert.to_dict()``) with their ``status`` and ``triage`` history, read
    in one query per 500 alerts."""
    history = store.triage_history([a["id"] for a in alerts])
    out = []
    for alert in alerts:
        rows = history.get(alert["id"], [])
        out.append({**alert, "status": status_of(rows), "triage": [decision_json(r) for r in rows]})
    return out


def _check(
    ids: Sequence[str],
    status: Status | str,
    reason: str,
    incident: str | None,
    suppress_days: int | None,
) -> Status:
    problems = []
    try:
        chosen = Status(status)
    except ValueError:
        chosen = Status.NEW
    if chosen is Status.NEW:
        problems.append(Problem(0, "status", "must be one of acknowledged, dismissed, escalated"))
    if not reason.strip():
        problems.append(Problem(0, "reason", "say why (the triage history keeps it)"))
    elif len(reason) > MAX_REASON:
        problems.append(Problem(0, "reason", f"at most {MAX_REASON} characters"))
    elif "\x00" in reason:  # PostgreSQL's text refuses it: a 422, not a store failure
        problems.append(Problem(0, "reason", "must not contain NUL characters"))
    if not ids:
        problems.append(Problem(0, "ids", "name at least one alert"))
    elif len(ids) > MAX_BATCH:
        problems.append(Problem(0, "ids", f"at most {MAX_BATCH} alerts at once"))
    elif any("\x00" in i for i in ids):
        problems.append(Problem(0, "ids", "an alert id has no NUL character"))
    if incident is not None and "\x00" in incident:
        problems.append(Problem(0, "incident", "an incident id has no NUL character"))
    if incident is not None and chosen is not Status.ESCALATED:
        problems.append(Problem(0, "incident", "only an escalation joins an incident"))
    if suppress_days is not None:
        if chosen is not Status.DISMISSED:
            problems.append(Problem(0, "suppress_days", "only a dismissal suppresses"))
        elif not 0 <= suppress_days <= MAX_SUPPRESS_DAYS:
            problems.append(Problem(0, "suppress_days", f"from 0 to {MAX_SUPPRESS_DAYS} days"))
    if problems:
        raise TriageInputError(problems)
    return chosen


def triage(
    store: Store,
    engine: ResponseEngine,
    alert_ids: Sequence[str],
    status: Status | str,
    *,
    by: str,
    reason: str,
    incident: str | None = None,
    suppress_days: int | None = None,
    at_us: int | None = None,
) -> Decided:
    """Record one decision on each alert of ``alert_ids``, all or nothing.

    ``escalated`` joins ``incident`` (the alerts' actors join it and its window widens to
    cover them: :meth:`~sentinelle.incidents.Incidents.join`), or opens one incident from the
    alerts (the earliest alert, with every alert's actor) through ``engine``; in the same
    transaction as the decisions. ``suppress_days`` (a dismissal only)
    suppresses each alert's actor and detector from ``at_us`` (now) for that many days; ``0``
    records the dismissal without a suppression. Raises :class:`TriageInputError` (422) for
    a bad field, :class:`~sentinelle.errors.NotFoundError` (404) naming unknown alerts or the
    unknown incident, :class:`~sentinelle.incidents.TransitionError` (409) for a closed
    incident; nothing is recorded then.
    """
    ids = list(dict.fromkeys(alert_ids))
    chosen = _check(ids, status, reason, incident, suppress_days)
    at = now_us() if at_us is None else at_us
    known = store.alert_statuses(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise NotFoundError(f"no alert with id {shown}{more}; nothing was recorded")
    until = at + suppress_days * DAY if suppress_days else None
    # One transaction: the incident opened or joined and the decisions, or nothing.
    with store.writer() as w:
        opened = False
        if chosen is Status.ESCALATED:
            if incident is not None:
                why = f"{len(ids)} alert(s) escalated into it: {reason}"
                engine.book.join(w, incident, ids, by=by, reason=why)
            else:
                incident = _open_incident(store, engine, ids, by=by, writer=w)
                opened = True
        rows = [
            TriageRow(
                alert_id=i,
                at_us=at,
                by=by,
                status=chosen.value,
                reason=reason,
                incident=incident,
                suppress_until_us=until,
            )
            for i in ids
        ]
        w.record_triage(rows)
    return Decided(rows, incident, opened)


def _open_incident(
    store: Store, engine: ResponseEngine, ids: Sequence[str], *, by: str, writer: Writer
) -> str:
    rows = [r for r in (store.alert(i) for i in ids) if r is not None]
    first = min(rows, key=lambda r: (r.time_us, r.id))
    actors = list(dict.fromkeys(r.actor for r in rows))
    if len(rows) == 1:
        title = f"Escalated alert {first.id}: {first.detector} by {first.actor}"
    else:  # what was found and about whom, not the first alert's id
        detectors = list(dict.fromkeys(r.detector for r in rows))
        title = f"Escalated {len(rows)} alerts: {', '.join(detectors)} by {_some(actors)}"
    found = engine.book.open(
        title=title[:300], by=by, actors=actors, alert_id=first.id, writer=writer
    )
    return found.id


def _some(names: Sequence[str], shown: int = 5) -> str:
    """``names`` joined, the first ``shown`` of them and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


class Suppressions:
    """The suppressions in force, by actor and detector, for the engine to consult."""

    def __init__(self, rows: Iterable[SuppressionRow] = ()) -> None:
        self._by_key: dict[str, list[tuple[int, int]]] = {}
        for r in rows:
            self._by_key.setdefault(f"{r.actor}|{r.detector}", []).append((r.from_us, r.until_us))

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def covers(self, actor: str, detector: str, time_us: int) -> bool:
        """Whether a finding of ``detector`` about ``actor`` at ``time_us`` is suppressed."""
        spans = self._by_key.get(f"{actor}|{detector}")
        return spans is not None and any(a <= time_us < b for a, b in spans)
