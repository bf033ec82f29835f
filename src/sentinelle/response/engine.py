"""The response engine: an incident's whole workflow, once, under the CLI and the API.

open → scope → facts → assess → authority phases → notices → report, each operation one
transaction that changes the incident and appends its log entries together, each change
logged with who made it and why. The interfaces (``sentinelle incident …``, the REST API,
the console) parse, authorise and render; they call this and nothing below it.

Re-assessing is safe by construction (:meth:`ResponseEngine.assess`):

* what people stated (facts given in a file, ``--aware-at``) is kept on the incident and
  applied again, while what the ledger establishes (categories, people, records, period) is
  recounted; a value passed back unchanged from ``incident facts`` is not pinned;
* the awareness time and the scope basis stay as recorded unless the call changes them;
* every change is logged before → after; moving awareness later, narrowing the scope to
  unjustified accesses, or dropping a duty to notify is refused without a reason.

Notices (:meth:`ResponseEngine.send_notices`) run under a lease in the database, one run per
(incident, audience) across hosts; a run that sends nothing leaves the incident's state alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sentinelle.assess import Assessment, Facts, evaluate, facts_to_dict, parse_facts
from sentinelle.assess.facts import Controller
from sentinelle.detect import DetectionRunner, Severity
from sentinelle.errors import Error, NotFoundError, Problem, ValidationError
from sentinelle.incidents import (
    DEFAULT_SCOPE_BASIS,
    Change,
    Clock,
    Incident,
    IncidentInputError,
    Incidents,
    LogEntry,
    Phase,
    Scope,
    ScopeBasis,
    State,
    TransitionError,
    compute_scope,
    facts_from_scope,
    register,
    register_csv,
)
from sentinelle.incidents.model import CLOCK_SKEW
from sentinelle.incidents.records import log_change, move_state
from sentinelle.notify import (
    Audience,
    DeliveryReport,
    NoticeConfig,
    NoticePlan,
    SmtpConfig,
    authority_report,
    deliver,
    notice_status,
    open_directory,
    plan_notices,
    render_samples,
)
from sentinelle.notify.delivery import DeliveryProgress, Retry
from sentinelle.response.lease import hold_lease
from sentinelle.store import Store, Writer
from sentinelle.store.alerts import TriageRow
from sentinelle.store.notices import NoticeStatus
from sentinelle.timeutil import from_us, iso, now_us, to_us

__all__ = [
    "AssessOutcome",
    "ConflictError",
    "FactsInputError",
    "FieldChange",
    "NoticeRun",
    "NotifyError",
    "ResponseEngine",
    "ScopeView",
]

# Facts the ledger establishes: recounted at every assessment unless people stated otherwise.
_DUTIES: Final = {Audience.AUTHORITY: "authority", Audience.SUBJECTS: "subjects"}


class NotifyError(Error):
    """A campaign that cannot start, or that left recipients without their notice."""


class ConflictError(Error):
    """The incident changed while the operation ran (someone else changed it): run it again."""


class FactsInputError(ValidationError):
    """Facts given for an assessment were refused, naming the source and each key at fault."""

    def __init__(self, problems: list[Problem], *, source: str) -> None:
        self.source = source
        super().__init__(problems, unit="facts")

    def diagnostics(self) -> str:
        where = "; ".join(f"{p.path}: {p.message}" for p in self.problems)
        return f"facts refused ({self.source}), nothing was recorded: {where}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One value an operation changed: where (a facts path or an assessment field) and the
    value before and after."""

    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"field": self.field, "before": self.before, "after": self.after}

    def __str__(self) -> str:
        return f"{self.field}: {_short(self.before)} → {_short(self.after)}"


@dataclass(frozen=True, slots=True)
class ScopeView:
    """A scope with the basis it was counted on."""

    scope: Scope
    basis: ScopeBasis

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the scope's, with ``basis`` and ``unjustified_only``."""
        return {
            **self.scope.to_dict(),
            "basis": self.basis.value,
            "unjustified_only": self.basis.unjustified_only,
        }


