"""Breach severity per ENISA, *Recommendations for a methodology of the assessment of
severity of personal data breaches* (Working Document v1.0, December 2013).

``SE = DPC × EI + CB``:

* **DPC** (data processing context, 1-4): the base score of each data category (simple 1,
  behavioural 2, financial 3, sensitive 4), adjusted by whole steps for context, then the
  highest over the categories; always kept within 1-4.
* **EI** (ease of identification): 0.25 negligible, 0.5 limited, 0.75 significant, 1 maximum.
* **CB** (circumstances of the breach, added): loss of confidentiality, of integrity and of
  availability each 0 / 0.25 / 0.5, plus 0.5 for malicious intent.
* Bands: low SE < 2, medium 2 ≤ SE < 3, high 3 ≤ SE < 4, very high SE ≥ 4.

Mapping of our data categories to ENISA's and the adjustments used are in ``_BASE`` and
:func:`dpc` (see ``docs/assessment.md``). ENISA severity is one input to the legal decision
(:mod:`sentinelle.assess.gdpr`), never the decision itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from msgspec import UNSET

from sentinelle.assess.base import Assumption
from sentinelle.assess.facts import Facts

__all__ = [
    "EI_VALUES",
    "SENSITIVE_SECTORS",
    "Level",
    "SeverityResult",
    "cb",
    "dpc",
    "ei",
    "level_for",
    "severity",
]


class Level(enum.IntEnum):
    """ENISA severity levels, ordered so that thresholds can compare."""

    LOW = 1
    """Few inconveniences, overcome without any problem (re-entering information, irritation)."""
    MEDIUM = 2
    """Significant inconveniences, overcome despite a few difficulties (extra costs, stress)."""
    HIGH = 3
    """Significant consequences, overcome with serious difficulties (misappropriated funds)."""
    VERY_HIGH = 4
    """Significant or irreversible consequences which may not be overcome (debt, ill health)."""

    @property
    def label(self) -> str:
        """``low``, ``medium``, ``high`` or ``very_high``."""
        return self.name.lower()


EI_VALUES: Final = {"negligible": 0.25, "limited": 0.5, "significant": 0.75, "maximum": 1.0}

# Base DPC per data category, with ENISA's class for the explanation.
_BASE: Final[dict[str, tuple[int, str]]] = {
    "contact": (1, "simple"),
    "address": (1, "simple"),
    "order_details": (1, "simple"),
    "children": (1, "simple"),  # minors raise the DPC as a characteristic of the individuals
    "behavioral": (2, "behavioural"),
    "location": (2, "behavioural"),
    "payment_partial": (3, "financial"),
    "payment_full": (3, "financial"),
    "financial": (3, "financial"),
    # Our choice: identity documents enable identity theft and fraud (Recital 85), the harm
    # ENISA rates for financial data, so they start at 3 rather than as simple data.
    "identity_document": (3, "financial (identity fraud)"),
    "special": (4, "sensitive"),
}
# Credentials are scored by what they give access to (ENISA; see breach-law.md §2.2).
_CREDENTIALS: Final = {
    "low_value": (1, "simple"),
    "financial": (3, "financial"),
    "sensitive": (4, "sensitive"),
}

SENSITIVE_SECTORS: Final = frozenset(
    {
        "health",
        "healthcare",
        "medical",
        "pharmacy",
        "social",
        "social_services",
        "religious",
        "political",
        "trade_union",
    }
)


@dataclass(frozen=True, slots=True)
class Part:
    """One scored part of the formula with the sentences that explain it."""

    value: float
    explanation: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeverityResult:
    """The ENISA score, each part explained."""

    dpc: int
    ei: float
    cb: float
    score: float
    level: Level
    explanation: tuple[str, ...]
    assumptions: tuple[Assumption, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``dpc``, ``ei``, ``cb``, ``score``, ``level`` and ``explanation``."""
        return {
            "dpc": self.dpc,
            "ei": self.ei,
            "cb": self.cb,
            "score": self.score,
            "level": self.level.label,
            "explanation": list(self.explanation),
        }


