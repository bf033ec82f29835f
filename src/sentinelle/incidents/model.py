"""Incident records: the states an incident goes through and what is recorded about it.

An incident moves forward one state at a time, ``open → assessed → notifying → closed``
(GDPR Art. 33: assess, notify the authority within 72 hours and the data subjects when
Art. 34 requires it, then close). Skipping a state or going back is refused with a
:class:`TransitionError`: a breach register (Art. 33(5)) must show each decision once, in order.
Each state must be true of the record (:func:`check_advance`): ``assessed`` needs an
assessment, ``notifying`` something notified; an assessed incident that requires no
notification at all closes directly, as there is nothing to notify.

What was sent to the supervisory authority is recorded in phases (Art. 33(4); EDPB Guidelines
01/2021 para. 8; the CNIL's initial and complementary notifications): one :attr:`Phase.INITIAL`
notification, then any number of :attr:`Phase.COMPLEMENTARY` ones, then at most one
:attr:`Phase.FINAL`. :class:`Clock` is the 72-hour clock of Art. 33(1) that they are judged
against, and :func:`check_notification` the rules a new phase must pass.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sentinelle.assess import Assessment, Facts, facts_to_dict, parse_facts
from sentinelle.assess.gdpr import DEADLINE
from sentinelle.errors import Error, Problem, StoreError, ValidationError
from sentinelle.store.incidents import IncidentRow, LogRow
from sentinelle.timeutil import EPOCH, MINUTE, SECOND, iso, parse_time, to_us

__all__ = [
    "AUTHORITY_DEADLINE",
    "AUTHORITY_NOTIFIED",
    "CLOCK_SKEW",
    "AuthorityNotification",
    "Change",
    "Clock",
    "Incident",
    "IncidentInputError",
    "DEFAULT_SCOPE_BASIS",
    "LogEntry",
    "Phase",
    "ScopeBasis",
    "State",
    "TransitionError",
    "check_advance",
    "check_notification",
    "nothing_to_notify",
    "span",
]

AUTHORITY_DEADLINE: Final = to_us(EPOCH + DEADLINE)  # Art. 33(1), in microseconds
CLOCK_SKEW: Final = 5 * MINUTE  # a time this far ahead of our clock is still accepted
_MAX_TEXT: Final = 5000  # free text of a phase (note, delay reasons), as the facts' summary
_MAX_REFERENCE: Final = 200


class TransitionError(Error):
    """A state change the lifecycle does not allow (skipping a state, going back)."""


class IncidentInputError(ValidationError):
    """An incident or a change of it was refused: each problem names the field at fault."""

    def diagnostics(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" for p in self.problems)


class Change(enum.StrEnum):
    """What one ``incident_log`` entry records.

    OPENED: the incident was recorded. STATE: it moved to another state (``from``, ``to``,
    ``reason``). SCOPE: its scope was counted from the ledger. FACTS: its facts were set
    (``facts``, what people ``given``, ``reason``). ASSESSMENT: it was assessed (the
    assessment, the ``changes`` before → after, ``reason``). AUTHORITY_NOTIFIED: a
    notification to the supervisory authority was recorded (a phase). NOTICES: a notice run
    was prepared (content hash) or ran (its counts). JOINED: alerts escalated into it added
    actors or widened its window (``actors_added``, ``window`` before → after, ``alerts``,
    ``reason``).
    """

    OPENED = "opened"
    JOINED = "joined"
    STATE = "state"
    SCOPE = "scope"
    FACTS = "facts"
    ASSESSMENT = "assessment"
    AUTHORITY_NOTIFIED = "authority_notified"
    NOTICES = "notices"


AUTHORITY_NOTIFIED: Final = Change.AUTHORITY_NOTIFIED  # the change kind of a phase


class State(enum.StrEnum):
    """Where an incident is in its handling.

    OPEN: recorded; scope and facts being established.
    ASSESSED: risk to the data subjects assessed (Art. 33(1), 34(1)); notification decided.
    NOTIFYING: notifications to the authority and, if required, the data subjects under way
    (a notice was sent or a notification to the authority recorded).
    CLOSED: handled; the record stays in the register. An assessed incident that requires no
    notification closes without notifying (:func:`nothing_to_notify`).
    """

    OPEN = "open"
    ASSESSED = "assessed"
    NOTIFYING = "notifying"
    CLOSED = "closed"

    @property
    def next(self) -> State | None:
        """The only state this one may move to (``None`` once closed)."""
        order = list(State)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None

    @classmethod
    def parse(cls, text: str) -> State:
        """``"assessed"`` → ``State.ASSESSED``. Raises :class:`TransitionError` if unknown."""
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise TransitionError(f"unknown incident state {text!r}: one of {names}") from None

    def check_move(self, target: State) -> None:
        """Raise :class:`TransitionError` unless ``target`` is the next state."""
        if target is self.next:
            return
        if self is State.CLOSED:
            raise TransitionError("the incident is closed: it cannot change state any more")
        if target is self:
            raise TransitionError(f"the incident is already {self.value}")
        order = list(State)
        how = "go back" if order.index(target) < order.index(self) else "skip a state"
        raise TransitionError(
            f"an incident cannot {how}: {self.value} → {target.value}; "
            f"the next state is {self.next.value if self.next else 'none'}"
        )


class ScopeBasis(enum.StrEnum):
    """Which accesses of the incident's actors count in its scope.

    UNJUSTIFIED: only accesses without a valid ticket or grant (the default: for staff who
    also did their ordinary ticketed work, those are the breach).
    ALL: every allowed access in the window (a compromised account, or when tickets cannot
    be trusted). Wider: never chosen silently in place of the other, and narrowing it back
    needs a reason.
    """

    UNJUSTIFIED = "unjustified"
    ALL = "all"

    @property
    def unjustified_only(self) -> bool:
        """Whether only unjustified accesses count."""
        return self is ScopeBasis.UNJUSTIFIED

    @property
    def header(self) -> str:
        """What the scope counts, for a heading."""
        return (
            "accesses without a valid ticket or grant only"
            if self is ScopeBasis.UNJUSTIFIED
            else "all accesses, justified or not"
        )


DEFAULT_SCOPE_BASIS: Final = ScopeBasis.UNJUSTIFIED


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as stored. ``from_us``/``to_us`` bound its window, both ends included.

    ``facts`` are the facts last assessed, ``given`` the part of them people stated (kept
    across re-assessments: the ledger's part is recounted, theirs is not forgotten),
    ``scope_basis`` the scope chosen at the last assessment (``None`` before one).
    """

    id: str
    title: str
    state: State
    actors: tuple[str, ...]
    from_us: int
    to_us: int
    created_us: int
    created_by: str
    facts: Facts | None = None
    assessment: Assessment | None = None
    given: dict[str, Any] | None = None
    scope_basis: ScopeBasis | None = None

    @property
    def aware_us(self) -> int | None:
        """When the controller became aware (the facts' ``aware_at``), once assessed."""
        return to_us(self.facts.aware_at) if self.facts is not None else None

    def to_row(self) -> IncidentRow:
        """The stored form (columns of ``incidents``)."""
        return IncidentRow(
            id=self.id,
            title=self.title,
            state=self.state.value,
            actors_json=json.dumps(list(self.actors)),
            from_us=self.from_us,
            to_us=self.to_us,
            created_us=self.created_us,
            created_by=self.created_by,
            facts_json=json.dumps(facts_to_dict(self.facts)) if self.facts is not None else None,
            assessment_json=(
                json.dumps(self.assessment.to_dict()) if self.assessment is not None else None
            ),
            facts_given_json=json.dumps(self.given) if self.given is not None else None,
            scope_basis=self.scope_basis.value if self.scope_basis is not None else None,
        )

    @classmethod
    def from_row(cls, row: IncidentRow) -> Incident:
        """Inverse of :meth:`to_row`: the JSON columns decoded into typed records.

        Raises :class:`~sentinelle.errors.StoreError` if a stored column does not decode
        (changed outside Sentinelle), naming the incident and the field.
        """
        try:
            facts = parse_facts(row.facts_json) if row.facts_json is not None else None
            assessment = (
                Assessment.from_json(row.assessment_json)
                if row.assessment_json is not None
                else None
            )
        except ValidationError as exc:
            where = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
            raise StoreError(
                f"incident {row.id}: its stored {exc.unit} could not be decoded ({where})"
            ) from None
        return cls(
            id=row.id,
            title=row.title,
            state=State(row.state),
            actors=tuple(json.loads(row.actors_json)),
            from_us=row.from_us,
            to_us=row.to_us,
            created_us=row.created_us,
            created_by=row.created_by,
            facts=facts,
            assessment=assessment,
            given=json.loads(row.facts_given_json) if row.facts_given_json else None,
            scope_basis=ScopeBasis(row.scope_basis) if row.scope_basis else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times in RFC 3339 UTC)."""
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state.value,
            "actors": list(self.actors),
            "window": {"from": iso(self.from_us), "to": iso(self.to_us)},
            "created": iso(self.created_us),
            "created_by": self.created_by,
            "scope_basis": self.scope_basis.value if self.scope_basis is not None else None,
            "facts": facts_to_dict(self.facts) if self.facts is not None else None,
            "facts_given": self.given,
            "assessment": self.assessment.to_dict() if self.assessment is not None else None,
        }


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One recorded change of an incident: when, by whom, what, and the details (reasons)."""

    incident: str
    at_us: int
    by: str
    change: str
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: LogRow) -> LogEntry:
        """From an ``incident_log`` row."""
        return cls(row.incident, row.at_us, row.by, row.change, json.loads(row.details_json))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "at": iso(self.at_us),
            "by": self.by,
            "change": self.change,
            "details": self.details,
        }