@dataclass(frozen=True, slots=True)
class AssessOutcome:
    """What an assessment recorded: the incident after it, its scope and what changed."""

    incident: Incident
    assessment: Assessment
    scope: ScopeView
    changes: tuple[FieldChange, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the assessment's, with the incident id and the changes."""
        return {
            "incident": self.incident.id,
            **self.assessment.to_dict(),
            "scope_basis": self.scope.basis.value,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True, slots=True)
class NoticeRun:
    """One notice run: the delivery report, ids the directory lacked, the content hash."""

    report: DeliveryReport
    recipients: int
    missing: list[tuple[str | None, str]] = field(default_factory=list)
    content: str = ""
    voluntary: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.report.to_dict(), "missing": len(self.missing), "content": self.content}


class ResponseEngine:
    """The incident workflow over one store.

    ``reopen`` opens another connection to the same database (for a lease's heartbeat while
    notices are sent); ``clock`` gives the current time in microseconds (tests fix it).
    """

    def __init__(
        self,
        store: Store,
        *,
        reopen: Callable[[], Store] | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.store = store
        self.book = Incidents(store)
        self._reopen = reopen
        self._clock = clock

    # -- reads ---------------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        """One incident. Raises :class:`~sentinelle.errors.NotFoundError`."""
        return self.book.get(incident_id)

    def incidents(self) -> list[Incident]:
        """Every incident, oldest first."""
        return self.book.all()

    def log(self, incident_id: str) -> list[LogEntry]:
        """The incident's change log, in order."""
        self.book.get(incident_id)
        return self.book.log(incident_id)

    def clock(self, incident_id: str, *, now: int | None = None) -> Clock:
        """The 72-hour clock as of ``now`` (default: the current time)."""
        return self.book.clock(incident_id, now=now if now is not None else self._clock())

    def register(self, *, now: int | None = None) -> list[dict[str, Any]]:
        """The breach register (Art. 33(5)) as JSON entries."""
        return register(self.book, now_us=now if now is not None else self._clock())

    def register_csv(self, *, now: int | None = None) -> str:
        """The breach register as CSV."""
        return register_csv(self.book, now_us=now if now is not None else self._clock())

    def report(
        self, incident_id: str, *, now: int | None = None, controller: Controller | None = None
    ) -> dict[str, Any]:
        """The report for the supervisory authority (Art. 33(3)); ``controller`` fills in
        what the facts leave out of the controller (the settings' shop name, DPO contact)."""
        found = self.book.get(incident_id)
        return authority_report(
            found, self.book.log(incident_id), now_us=now, controller=controller
        )

    def notice_status(self, incident_id: str, *, recipients: bool = True) -> dict[str, Any]:
        """Where the incident's notices stand, per audience (hashed recipients)."""
        self.book.get(incident_id)
        return notice_status(self.store, incident_id, recipients=recipients)

    # -- open, advance, phases -----------------------------------------------------------------
    def open(
        self,
        *,
        title: str,
        by: str,
        actors: Sequence[str] = (),
        from_us: int | None = None,
        to_us: int | None = None,
        alert_id: str | None = None,
    ) -> Incident:
        """Record a new incident (see :meth:`Incidents.open`). Opened from an alert, the
        alert is escalated to it in the same transaction (a decision by ``by`` in its triage
        history): it leaves the queue of alerts waiting for triage and names its incident."""
        if alert_id is None:
            return self.book.open(title=title, by=by, actors=actors, from_us=from_us, to_us=to_us)
        with self.store.writer() as w:
            found = self.book.open(
                title=title,
                by=by,
                actors=actors,
                from_us=from_us,
                to_us=to_us,
                alert_id=alert_id,
                writer=w,
            )
            reason = f"incident {found.id} opened from this alert"
            w.record_triage(
                [TriageRow(alert_id, found.created_us, by, "escalated", reason, found.id, None)]
            )
        return found

    def advance(self, incident_id: str, target: State | str, *, by: str, reason: str) -> Incident:
        """Move the incident to its next state by hand (see :meth:`Incidents.advance`):
        ``assessed`` needs an assessment (:meth:`assess` moves it), ``notifying`` a notice
        sent or a notification to the authority recorded (:meth:`send_notices` and
        :meth:`record_phase` move it); an assessed incident that requires no notification
        may close directly. Raises :class:`TransitionError` naming what is missing."""
        return self.book.advance(incident_id, target, by=by, reason=reason)

    def moves(self, incident_id: str, *, shown: Scope | None = None) -> list[State]:
        """The states :meth:`advance` would take the incident to now (see
        :meth:`Incidents.moves`; ``shown``: a scope already counted, not counted again)."""
        return self.book.moves(incident_id, shown=shown)

    def record_phase(
        self,
        incident_id: str,
        phase: Phase | str,
        *,
        by: str,
        sent_us: int | None = None,
        reference: str | None = None,
        note: str | None = None,
        delay_reasons: str | None = None,
    ) -> Clock:
        """Record a notification sent to the authority (see
        :meth:`Incidents.record_notification`)."""
        return self.book.record_notification(
            incident_id,
            phase,
            by=by,
            sent_us=sent_us,
            reference=reference,
            note=note,
            delay_reasons=delay_reasons,
        )

    # -- scope and facts -----------------------------------------------------------------------
    def scope(
        self,
        incident_id: str,
        *,
        basis: ScopeBasis | None = None,
        record_by: str | None = None,
    ) -> ScopeView:
        """The incident's scope counted from the ledger.

        ``basis`` defaults to the one recorded at the last assessment, else
        :data:`~sentinelle.incidents.DEFAULT_SCOPE_BASIS`, so the scope printed is the one
        assessed and notified. With ``record_by``, the scope is logged as a fact-finding step:
        refused for a closed incident (:class:`TransitionError`, nothing written).
        """
        found = self.book.get(incident_id)
        if record_by is not None:
            _check_open(found)
        chosen = basis or found.scope_basis or DEFAULT_SCOPE_BASIS
        view = ScopeView(
            compute_scope(self.store, found, unjustified_only=chosen.unjustified_only), chosen
        )
        if record_by is not None:
            with self.store.writer() as w:
                _check_open(_row(w, incident_id))  # closed while the scope was counted
                log_change(w, incident_id, record_by, Change.SCOPE, {"scope": view.to_dict()})
        return view

    def prefilled_facts(self, incident_id: str) -> Facts:
        """The facts an assessment would use now: the recorded ones, recounted from the
        ledger, with what people stated; edit them and pass them back to :meth:`assess`."""
        found = self.book.get(incident_id)
        basis = found.scope_basis or DEFAULT_SCOPE_BASIS
        scope = compute_scope(self.store, found, unjustified_only=basis.unjustified_only)
        facts, _given = self._facts(found, scope, given=None, aware_us=None, source="")
        return facts

    # -- assessment ----------------------------------------------------------------------------
    def assess(
        self,
        incident_id: str,
        *,
        by: str,
        given: Mapping[str, Any] | None = None,
        source: str = "facts",
        aware_us: int | None = None,
        basis: ScopeBasis | None = None,
        reason: str | None = None,
        now: int | None = None,
    ) -> AssessOutcome:
        """Scope, pre-fill the facts, assess and record, in one transaction.

        ``given`` are facts people state (``source`` names where they came from, for errors);
        they are merged into those stated before. ``aware_us`` and ``basis`` change the
        awareness time and the scope basis; left out, the recorded ones stay. ``now`` judges
        lateness (default: the current time). An open incident moves to ``assessed``.

        Raises :class:`FactsInputError` naming each key at fault,
        :class:`~sentinelle.incidents.IncidentInputError` when a change needs a ``reason``
        (awareness moved later, scope narrowed, a duty dropped) and none is given,
        :class:`TransitionError` for a closed incident, :class:`ConflictError` if the
        incident changed meanwhile. Nothing is written when it raises.
        """
        reason = (reason or "").strip() or None
        at = now if now is not None else self._clock()
        raw = self.store.incident_rows(incident_id)
        if not raw:
            raise NotFoundError(f"no incident with id {incident_id!r}")
        found = Incident.from_row(raw[0])
        if found.state is State.CLOSED:
            raise TransitionError("the incident is closed: it cannot be assessed again")
        chosen = basis or found.scope_basis or DEFAULT_SCOPE_BASIS
        scope = compute_scope(self.store, found, unjustified_only=chosen.unjustified_only)
        facts, stated = self._facts(found, scope, given=given, aware_us=aware_us, source=source)
        aware = to_us(facts.aware_at)
        # A typo in a time people state (2072 for 2027) would start the clock years late.
        if "aware_at" in stated and aware > at + CLOCK_SKEW:
            raise FactsInputError(
                [Problem(0, "aware_at", f"{iso(aware)} is in the future: awareness is a time "
                 "that has passed (when the controller became aware of the breach)")],
                source=source,
            )  # fmt: skip
        assessment = evaluate(facts, now=from_us(at))
        changes = _changes(found, facts, assessment, chosen)
        _require_reason(found, facts, assessment, chosen, reason)
        view = ScopeView(scope, chosen)
        with self.store.writer() as w:
            if [w.incident_row(incident_id)] != raw:
                raise ConflictError(
                    f"{incident_id} was changed by someone else while it was being assessed: "
                    "look at it again (sentinelle incident show) and assess it again"
                )
            row = dataclasses.replace(
                found, facts=facts, assessment=assessment, given=stated, scope_basis=chosen
            ).to_row()
            w.update_incident(
                incident_id,
                facts_json=row.facts_json,
                assessment_json=row.assessment_json,
                facts_given_json=row.facts_given_json,
                scope_basis=row.scope_basis,
            )
            log_change(w, incident_id, by, Change.SCOPE, {"scope": view.to_dict()})
            log_change(
                w,
                incident_id,
                by,
                Change.FACTS,
                {
                    "facts": facts_to_dict(facts),
                    "given": stated,
                    "source": source if given else None,
                    "reason": reason
                    or (
                        "from the scope, with the facts stated"
                        if stated
                        else "pre-filled from the scope"
                    ),
                },
            )
            log_change(
                w,
                incident_id,
                by,
                Change.ASSESSMENT,
                {
                    "assessment": assessment.to_dict(),
                    "changes": [c.to_dict() for c in changes],
                    "reason": reason,
                },
            )
            if found.state is State.OPEN:
                authority = (
                    "notify the authority"
                    if assessment.notify_authority.required
                    else "no authority notification"
                )
                move_state(w, found, State.ASSESSED, by=by, reason=f"assessed: {authority}")
        return AssessOutcome(self.book.get(incident_id), assessment, view, tuple(changes))

    def _facts(
        self,
        found: Incident,
        scope: Scope,
        *,
        given: Mapping[str, Any] | None,
        aware_us: int | None,
        source: str,
    ) -> tuple[Facts, dict[str, Any]]:
        """The facts to assess, and what people stated (kept for the next assessment)."""
        alerted = any(
            found.from_us <= a.time_us <= found.to_us
            for actor in found.actors
            for a in DetectionRunner(self.store).alerts(actor=actor, min_severity=Severity.MEDIUM)
        )
        aware = found.aware_us if found.aware_us is not None else found.created_us
        derived = facts_from_scope(found, scope, aware_us=aware, insider_alerts=alerted)
        stated = dict(found.given or {})
        if given is not None:
            if not isinstance(given, Mapping):
                raise FactsInputError(
                    [Problem(0, "$", "facts must be a JSON object")], source=source
                )
            # A value passed back as the ledger counts it is not pinned: it is recounted next
            # time. Only what differs from the ledger's, or what it cannot know, is kept.
            stated = _merge(stated, _differs(dict(given), derived))
        if aware_us is not None:
            stated["aware_at"] = iso(aware_us)
        merged = _merge(derived, stated)
        if "data_categories" not in merged:
            raise FactsInputError(
                [
                    Problem(
                        0,
                        "data_categories",
                        "the scope shows no access to customer data by the incident's actors "
                        "in its window, so no data category is known: if personal data was "
                        'concerned, state its categories in the facts (e.g. {"data_categories": '
                        '["contact"]}) and assess again; if none was, this is no personal '
                        "data breach (widen the window or the actors if the scope missed it; "
                        "else close the incident with the reasoning)",
                    )
                ],
                source=source,
            )
        try:
            facts = parse_facts(merged)
        except ValidationError as exc:
            raise FactsInputError(exc.problems, source=source) from None
        return facts, stated

    # -- notices -------------------------------------------------------------------------------
    def notice_samples(
        self, incident_id: str, audience: Audience, *, config: NoticeConfig, out: Path
    ) -> list[Path]:
        """Render the audience's notices to ``out`` for review (a dry run): nothing is sent."""
        found, scope = self.notifiable(incident_id)
        return render_samples(config, found, scope, out, audiences=[audience])

    @contextmanager
    def planned_notices(
        self,
        incident_id: str,
        audience: Audience,
        *,
        config: NoticeConfig,
        key: bytes,
        directory: str | None,
        query: str | None = None,
    ) -> Iterator[NoticePlan]:
        """The audience's notices planned from the directory (checked whole before anything is
        sent); the directory stays open while the plan is streamed."""
        found, scope = self.notifiable(incident_id)
        with _planned(config, found, scope, audience, key, directory, query) as plan:
            yield plan

    def send_notices(
        self,
        incident_id: str,
        audience: Audience,
        *,
        config: NoticeConfig,
        key: bytes,
        smtp: SmtpConfig,
        by: str,
        directory: str | None = None,
        query: str | None = None,
        version: int = 1,
        rate: float | None = None,
        concurrency: int = 16,
        progress: Callable[[DeliveryProgress], None] | None = None,
        on_plan: Callable[[NoticePlan], None] | None = None,
        retry: Retry | None = None,
    ) -> NoticeRun:
        """Send the audience's notices by SMTP, each recipient once per ``version``.

        One run per (incident, audience) at a time, held by a lease in the database. The
        notice's content hash is recorded before the first message; resuming a version
        whose content changed after some notices went out is refused. The incident moves to
        ``notifying`` (logged) only when this run sent at least one notice.

        Raises :class:`NotifyError` (not assessed, content changed, ids missing from the
        directory, notices refused or deferred: the last three after sending the others),
        :class:`~sentinelle.response.lease.LeaseHeldError` when another run is under way,
        and what delivery raises (:class:`~sentinelle.notify.DeliveryError` when the server
        cannot be reached: then nothing was sent and nothing is logged as sent).
        """
        found, scope = self.notifiable(incident_id)
        if audience is Audience.AUTHORITY:
            directory = None  # one configured address; no directory to read
        elif directory is None:
            raise NotifyError(f"notices to {audience.value} need a contact directory")
        lease = f"notify:{incident_id}:{audience.value}"
        what = f"a run sending {incident_id}'s notices to {audience.value}"
        with (
            hold_lease(self.store, lease, what=what, heartbeat=self._reopen),
            _planned(config, found, scope, audience, key, directory, query) as plan,
        ):
            if on_plan is not None:
                on_plan(plan)
            details = {
                "audience": audience.value,
                "version": version,
                "content": plan.version,
                "recipients": plan.recipients,
                "missing": len(plan.missing),
            }
            self._prepare(found, audience, version, plan.version, details, by=by)
            report = deliver(
                self.store,
                incident=incident_id,
                audience=audience.value,
                version=version,
                outbound=plan,
                smtp=smtp,
                rate=rate,
                concurrency=concurrency,
                progress=progress,
                retry=retry,
            )
            with self.store.writer() as w:
                current = _row(w, incident_id)
                log_change(
                    w,
                    incident_id,
                    by,
                    Change.NOTICES,
                    {**details, "event": "ran", **report.to_dict()},
                )
                if report.sent and current.state is State.ASSESSED:
                    move_state(
                        w,
                        current,
                        State.NOTIFYING,
                        by=by,
                        reason=f"the first notices to {audience.value} were sent",
                    )
        run = NoticeRun(
            report=report,
            recipients=plan.recipients,
            missing=list(plan.missing),
            content=plan.version,
            voluntary=self.voluntary(found, audience),
        )
        return run

    @staticmethod
    def voluntary(incident: Incident, audience: Audience) -> bool:
        """Whether the assessment does not require notices to ``audience`` (merchants are
        told as a matter of course: never voluntary here)."""
        duty = _DUTIES.get(audience)
        if duty is None or incident.assessment is None:
            return False
        return not incident.assessment.duty_required(
            "authority" if duty == "authority" else "subjects"
        )

    def notifiable(self, incident_id: str) -> tuple[Incident, Scope]:
        """The incident and its scope (on the basis assessed), if its notices may be sent:
        it is assessed or notifying. Raises :class:`NotifyError` otherwise."""
        found = self.book.get(incident_id)
        if found.state not in (State.ASSESSED, State.NOTIFYING):
            raise NotifyError(
                f"notices can be sent for an assessed or notifying incident; {incident_id} is "
                f"{found.state.value}"
                + (
                    f": assess it first (sentinelle incident assess {incident_id})"
                    if found.state is State.OPEN
                    else ""
                )
            )
        if found.assessment is None:
            # Marked assessed by hand before that needed an assessment: there is none to
            # notify from.
            raise NotifyError(
                f"{incident_id} is {found.state.value} but no assessment is recorded: assess "
                f"it first (sentinelle incident assess {incident_id})"
            )
        basis = found.scope_basis or DEFAULT_SCOPE_BASIS
        return found, compute_scope(self.store, found, unjustified_only=basis.unjustified_only)

    def _prepare(
        self,
        found: Incident,
        audience: Audience,
        version: int,
        content: str,
        details: dict[str, Any],
        *,
        by: str,
    ) -> None:
        """Record the content hash of ``version`` before its first message; refuse a changed
        content once some of its notices went out."""
        with self.store.writer() as w:
            _row(w, found.id)
            recorded = _content_of(
                [LogEntry.from_row(r) for r in w.incident_log_rows(found.id)], audience, version
            )
            if recorded == content:
                return
            went_out = any(
                a == audience.value and v == version and s is not NoticeStatus.PENDING
                for a, v, s, _n in self.store.notice_counts(found.id)
            )
            if recorded is not None and went_out:
                raise NotifyError(
                    f"the {audience.value} notice changed since version {version} was first "
                    f"sent (content {recorded} → {content}): restore the facts and templates to "
                    f"finish it, or send the change as --notice-version {version + 1} (everyone "
                    "gets the new version)"
                )
            log_change(w, found.id, by, Change.NOTICES, {**details, "event": "prepared"})


@contextmanager
def _planned(
    config: NoticeConfig,
    found: Incident,
    scope: Scope,
    audience: Audience,
    key: bytes,
    directory_spec: str | None,
    query: str | None,
) -> Iterator[NoticePlan]:
    directory = open_directory(directory_spec, query=query) if directory_spec else None
    try:
        yield plan_notices(config, found, scope, audience=audience, key=key, directory=directory)
    finally:
        if directory is not None:
            directory.close()


def _content_of(log: list[LogEntry], audience: Audience, version: int) -> str | None:
    """The content hash last recorded for (audience, version), if any."""
    found = None
    for entry in log:
        d = entry.details
        if (
            entry.change == Change.NOTICES
            and d.get("event") in ("prepared", "started")
            and d.get("audience") == audience.value
            and d.get("version") == version
        ):
            found = str(d["content"])
    return found


def _check_open(found: Incident) -> None:
    """Refuse a change to a closed incident, as every other change is refused."""
    if found.state is State.CLOSED:
        raise TransitionError(
            f"the incident is closed: its scope cannot be recorded any more ({found.id}; "
            "counting it without recording is still possible)"
        )


def _row(w: Writer, incident_id: str) -> Incident:
    row = w.incident_row(incident_id)
    if row is None:
        raise NotFoundError(f"no incident with id {incident_id!r}")
    return Incident.from_row(row)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``, objects merged key by key (one level deep, as the facts are)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _differs(given: dict[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``given`` that is not what the ledger established."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        base = derived.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping):
            inner = {k: v for k, v in value.items() if base.get(k) != v}
            if inner:
                out[key] = inner
        elif value != base:
            out[key] = value
    return out


def _changes(
    found: Incident, facts: Facts, assessment: Assessment, basis: ScopeBasis
) -> list[FieldChange]:
    """What this assessment changes, before → after (nothing for a first assessment)."""
    changes: list[FieldChange] = []
    if found.facts is None and found.assessment is None:
        return changes
    if found.scope_basis is not basis:
        changes.append(
            FieldChange(
                "scope_basis",
                found.scope_basis.value if found.scope_basis is not None else None,
                basis.value,
            )
        )
    before = _flat("facts", facts_to_dict(found.facts) if found.facts is not None else {})
    after = _flat("facts", facts_to_dict(facts))
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            changes.append(FieldChange(key, before.get(key), after.get(key)))
    old = found.assessment
    for name, b, a in (
        ("severity.level", old and old.severity.level, assessment.severity.level),
        ("severity.score", old and old.severity.score, assessment.severity.score),
        (
            "notify_authority.required",
            old and old.notify_authority.required,
            assessment.notify_authority.required,
        ),
        (
            "notify_subjects.required",
            old and old.notify_subjects.required,
            assessment.notify_subjects.required,
        ),
        (
            "notify_subjects.exemption",
            old and old.notify_subjects.exemption,
            assessment.notify_subjects.exemption,
        ),
    ):
        before_value = b if old is not None else None
        if before_value != a:
            changes.append(FieldChange(name, before_value, a))
    return changes


def _require_reason(
    found: Incident,
    facts: Facts,
    assessment: Assessment,
    basis: ScopeBasis,
    reason: str | None,
) -> None:
    """Refuse, without a reason, a change that lowers what the incident calls for."""
    if reason is not None:
        return
    problems: list[Problem] = []
    old_aware, new_aware = found.aware_us, to_us(facts.aware_at)
    if old_aware is not None and new_aware > old_aware:
        problems.append(
            Problem(
                0,
                "reason",
                f"awareness moves later ({iso(old_aware)} → {iso(new_aware)}), which moves "
                "the 72-hour deadline: say why (--reason)",
            )
        )
    if found.scope_basis is ScopeBasis.ALL and basis is ScopeBasis.UNJUSTIFIED:
        problems.append(
            Problem(
                0,
                "reason",
                "the scope narrows from all accesses to unjustified ones only, which may leave "
                "people out: say why (--reason)",
            )
        )
    old = found.assessment
    if old is not None:
        for label, was, now in (
            (
                "notifying the authority",
                old.notify_authority.required,
                assessment.notify_authority.required,
            ),
            (
                "telling the people concerned",
                old.notify_subjects.required,
                assessment.notify_subjects.required,
            ),
        ):
            if was and not now:
                problems.append(
                    Problem(
                        0,
                        "reason",
                        f"{label} was required and no longer is: say why (--reason)",
                    )
                )
    if problems:
        raise IncidentInputError(problems, unit="field")


def _flat(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            out.update(_flat(path, value))
        else:
            out[path] = value
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "…"