def level_for(score: float) -> Level:
    """The ENISA band of a score: low < 2 ≤ medium < 3 ≤ high < 4 ≤ very high."""
    if score < 2:
        return Level.LOW
    if score < 3:
        return Level.MEDIUM
    if score < 4:
        return Level.HIGH
    return Level.VERY_HIGH


def severity(facts: Facts) -> SeverityResult:
    """ENISA severity of the breach the facts describe."""
    assumptions: list[Assumption] = []
    d, e, c = dpc(facts, assumptions), ei(facts, assumptions), cb(facts, assumptions)
    score = d.value * e.value + c.value
    level = level_for(score)
    summary = (
        f"ENISA severity SE = DPC × EI + CB = {d.value:g} × {e.value:g} + {c.value:g} "
        f"= {score:g}: {level.label.replace('_', ' ')}."
    )
    return SeverityResult(
        dpc=int(d.value),
        ei=e.value,
        cb=c.value,
        score=score,
        level=level,
        explanation=(summary, *d.explanation, *e.explanation, *c.explanation),
        assumptions=tuple(assumptions),
    )


def dpc(facts: Facts, assumptions: list[Assumption]) -> Part:
    """Data processing context: highest category score, adjusted by whole steps, kept in 1-4."""
    why: list[str] = []
    best, best_cat = 0, ""
    for cat in facts.data_categories:
        if cat == "credentials":
            target = facts.credentials_for
            if target is UNSET:
                target = "sensitive"
                assumptions.append(
                    Assumption(
                        field="$.credentials_for",
                        assumed="sensitive",
                        statement="It is not known what the leaked credentials give access to; "
                        "we assumed sensitive data, the worst case.",
                        alternatives=("low_value", "financial"),
                    )
                )
            base, kind = _CREDENTIALS[target]
        else:
            base, kind = _BASE[cat]
        if cat == "payment_partial":
            # ENISA's decreasing factor "nature of the data": truncated card data cannot be
            # used for payments, so it reveals less than full financial data.
            base -= 1
            kind += ", minus 1 because partial payment data cannot be used to pay"
        why.append(f"DPC: {cat} scores {base} ({kind}).")
        if base > best:
            best, best_cat = base, cat
    score = best
    why.append(f"DPC: the highest category score is {best} ({best_cat}).")
    subjects = facts.subjects
    special_people = "children" in facts.data_categories or (
        subjects is not UNSET and (subjects.vulnerable is True or subjects.public_figures is True)
    )
    if special_people:
        score += 1
        why.append(
            "DPC +1: special characteristics of the individuals (minors, vulnerable people "
            "or public figures)."
        )
    sector = facts.controller.sector if facts.controller is not UNSET else UNSET
    if sector is not UNSET and sector.strip().lower() in SENSITIVE_SECTORS:
        score += 1
        why.append(
            f"DPC +1: special characteristics of the controller (sector {sector!r}: being its "
            "customer or user reveals more about a person)."
        )
    if facts.data_public_before is True:
        score -= 1
        why.append("DPC -1: the data was publicly available before the breach.")
    clamped = min(4, max(1, score))
    if clamped != score:
        why.append(f"DPC: {score} is kept within ENISA's range 1-4, giving {clamped}.")
    return Part(float(clamped), tuple(why))


def ei(facts: Facts, assumptions: list[Assumption]) -> Part:
    """Ease of identification: the multiplier of the DPC."""
    level = facts.identifiability
    if level is UNSET:
        level = "maximum"
        assumptions.append(
            Assumption(
                field="$.identifiability",
                assumed="maximum",
                statement="The ease of identification is not known; we assumed people can be "
                "identified directly from the data (ENISA 'maximum').",
                alternatives=("negligible", "limited", "significant"),
            )
        )
    value = EI_VALUES[level]
    return Part(value, (f"EI: identification is {level} ({value:g}).",))


