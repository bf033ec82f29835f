"""The shape every jurisdiction's breach-notification rules share.

A :class:`Jurisdiction` turns validated :class:`~sentinelle.assess.facts.Facts` and the
ENISA severity into a :class:`Decision`: whether to notify the authority, whether to tell
the people concerned, the reasons (sentences a DPO can paste into the breach register),
the legal provisions applied and the assumptions made for facts not known yet. EU GDPR
Art. 33/34 is :mod:`sentinelle.assess.gdpr`; other regimes (UK GDPR, Swiss FADP Art. 24,
California Civ. Code § 1798.82, PIPEDA s. 10.1) are meant to be further modules listed in
:data:`sentinelle.assess.JURISDICTIONS`.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from sentinelle.assess.enisa import SeverityResult
    from sentinelle.assess.facts import Facts

__all__ = ["Assumption", "AuthorityDuty", "Decision", "Exemption", "Jurisdiction", "SubjectsDuty"]

Exemption = Literal["encrypted", "mitigated", "disproportionate_effort"]


@dataclass(frozen=True, slots=True)
class Assumption:
    """A fact that was missing, the value used in its place, and why.

    ``would_change`` lists the answers that would change the decision, filled in by
    :func:`sentinelle.assess.assess` by re-running the assessment with each answer.
    """

    field: str  # JSON path in the facts, e.g. "$.cause.intent"
    assumed: Any
    statement: str
    alternatives: tuple[Any, ...] = ()
    would_change: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "field": self.field,
            "assumed": self.assumed,
            "statement": self.statement,
            "would_change": list(self.would_change),
        }


@dataclass(frozen=True, slots=True)
class AuthorityDuty:
    """Notification to the supervisory authority."""

    required: bool
    deadline: dt.datetime | None
    late: bool
    reasons: list[str]
    articles: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the deadline as RFC 3339 UTC."""
        return {
            "required": self.required,
            "deadline": _iso(self.deadline) if self.deadline else None,
            "late": self.late,
            "reasons": list(self.reasons),
            "articles": list(self.articles),
        }


@dataclass(frozen=True, slots=True)
class SubjectsDuty:
    """Communication to the people concerned."""

    required: bool
    exemption: Exemption | None
    public_communication: bool
    reasons: list[str]
    articles: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "required": self.required,
            "exemption": self.exemption,
            "public_communication": self.public_communication,
            "reasons": list(self.reasons),
            "articles": list(self.articles),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """One jurisdiction's answer. Documentation (a register entry) is always required."""

    jurisdiction: str
    notify_authority: AuthorityDuty
    notify_subjects: SubjectsDuty
    document: bool = True
    assumptions: list[Assumption] = field(default_factory=list)


class Jurisdiction(abc.ABC):
    """The notification rules of one legal regime. Subclasses are pure: facts in, decision out."""

    name: ClassVar[str]  # registry key, e.g. "EU"
    title: ClassVar[str]  # e.g. "EU GDPR (Regulation (EU) 2016/679)"

    @abc.abstractmethod
    def decide(self, facts: Facts, severity: SeverityResult, *, now: dt.datetime) -> Decision:
        """Decide both duties for ``facts``; ``now`` (aware, UTC) decides lateness."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
