"""Incident records: the states an incident goes through and what is recorded about it.

An incident moves forward one state at a time, ``open → assessed → notifying → closed``
(GDPR Art. 33: assess, notify the authority within 72 hours and the data subjects when
Art. 34 requires it, then close). Skipping a state or going back is refused with a
:class:`TransitionError`: a breach register (Art. 33(5)) must show each decision once, in order.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from sentinelle.detect.timeutil import iso
from sentinelle.errors import Error, ValidationError

__all__ = ["Incident", "IncidentInputError", "LogEntry", "State", "TransitionError"]


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
