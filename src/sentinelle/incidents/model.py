"""Incident records: the states an incident goes through and what is recorded about it.

An incident moves forward one state at a time, ``open → assessed → notifying → closed``
(GDPR Art. 33: assess, notify the authority within 72 hours and the data subjects when
Art. 34 requires it, then close). Skipping a state or going back is refused with a
:class:`TransitionError`: a breach register (Art. 33(5)) must show each decision once, in order.

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

from sentinelle.detect.timeutil import HOUR, MINUTE, iso, parse_time
from sentinelle.errors import Error, Problem, ValidationError

__all__ = [
    "AUTHORITY_DEADLINE",
    "AUTHORITY_NOTIFIED",
    "AuthorityNotification",
    "Clock",
    "Incident",
    "IncidentInputError",
    "LogEntry",
    "Phase",
    "State",
    "TransitionError",
    "check_notification",
    "span",
]

AUTHORITY_DEADLINE: Final = 72 * HOUR  # Art. 33(1): "not later than 72 hours after" awareness
AUTHORITY_NOTIFIED: Final = "authority_notified"  # the incident_log change kind of a phase
_CLOCK_SKEW: Final = 5 * MINUTE  # a sending time this far ahead of our clock is still accepted
_MAX_TEXT: Final = 5000  # free text of a phase (note, delay reasons), as the facts' summary
_MAX_REFERENCE: Final = 200


class TransitionError(Error):
    """A state change the lifecycle does not allow (skipping a state, going back)."""


class IncidentInputError(ValidationError):
    """An incident or a change of it was refused: each problem names the field at fault."""

    def diagnostics(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" for p in self.problems)


class State(enum.StrEnum):
    """Where an incident is in its handling.

    OPEN: recorded; scope and facts being established.
    ASSESSED: risk to the data subjects assessed (Art. 33(1), 34(1)); notification decided.
    NOTIFYING: notifications to the authority and, if required, the data subjects under way.
    CLOSED: handled; the record stays in the register.
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


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as stored. ``from_us``/``to_us`` bound its window, both ends included."""

    id: str
    title: str
    state: State
    actors: tuple[str, ...]
    from_us: int
    to_us: int
    created_us: int
    created_by: str
    facts: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None

    def to_row(self) -> tuple[Any, ...]:
        """The stored form (columns of ``incidents``)."""
        return (
            self.id,
            self.title,
            self.state.value,
            json.dumps(list(self.actors)),
            self.from_us,
            self.to_us,
            self.created_us,
            self.created_by,
            json.dumps(self.facts) if self.facts is not None else None,
            json.dumps(self.assessment) if self.assessment is not None else None,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Incident:
        """Inverse of :meth:`to_row`."""
        return cls(
            id=row[0],
            title=row[1],
            state=State(row[2]),
            actors=tuple(json.loads(row[3])),
            from_us=int(row[4]),
            to_us=int(row[5]),
            created_us=int(row[6]),
            created_by=row[7],
            facts=json.loads(row[8]) if row[8] is not None else None,
            assessment=json.loads(row[9]) if row[9] is not None else None,
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
            "facts": self.facts,
            "assessment": self.assessment,
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
    def from_row(cls, row: tuple[Any, ...]) -> LogEntry:
        """From an ``incident_log`` row."""
        return cls(row[0], int(row[1]), row[2], row[3], json.loads(row[4]))

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
        aware: int | None = None
        raw = (incident.facts or {}).get("aware_at")
        if isinstance(raw, str):
            try:
                aware = parse_time(raw)
            except ValueError:  # facts recorded by hand can hold anything; no clock then
                aware = None
        duty = (incident.assessment or {}).get("notify_authority")
        required = duty.get("required") if isinstance(duty, dict) else None
        phases = tuple(
            AuthorityNotification.from_log(e)
            for e in log
            if e.incident == incident.id and e.change == AUTHORITY_NOTIFIED
        )
        return cls(
            now_us=now_us,
            aware_us=aware,
            phases=phases,
            required=required if isinstance(required, bool) else None,
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
    def status(self) -> str:
        """``unknown``, ``not_required``, ``running``, ``overdue``, ``on_time`` or ``late``."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return "unknown"
        if initial is not None:
            return "late" if initial.sent_us > deadline else "on_time"
        if self.required is False:
            return "not_required"
        return "overdue" if self.now_us > deadline else "running"

    @property
    def on_time(self) -> bool | None:
        """Whether the initial notification met the deadline (``None`` until it is sent)."""
        status = self.status
        return True if status == "on_time" else False if status == "late" else None

    @property
    def time_left_us(self) -> int | None:
        """Time until the deadline while the clock is running, else ``None``."""
        if self.status != "running" or self.deadline_us is None:
            return None
        return self.deadline_us - self.now_us

    @property
    def late_by_us(self) -> int | None:
        """How late the initial notification was, or is now while overdue; else ``None``."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return None
        if self.status == "late" and initial is not None:
            return initial.sent_us - deadline
        if self.status == "overdue":
            return self.now_us - deadline
        return None

    def summary(self) -> str:
        """One sentence for people: where the clock stands."""
        deadline, initial = self.deadline_us, self.initial
        if deadline is None:
            return "no awareness time recorded: assess the incident to start the 72-hour clock"
        due = iso(deadline)
        if initial is not None:
            sent = iso(initial.sent_us)
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
            "status": self.status,
            "time_left_seconds": left // 10**6 if left is not None else None,
            "late_by_seconds": late_by // 10**6 if late_by is not None else None,
            "initial_notification_at": iso(initial.sent_us) if initial is not None else None,
            "on_time": self.on_time,
            "delay_reasons": initial.delay_reasons if initial is not None else None,
            "summary": self.summary(),
            "phases": [p.to_dict() for p in self.phases],
        }


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
    if sent_us > clock.now_us + _CLOCK_SKEW:
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
