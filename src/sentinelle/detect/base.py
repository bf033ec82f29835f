"""Detection's core types: severities, findings, alerts and the detector interface.

A :class:`Detector` looks at one event at a time, in time order, with the shared
:class:`~sentinelle.detect.context.Context` (tickets, staff, grants, per-actor baselines), and
returns :class:`Finding` objects. The engine turns findings into stored :class:`Alert` records,
one per actor and detector within a dedupe window, each with reasons a responder can act on.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sentinelle.detect.context import ActorState, Context
from sentinelle.events import AccessEvent, ContextEvent

__all__ = ["Alert", "Detector", "DetectorConfig", "Finding", "Severity"]


class Severity(enum.IntEnum):
    """How urgently a responder should look.

    LOW: worth a look during a review; no action needed on its own.
    MEDIUM: out of line with the actor's usual and their peers'; look today.
    HIGH: strongly suggests abuse; act now (suspend grants, open an incident).
    CRITICAL: abuse in progress at scale, or several strong signals together.
    """

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"medium"`` → ``Severity.MEDIUM``."""
        return cls[text.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """What one detector concluded from one event: the alert it wants raised or raised further.

    ``score`` is 0–100; ``reasons`` are full sentences with the numbers that led to it.
    ``strength`` (0–1) is how far a medium finding judged by chance is towards high (its
    chance towards the next threshold): its evidence is worth that much more
    (:mod:`sentinelle.detect.evidence`). A ``context`` finding is listed with the actor's
    evidence but worth no points: what an insider would do too, but that is covered (a
    leaver's export with a ticket for it).
    """

    detector: str
    actor: str
    time_us: int
    severity: Severity
    score: float
    merchants: tuple[str, ...]
    events: tuple[str, ...]
    reasons: tuple[str, ...]
    strength: float = 0.0
    context: bool = False


@dataclass(slots=True)
class Alert:
    """A stored alert: the findings of one detector about one actor within a window."""

    id: str
    actor: str
    detector: str
    time_us: int  # the triggering event's time (first finding)
    last_us: int  # the latest finding's time
    severity: Severity
    score: float
    merchants: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``sentinelle alerts --json``."""
        from sentinelle.timeutil import iso

        return {
            "id": self.id,
            "actor": self.actor,
            "time": iso(self.time_us),
            "detector": self.detector,
            "severity": str(self.severity),
            "score": round(self.score, 1),
            "merchants": self.merchants,
            "events": self.events,
            "reasons": self.reasons,
        }


class DetectorConfig(BaseModel):
    """Thresholds of one detector; each detector subclasses this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


class Detector(abc.ABC):
    """Looks at events in time order and reports findings."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    # Evidence (see :mod:`sentinelle.detect.evidence`): a built-in detector's findings are
    # signals whose alert severity comes from the actor's accumulated evidence; ``weight``
    # scales the points one finding adds. Other detectors' findings keep their severity.
    graded: ClassVar[bool] = False
    weight: ClassVar[float] = 1.0
    # Graded detectors that read the same signal name one family: on one day their findings
    # are one piece of evidence, not several. None: the detector is a signal of its own.
    family: ClassVar[str | None] = None
    high_profile: frozenset[str] = frozenset()  # customers the platform flags as sensitive

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or self.Config()

    @abc.abstractmethod
    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        """Findings for an access event (most: none).

        ``ctx`` and the actor's ``state`` already include the event, except the actor's habits
        (devices, countries, hours); ``justified`` says whether a ticket or grant covers it.
        """

    def judges(self, kind: str) -> bool:  # noqa: ARG002
        """Whether :meth:`observe` looks at actors of ``kind`` (``actor.kind``): the engine
        asks only those (most detectors: every kind, choosing inside)."""
        return True

    def observe_context(self, event: ContextEvent, ctx: Context) -> list[Finding]:  # noqa: ARG002
        """Findings for a context event (ticket, staff, grant), after ``ctx`` recorded it."""
        return []

    def observe_denied(
        self,
        event: AccessEvent,  # noqa: ARG002
        ctx: Context,  # noqa: ARG002
        state: ActorState,  # noqa: ARG002
    ) -> list[Finding]:
        """Findings for a refused access (``outcome`` ``denied``: a guard's denial or pending
        decision), which :meth:`observe` never sees; most detectors: none."""
        return []

    @classmethod
    def _test_params(cls) -> Iterator[dict[str, Any]]:
        """Configurations for contract tests."""
        yield {}