def cb(facts: Facts, assumptions: list[Assumption]) -> Part:
    """Circumstances of the breach: points for each loss and for malice, added up."""
    why: list[str] = []
    total = 0.0
    types = set(facts.breach_types)
    if "confidentiality" in types:
        points, text = _confidentiality(facts, assumptions)
        total += points
        why.append(f"CB +{points:g}: loss of confidentiality, {text}.")
    integrity = facts.integrity
    if "integrity" in types or integrity not in (UNSET, "intact"):
        if integrity is UNSET:
            integrity = "altered_not_recoverable"
            assumptions.append(
                Assumption(
                    field="$.integrity",
                    assumed=integrity,
                    statement="It is not known whether the altered data can be recovered; we "
                    "assumed it cannot.",
                    alternatives=("intact", "altered_recoverable"),
                )
            )
        points = {"intact": 0.0, "altered_recoverable": 0.25, "altered_not_recoverable": 0.5}[
            integrity
        ]
        total += points
        text = {
            "intact": "the data was not altered",
            "altered_recoverable": "data was altered but can be recovered",
            "altered_not_recoverable": "data was altered and cannot be recovered",
        }[integrity]
        why.append(f"CB +{points:g}: loss of integrity, {text}.")
    if "availability" in types:
        points, text = _availability(facts, assumptions)
        total += points
        why.append(f"CB +{points:g}: loss of availability, {text}.")
    intent = facts.cause.intent if facts.cause is not UNSET else UNSET
    if intent is UNSET or intent == "unknown":
        assumptions.append(
            Assumption(
                field="$.cause.intent",
                assumed="malicious",
                statement="Whether the breach was malicious is not known; we assumed it was.",
                alternatives=("accidental",),
            )
        )
        intent = "malicious"
    if intent == "malicious":
        total += 0.5
        why.append("CB +0.5: malicious intent.")
    else:
        why.append("CB +0: the breach was accidental, not malicious.")
    return Part(total, tuple(why))


def _confidentiality(facts: Facts, assumptions: list[Assumption]) -> tuple[float, str]:
    recipients = facts.recipients
    if recipients is UNSET:
        if facts.exfiltration == "ruled_out":
            return 0.0, "exfiltration was ruled out"
        assumptions.append(
            Assumption(
                field="$.recipients",
                assumed="unknown",
                statement="Who obtained the data is not known; we assumed unknown recipients.",
                alternatives=("none", "trusted", "known", "public"),
            )
        )
        recipients = "unknown"
    if recipients == "none" or (recipients == "trusted" and facts.data_recovered is not False):
        return 0.0, f"no evidence of illicit processing (recipients: {recipients})"
    if recipients in ("trusted", "known"):
        return 0.25, f"disclosure to {recipients}, limited recipients"
    return 0.5, f"disclosure to {recipients} recipients"


def _availability(facts: Facts, assumptions: list[Assumption]) -> tuple[float, str]:
    av = facts.availability
    if av is UNSET or (av.permanent_loss is UNSET and av.backup is UNSET):
        assumptions.append(
            Assumption(
                field="$.availability.permanent_loss",
                assumed=True,
                statement="It is not known whether the data can be restored; we assumed a "
                "permanent loss.",
                alternatives=(False,),
            )
        )
        return 0.5, "assumed permanent"
    if av.permanent_loss is True:
        return 0.5, "the data is permanently lost"
    if av.restored_within_hours is UNSET:
        return 0.25, "temporary, not yet restored"
    if av.impact_on_subjects == "significant":
        return (
            0.25,
            f"temporary (restored within {av.restored_within_hours:g} h) with significant impact",
        )
    return 0.0, f"recoverable without difficulty (restored within {av.restored_within_hours:g} h)"