class Phase(enum.StrEnum):
    """One notification to the supervisory authority, in the phases Art. 33(4) allows.

    INITIAL: the first notification, due within 72 hours of awareness (Art. 33(1)); once only.
    COMPLEMENTARY: information not available at first, provided "in phases without undue
    further delay" (Art. 33(4)); the CNIL asks for it within 72 hours of the initial one if
    possible. Any number, after the initial one.
    FINAL: the closing notification: the information is complete; nothing follows it.
    """

    INITIAL = "initial"
    COMPLEMENTARY = "complementary"
    FINAL = "final"

    @classmethod
    def parse(cls, text: str) -> Phase:
        """``"initial"`` → ``Phase.INITIAL``. Raises :class:`IncidentInputError` if unknown."""
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise IncidentInputError(
                [Problem(0, "phase", f"unknown phase {text!r}: one of {names}")], unit="field"
            ) from None


@dataclass(frozen=True, slots=True)
class AuthorityNotification:
    """One notification sent to the supervisory authority, as recorded in the incident log.

    ``sent_us`` is when it was sent and ``recorded_us`` when it was recorded (its log entry's
    time). ``reference`` is the authority's (e.g. the CNIL's case number); ``note`` what it
    contained or why it was sent; ``delay_reasons`` why a late initial notification was late
    (Art. 33(1)). ``deadline_us`` is the deadline an initial notification was judged against
    when it was recorded (``None`` for the other phases).
    """

    phase: Phase
    sent_us: int
    by: str
    recorded_us: int
    reference: str | None = None
    note: str | None = None
    delay_reasons: str | None = None
    deadline_us: int | None = None

    @property
    def late(self) -> bool | None:
        """Sent after :attr:`deadline_us` (``None`` without one)."""
        return None if self.deadline_us is None else self.sent_us > self.deadline_us

    def details(self) -> dict[str, Any]:
        """The ``details`` of its ``authority_notified`` log entry (the time is the entry's)."""
        return {
            "phase": self.phase.value,
            "sent_at": iso(self.sent_us),
            "reference": self.reference,
            "note": self.note,
            "delay_reasons": self.delay_reasons,
            "deadline": iso(self.deadline_us) if self.deadline_us is not None else None,
            "late": self.late,
        }

    @classmethod
    def from_log(cls, entry: LogEntry) -> AuthorityNotification:
        """Inverse of :meth:`details`, from an ``authority_notified`` entry."""
        d = entry.details
        return cls(
            phase=Phase(d["phase"]),
            sent_us=parse_time(d["sent_at"]),
            by=entry.by,
            recorded_us=entry.at_us,
            reference=d.get("reference"),
            note=d.get("note"),
            delay_reasons=d.get("delay_reasons"),
            deadline_us=parse_time(d["deadline"]) if d.get("deadline") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the log details plus who recorded it and when."""
        return {**self.details(), "by": self.by, "recorded_at": iso(self.recorded_us)}


class ClockStatus(enum.StrEnum):
    """Where the 72-hour clock stands (see :class:`Clock`)."""

    UNKNOWN = "unknown"
    NOT_REQUIRED = "not_required"
    RUNNING = "running"
    OVERDUE = "overdue"
    ON_TIME = "on_time"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Clock:
    """The 72-hour clock of Art. 33(1) for one incident, as of ``now_us``.

    It starts at awareness (``aware_at`` in the incident's facts) and stops at the initial
    notification; the later phases are listed but do not move it. ``required`` is the
    assessment's ``notify_authority.required`` (``None`` before an assessment): a clock runs
    either way, because a notification made without being required is judged by it too.

    :attr:`status` is one of

    * ``unknown``: no awareness time recorded yet (the incident was not assessed);
    * ``not_required``: the assessment requires no notification and none was sent;
    * ``running``: not notified yet, the deadline is ahead (:attr:`time_left_us`);
    * ``overdue``: not notified yet, the deadline has passed (:attr:`late_by_us`);
    * ``on_time``: the initial notification was sent by the deadline;
    * ``late``: it was sent after the deadline (:attr:`late_by_us`).
    """

    now_us: int
    aware_us: int | None
    phases: tuple[AuthorityNotification, ...] = ()
    required: bool | None = None

    @classmethod
    def of(cls, incident: Incident, log: Iterable[LogEntry], *, now_us: int) -> Clock:
        """The clock of ``incident`` from its facts, assessment and change log."""
        assessment = incident.assessment
        phases = tuple(
            AuthorityNotification.from_log(e)
            for e in log
            if e.incident == incident.id and e.change == AUTHORITY_NOTIFIED
        )
        return cls(
            now_us=now_us,
            aware_us=incident.aware_us,
            phases=phases,
            required=assessment.notify_authority.required if assessment is not None else None,
        )

    @property
    def deadline_us(self) -> int | None:
        """Awareness + 72 hours, weekends and holidays included (``None`` without awareness)."""
        return None if self.aware_us is None else self.aware_us + AUTHORITY_DEADLINE

    @property
    def initial(self) -> AuthorityNotification | None:
        """The initial notification, once sent."""
        return next((p for p in self.phases if p.phase is Phase.INITIAL), None)

    @property
    def final(self) -> AuthorityNotification | None:
        """The final notification, once sent."""
        return next((p for p in self.phases if p.phase is Phase.FINAL), None)

    @property
    def status(self) -> ClockStatus:
        """Where the clock stands (:class:`ClockStatus`)."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return ClockStatus.UNKNOWN
        if initial is not None:
            return ClockStatus.LATE if initial.sent_us > deadline else ClockStatus.ON_TIME
        if self.required is False:
            return ClockStatus.NOT_REQUIRED
        return ClockStatus.OVERDUE if self.now_us > deadline else ClockStatus.RUNNING

    @property
    def on_time(self) -> bool | None:
        """Whether the initial notification met the deadline (``None`` until it is sent)."""
        status = self.status
        return (
            True if status is ClockStatus.ON_TIME else False if status is ClockStatus.LATE else None
        )

    @property
    def time_left_us(self) -> int | None:
        """Time until the deadline while the clock is running, else ``None``."""
        if self.status is not ClockStatus.RUNNING or self.deadline_us is None:
            return None
        return self.deadline_us - self.now_us

    @property
    def late_by_us(self) -> int | None:
        """How late the initial notification was, or is now while overdue; else ``None``."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return None
        if self.status is ClockStatus.LATE and initial is not None:
            return initial.sent_us - deadline
        if self.status is ClockStatus.OVERDUE:
            return self.now_us - deadline
        return None

    def summary(self) -> str:
        """One sentence for people: where the clock stands."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return "no awareness time recorded: assess the incident to start the 72-hour clock"
        # To the second: the microseconds of an awareness taken from the opening are noise.
        due = iso(deadline - deadline % SECOND)
        if initial is not None:
            sent = iso(initial.sent_us - initial.sent_us % SECOND)
            if initial.sent_us > deadline:
                return (
                    f"initial notification sent {sent}, {span(initial.sent_us - deadline)} "
                    f"after the deadline {due}"
                )
            return (
                f"initial notification sent {sent}, {span(deadline - initial.sent_us)} before "
                f"the deadline {due}"
            )
        if self.required is False:
            return f"no notification to the authority required (72 hours would end {due})"
        if self.now_us > deadline:
            return (
                f"the deadline {due} passed {span(self.now_us - deadline)} ago: notify now and "
                "give the reasons for the delay"
            )
        return f"notify the authority by {due}: {span(deadline - self.now_us)} left"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (durations in whole seconds, times in RFC 3339 UTC)."""
        deadline, initial = self.deadline_us, self.initial
        left, late_by = self.time_left_us, self.late_by_us
        return {
            "aware_at": iso(self.aware_us) if self.aware_us is not None else None,
            "deadline": iso(deadline) if deadline is not None else None,
            "now": iso(self.now_us),
            "required": self.required,
            "status": self.status.value,
            "time_left_seconds": left // 10**6 if left is not None else None,
            "late_by_seconds": late_by // 10**6 if late_by is not None else None,
            "initial_notification_at": iso(initial.sent_us) if initial is not None else None,
            "on_time": self.on_time,
            "delay_reasons": initial.delay_reasons if initial is not None else None,
            "summary": self.summary(),
            "phases": [p.to_dict() for p in self.phases],
        }


def nothing_to_notify(incident: Incident) -> bool:
    """Whether ``incident`` is assessed and its assessment requires no notification: not to
    the authority (Art. 33), not to the people concerned (Art. 34), nor a public
    communication in their place (Art. 34(3)(c)). Such an incident may close from
    ``assessed``: it is documented in the register (Art. 33(5)), with nothing to notify."""
    found = incident.assessment
    return (
        incident.state is State.ASSESSED
        and found is not None
        and not found.notify_authority.required
        and not found.notify_subjects.required
        and not found.notify_subjects.public_communication
    )


def check_advance(
    incident: Incident, target: State, *, notified: bool, no_access: bool = False
) -> None:
    """Raise :class:`TransitionError` unless ``incident`` may be moved to ``target`` by hand
    (``incident advance``, the API, the console), with what is missing named.

    On top of :meth:`State.check_move` (one step forward at a time): ``assessed`` needs an
    assessment recorded (assessing moves the incident itself); ``notifying`` needs something
    notified, ``notified`` being whether a notice was sent or a notification to the authority
    recorded (both move the incident themselves); an assessed incident closes directly only
    when :func:`nothing_to_notify` (else it must be notified first); an open one only when
    ``no_access``: its scope shows no access to customer data at all, so there is no personal
    data breach to assess (the reason given says so in the register).
    """
    name = incident.id
    if incident.state is State.OPEN and target is State.CLOSED:
        if no_access and incident.assessment is None:
            return
        raise TransitionError(
            f"{name} cannot be closed while open: assess it first (sentinelle incident assess "
            f"{name}); only an incident whose scope shows no access to customer data closes "
            "unassessed"
        )
    assess = f"assess it first (sentinelle incident assess {name})"
    if incident.state is State.OPEN and target is State.ASSESSED and incident.assessment is None:
        raise TransitionError(
            f"{name} cannot be marked assessed: no assessment is recorded; {assess}, which "
            "records the assessment and moves the incident to assessed"
        )
    if incident.state is State.ASSESSED and target in (State.NOTIFYING, State.CLOSED):
        if incident.assessment is None:
            raise TransitionError(
                f"{name} cannot be marked {target.value}: no assessment is recorded; {assess}"
            )
        if target is State.CLOSED and nothing_to_notify(incident):
            return
        if target is State.NOTIFYING and not notified:
            instead = (
                "; its assessment requires no notification: close it instead "
                f"(sentinelle incident advance {name} closed) with the reasoning"
                if nothing_to_notify(incident)
                else ""
            )
            raise TransitionError(
                f"{name} cannot be marked notifying: nothing was notified yet; record the "
                f"notification sent to the authority (sentinelle incident notified {name} "
                "--phase initial) or send notices (sentinelle incident notify), which move it "
                f"to notifying{instead}"
            )
        if target is State.CLOSED and not notified:
            duties = _duties(incident)
            raise TransitionError(
                f"{name} cannot be closed before it is notified: its assessment requires "
                f"{' and '.join(duties)}; record the notification to the authority or send "
                "the notices first (it then moves to notifying), or assess it again with a "
                "reason if the duty no longer holds"
            )
    incident.state.check_move(target)


def _duties(incident: Incident) -> list[str]:
    """What the incident's assessment requires to be notified, in words."""
    found = incident.assessment
    if found is None:
        return []
    duties = []
    if found.notify_authority.required:
        duties.append("notifying the supervisory authority (Art. 33)")
    if found.notify_subjects.required:
        duties.append("telling the people concerned (Art. 34)")
    elif found.notify_subjects.public_communication:
        duties.append("a public communication to the people concerned (Art. 34(3)(c))")
    return duties


def check_notification(
    incident: Incident,
    clock: Clock,
    phase: Phase,
    *,
    sent_us: int,
    reference: str | None = None,
    note: str | None = None,
    delay_reasons: str | None = None,
) -> None:
    """Raise unless ``phase``, sent at ``sent_us``, may be recorded now (``clock.now_us``).

    Raises :class:`TransitionError` if the incident is not assessed or notifying, for a
    second initial notification, a complementary or final one before the initial, and
    anything after the final one. Raises :class:`IncidentInputError`, naming each field at
    fault, when no awareness time is recorded, when the sending time is ahead of now (by
    more than five minutes of clock skew), before awareness or before the previous phase,
    when a text is too long, and when a late initial notification gives no reasons for the
    delay (Art. 33(1)).
    """
    if incident.state is State.OPEN:
        raise TransitionError(
            "the incident is not assessed yet: assess it before recording a notification"
        )
    if incident.state is State.CLOSED:
        raise TransitionError("the incident is closed: no notification can be recorded any more")
    initial, final = clock.initial, clock.final
    if final is not None:
        raise TransitionError(
            f"the final notification was sent {iso(final.sent_us)}: nothing follows it"
        )
    if phase is Phase.INITIAL and initial is not None:
        raise TransitionError(
            f"the initial notification was already sent {iso(initial.sent_us)}: "
            "record further information as complementary"
        )
    if phase is not Phase.INITIAL and initial is None:
        raise TransitionError(f"a {phase.value} notification needs the initial notification first")
    problems: list[Problem] = []
    deadline = clock.deadline_us
    if clock.aware_us is None or deadline is None:
        problems.append(
            Problem(
                0,
                "facts.aware_at",
                "no awareness time is recorded: assess the incident so the 72-hour deadline "
                "is known",
            )
        )
    elif sent_us < clock.aware_us:
        problems.append(
            Problem(0, "at", f"sent before awareness at {iso(clock.aware_us)}: check the time")
        )
    if sent_us > clock.now_us + CLOCK_SKEW:
        problems.append(Problem(0, "at", f"{iso(sent_us)} is in the future"))
    if clock.phases and sent_us < clock.phases[-1].sent_us:
        last = clock.phases[-1]
        problems.append(
            Problem(
                0,
                "at",
                f"before the {last.phase.value} notification sent {iso(last.sent_us)}: "
                "phases are recorded in the order they were sent",
            )
        )
    for name, text, limit in (
        ("reference", reference, _MAX_REFERENCE),
        ("note", note, _MAX_TEXT),
        ("delay_reasons", delay_reasons, _MAX_TEXT),
    ):
        if text is not None and len(text) > limit:
            problems.append(Problem(0, name, f"longer than {limit} characters"))
    if (
        phase is Phase.INITIAL
        and deadline is not None
        and sent_us > deadline
        and not (delay_reasons or "").strip()
    ):
        problems.append(
            Problem(
                0,
                "delay_reasons",
                f"the initial notification is {span(sent_us - deadline)} after the 72-hour "
                f"deadline {iso(deadline)}: give the reasons for the delay (Art. 33(1))",
            )
        )
    if problems:
        raise IncidentInputError(problems, unit="field")


def span(us: int) -> str:
    """A duration for people, to the minute: ``"2 d 3 h 5 min"``, ``"less than a minute"``."""
    minutes = abs(us) // MINUTE
    if minutes == 0:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p)
