"""Evidence, not single rules: an alert's severity comes from what is known about its actor.

Each finding of a graded detector is one piece of **evidence** about its actor, worth points
by its own strength (how far beyond the actor's and their team's base rate it is: the
detector's severity) times the detector's weight:

============  ======
finding       points
============  ======
low           0.25
medium        0.6
high          1.0
critical      2.0
============  ======

A medium finding judged by chance carries its ``strength`` (:attr:`Finding.strength
<sentinelle.detect.base.Finding.strength>`): how far its chance is below the medium
threshold towards the high one, on a log scale (for ``long_horizon``'s days, graded a grade
above their chance: below the low threshold towards the medium one); it is worth that much
more, up to a high finding's points (an actor's fifth quick ticket in a week is stronger
evidence than their third, though both are medium).

The actor's **risk** is the sum of their evidence of the last ``horizon_days``, each piece
halving every ``half_life_days``; the same signal counts once a day (its strongest finding
that day; a signal is a detector, or the detectors of one ``Detector.family``), so one burst
is one piece, while the same signal on several days, or several
signals, add up. The alert's severity is the risk's grade: medium from ``medium`` points,
high from ``high``, critical from ``critical``; below that it is low (worth a review, no more).
A finding that is low by itself stays low whatever the actor's risk (it still adds evidence,
unless it is context: :attr:`Finding.context`, listed, worth no points).
A single weak signal is thus low; a single ticket opened and closed within minutes is low;
the same actor doing it again on other days, or also reaching new merchants without tickets,
is medium and up. Every graded alert lists every piece of evidence behind it, with numbers.

One case, one alert: once a signal of an actor's has raised a medium or higher alert, the
same signal again within ``realert_days`` raises a new alert only when its evidence earns a
higher grade (medium to high, high to critical); otherwise the finding is low and says which
alert it adds to. A benign actor whose new duties look odd for a week (a team move, a leave
to cover) is one alert to dismiss, not one a day; an insider whose evidence keeps growing is
raised again at each grade. Another signal of theirs is judged on its own, except within
``burst_hours`` of their latest alert: a finding no more severe adds to it, and its signal is
of that case from then on. One burst (a ticket opened and closed in minutes and the lists it
covered, on the same morning) is one case, not one alert per detector.

The evidence is plain data in the engine's state (saved between batches).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from sentinelle.detect.base import Finding, Severity
from sentinelle.timeutil import DAY, iso

__all__ = ["POINTS", "EvidenceConfig", "Item", "Ledger", "grade"]

POINTS: Final = {
    Severity.LOW: 0.25,
    Severity.MEDIUM: 0.6,
    Severity.HIGH: 1.0,
    Severity.CRITICAL: 2.0,
}

Item = tuple[int, str, float, str]  # time, detector, points, the finding's reason
Ledger = dict[str, list[Item]]  # actor → their evidence, oldest first


class EvidenceConfig(BaseModel):
    """The ``[detect.evidence]`` settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(True, description="Grade built-in detectors' alerts by evidence.")
    half_life_days: float = Field(7.0, gt=0, description="Evidence halves this often.")
    horizon_days: float = Field(30.0, gt=0, description="Evidence older than this is forgotten.")
    medium: float = Field(1.0, gt=0, description="Risk points for a medium alert.")
    high: float = Field(2.0, gt=0, description="…for a high one.")
    critical: float = Field(4.0, gt=0, description="…for a critical one.")
    realert_days: float = Field(
        7.0,
        ge=0,
        description="A finding no more severe than its actor's alert on the same signal in "
        "the last so many days adds to that alert's evidence as a low finding, not a new "
        "alert (0: every finding is graded alone).",
    )
    burst_hours: float = Field(
        24.0,
        ge=0,
        description="A finding of another signal within so many hours of the actor's latest "
        "medium+ alert, no more severe, adds to that alert as a low finding: one burst, one "
        "case (0: each signal raises its own alert).",
    )


def grade(risk: float, config: EvidenceConfig) -> Severity:
    """The severity ``risk`` points earn."""
    if risk >= config.critical:
        return Severity.CRITICAL
    if risk >= config.high:
        return Severity.HIGH
    if risk >= config.medium:
        return Severity.MEDIUM
    return Severity.LOW


def record(ledger: Ledger, finding: Finding, weight: float, config: EvidenceConfig) -> None:
    """Add ``finding`` to its actor's evidence (and forget what is past the horizon)."""
    items = ledger.setdefault(finding.actor, [])
    horizon = finding.time_us - int(config.horizon_days * DAY)
    if items and items[0][0] < horizon:
        items[:] = [i for i in items if i[0] >= horizon]
    points = POINTS[finding.severity]
    if finding.strength and finding.severity == Severity.MEDIUM:
        points += min(1.0, finding.strength) * (POINTS[Severity.HIGH] - points)
    points = 0.0 if finding.context else points * weight
    items.append((finding.time_us, finding.detector, points, finding.reasons[0]))
    if len(items) > 500:
        del items[:100]


def risk(
    items: list[Item],
    now_us: int,
    config: EvidenceConfig,
    *,
    families: Mapping[str, str] | None = None,
    shift: int = 0,
) -> tuple[float, list[Item]]:
    """The actor's risk at ``now_us`` and the pieces that count: one per signal and working
    day (days beginning ``shift`` µs after UTC midnight: the actor's
    :attr:`~sentinelle.detect.context.ActorState.shift`). A signal is a detector, or the
    family ``families`` maps it to (detectors reading the same signal:
    :attr:`Detector.family <sentinelle.detect.base.Detector.family>`)."""
    families = families or {}
    best: dict[tuple[str, int], Item] = {}
    horizon = now_us - int(config.horizon_days * DAY)
    for item in items:
        if item[0] < horizon or item[0] > now_us:
            continue
        key = (families.get(item[1], item[1]), (item[0] - shift) // DAY)
        if key not in best or item[2] >= best[key][2]:
            best[key] = item
    half_life = config.half_life_days * DAY
    total = 0.0
    for t, _, points, _ in best.values():
        total += points * 0.5 ** ((now_us - t) / half_life)
    return total, sorted(best.values())


def explain(
    actor: str, total: float, pieces: list[Item], verdict: str, config: EvidenceConfig
) -> list[str]:
    """The total and ``verdict`` (what it makes of the alert: ``so high``), then one sentence
    per piece of evidence with its numbers (newest last)."""
    lines = [
        f"Evidence about {actor}: {total:.2f} risk points from {len(pieces)} finding(s) in "
        f"the last {config.horizon_days:g} days, each halving every "
        f"{config.half_life_days:g} days (medium from {config.medium:g}, high from "
        f"{config.high:g}, critical from {config.critical:g}), {verdict}:"
    ]
    if len(pieces) > 12:
        lines.append(f"{len(pieces) - 12} earlier finding(s) not listed;")
    for t, detector, points, reason in pieces[-12:]:
        worth = f"+{points:.2f} points" if points else "context, no points"
        lines.append(f"{iso(t)[:16]}Z, {detector}, {worth}: {reason}")
    return lines
