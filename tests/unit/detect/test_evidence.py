"""Evidence grading: a single weak signal is low; repeated or corroborated evidence is medium
and up; every graded alert lists its evidence with numbers; the state round-trips."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_engine import Echo, at, stubbed, us, views

from sentinelle.detect import Alert, DetectConfig, Engine, Severity
from sentinelle.detect.base import Finding
from sentinelle.detect.evidence import EvidenceConfig, explain, grade, record, risk
from sentinelle.timeutil import DAY

CFG = EvidenceConfig()
T0 = 1_800_000_000_000_000


def finding(severity: Severity, t: int, detector: str = "unjustified_access") -> Finding:
    return Finding(detector, "ana", t, severity, 50.0, ("m1",), ("e1",), (f"{severity} at {t}",))


def test_grades() -> None:
    assert [grade(x, CFG) for x in (0.6, 1.0, 2.0, 4.0)] == [
        Severity.LOW,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.CRITICAL,
    ]


def test_one_medium_finding_is_low_the_same_on_a_second_day_is_medium() -> None:
    ledger: dict[str, list[tuple[int, str, float, str]]] = {}
    record(ledger, finding(Severity.MEDIUM, T0), 1.0, CFG)
    assert grade(risk(ledger["ana"], T0, CFG)[0], CFG) == Severity.LOW
    record(ledger, finding(Severity.MEDIUM, T0 + 3600), 1.0, CFG)  # same day: counts once
    assert risk(ledger["ana"], T0 + 3600, CFG)[0] < 0.61
    record(ledger, finding(Severity.MEDIUM, T0 + DAY), 1.0, CFG)
    total, pieces = risk(ledger["ana"], T0 + DAY, CFG)
    assert grade(total, CFG) == Severity.MEDIUM and len(pieces) == 2


def test_a_medium_finding_far_towards_high_is_worth_more() -> None:
    ledger: dict[str, list[tuple[int, str, float, str]]] = {}
    strong = dataclasses.replace(finding(Severity.MEDIUM, T0), strength=0.5)
    record(ledger, strong, 1.0, CFG)
    assert risk(ledger["ana"], T0, CFG)[0] == pytest.approx(0.8)  # halfway from 0.6 to 1.0
    record(ledger, dataclasses.replace(strong, strength=3.0), 2.0, CFG)  # capped at high's
    assert risk(ledger["ana"], T0, CFG)[0] == pytest.approx(2.0)
    record(ledger, dataclasses.replace(finding(Severity.LOW, T0 + DAY), strength=0.9), 1.0, CFG)
    assert ledger["ana"][-1][2] == 0.25  # only medium findings grow towards high


def test_evidence_halves_weekly_and_is_forgotten_after_the_horizon() -> None:
    ledger: dict[str, list[tuple[int, str, float, str]]] = {}
    record(ledger, finding(Severity.HIGH, T0), 1.0, CFG)
    assert risk(ledger["ana"], T0 + 7 * DAY, CFG)[0] == 0.5
    assert risk(ledger["ana"], T0 + 31 * DAY, CFG)[0] == 0.0


def test_explain_lists_every_piece_with_numbers() -> None:
    ledger: dict[str, list[tuple[int, str, float, str]]] = {}
    record(ledger, finding(Severity.MEDIUM, T0), 1.0, CFG)
    record(ledger, finding(Severity.HIGH, T0 + DAY, "long_horizon"), 1.0, CFG)
    total, pieces = risk(ledger["ana"], T0 + DAY, CFG)
    lines = explain("ana", total, pieces, f"so {grade(total, CFG)}", CFG)
    assert lines[0].startswith("Evidence about ana: 1.54 risk points from 2 finding(s)")
    assert lines[0].endswith("(medium from 1, high from 2, critical from 4), so medium:")
    assert "unjustified_access, +0.60 points" in lines[1]
    assert "long_horizon, +1.00 points" in lines[2]


def test_engine_state_with_evidence_round_trips() -> None:
    engine = Engine(DetectConfig())
    engine.state.evidence["ana"] = [(T0, "unjustified_access", 0.6, "why")]
    again = Engine.load_state(engine.dump_state())
    assert again.evidence == {"ana": [(T0, "unjustified_access", 0.6, "why")]}


# -- one case, one alert -----------------------------------------------------------------------


class Reach(Echo):
    """A graded stub reading the signal "reach" (as unjustified_access and long_horizon do)."""

    name = "reach_a"
    graded = True
    family = "reach"


class ReachToo(Reach):
    """Another detector of the same signal."""

    name = "reach_b"


class Lone(Reach):
    """A graded stub reading a signal of its own."""

    name = "lone"
    family = None


def graded(days: dict[str, tuple[type[Echo], float]], **evidence: Any) -> list[Alert]:
    """Run graded stubs: ``days`` maps an event id to the stub that finds it HIGH (1 point)
    and the day it comes (at 10:00 plus that many hours, so no two merge in 24 h)."""
    events = views(*((i, "ana", at(day, 10 + int(day))) for i, (_, day) in days.items()))
    fires: dict[type[Echo], dict[str, Severity]] = {}
    for i, (stub, _) in days.items():
        fires.setdefault(stub, {})[i] = Severity.HIGH
    engine = stubbed(*(stub(f) for stub, f in fires.items()), evidence=EvidenceConfig(**evidence))
    return engine.run(events)


def by_event(alerts: list[Alert]) -> dict[str, tuple[str, Severity]]:
    return {e: (a.detector, a.severity) for a in alerts for e in a.events}


def test_the_same_signal_again_adds_to_the_alert_until_it_earns_a_higher_grade() -> None:
    alerts = graded({"e1": (Reach, 0), "e2": (ReachToo, 1), "e3": (ReachToo, 2.2)})
    got = by_event(alerts)
    # 1 point: medium. The next day 1.91 points, medium again: the same case, so low.
    assert got["e1"] == ("reach_a", Severity.MEDIUM)
    assert got["e2"] == ("reach_b", Severity.LOW)
    [first] = [a for a in alerts if "e1" in a.events]
    [again] = [a for a in alerts if "e2" in a.events]
    assert again.reasons[1].startswith(
        f"Not a new alert: this adds to {first.id} (reach_a, medium, "
    )
    # Its evidence line says what the evidence earns and why the alert is low all the same.
    assert again.reasons[2].endswith(
        "critical from 4), enough for medium, added to the alert below:"
    )
    assert first.reasons[1].endswith("critical from 4), so medium:")
    # Two days later the evidence earns high: a new alert, whatever the signal.
    assert got["e3"] == ("reach_b", Severity.HIGH)


def test_a_weak_finding_of_a_risky_actor_says_why_it_stays_low() -> None:
    # Two high findings make 2 points (high); a low one the next day stays low, and says so.
    strong = {"e1": Severity.HIGH, "e2": Severity.HIGH}
    engine = stubbed(Reach(strong), Lone({"e3": Severity.LOW}), evidence=EvidenceConfig())
    alerts = engine.run(
        views(("e1", "ana", at(0, 10)), ("e2", "ana", at(0, 23)), ("e3", "ana", at(2, 12)))
    )
    [weak] = [a for a in alerts if "e3" in a.events]
    assert weak.severity == Severity.LOW
    assert weak.reasons[1].endswith(", enough for medium, but a finding weak by itself stays low:")


def test_another_signal_a_day_or_more_later_is_judged_on_its_own() -> None:
    got = by_event(graded({"e1": (Reach, 0), "e2": (Lone, 1)}))
    assert got == {"e1": ("reach_a", Severity.MEDIUM), "e2": ("lone", Severity.MEDIUM)}


def test_another_signal_in_the_same_burst_adds_to_the_alert() -> None:
    # e2 comes 10.5 h after e1 (day 0.5: at 10:00 + 12 h + 0 h): one burst, one case.
    alerts = graded({"e1": (Reach, 0), "e2": (Lone, 0.5)})
    got = by_event(alerts)
    assert got == {"e1": ("reach_a", Severity.MEDIUM), "e2": ("lone", Severity.LOW)}
    [first] = [a for a in alerts if "e1" in a.events]
    [again] = [a for a in alerts if "e2" in a.events]
    assert again.reasons[1].startswith(f"Not a new alert: this adds to {first.id} (reach_a, ")
    assert "on another signal: one burst, one case" in again.reasons[1]
    # Its signal is of that case now: the same signal the next day adds to it too.
    # (High from 5 points here, so that 2.8 points stay medium.)
    days = {"e1": (Reach, 0), "e2": (Lone, 0.5), "e3": (Lone, 1.2)}
    assert by_event(graded(days, high=5.0))["e3"] == ("lone", Severity.LOW)
    # Off: each signal raises its own alert.
    off = by_event(graded({"e1": (Reach, 0), "e2": (Lone, 0.5)}, burst_hours=0))
    assert off["e2"] == ("lone", Severity.MEDIUM)
    # The burst holds across midnight (21.6 h later, the next morning) even when the same
    # signal is never held back (realert_days 0): the day's pruning keeps 24 h.
    night = by_event(graded({"e1": (Reach, 0), "e2": (Lone, 0.9)}, realert_days=0))
    assert night["e2"] == ("lone", Severity.LOW)


def test_after_realert_days_the_same_signal_raises_a_new_alert() -> None:
    later = graded({"e1": (Reach, 0), "e2": (ReachToo, 3)}, realert_days=2)
    assert by_event(later)["e2"] == ("reach_b", Severity.MEDIUM)
    off = graded({"e1": (Reach, 0), "e2": (ReachToo, 1)}, realert_days=0)
    assert by_event(off)["e2"] == ("reach_b", Severity.MEDIUM)


def test_a_finding_of_the_history_before_emitting_raised_no_alert_to_add_to() -> None:
    a, b = Reach({"e1": Severity.HIGH}), ReachToo({"e2": Severity.HIGH})
    events = views(("e1", "ana", at(0, 10)), ("e2", "ana", at(1, 11)))
    engine = stubbed(a, b)
    alerts = engine.run(events, emit_from_us=us(at(1, 0)))
    assert [(x.detector, x.severity) for x in alerts] == [("reach_b", Severity.MEDIUM)]
    [raised] = alerts
    last = (us(at(1, 11)), 2, "reach_b", raised.id)
    assert engine.state.alerted == {"ana|reach": last, "ana|*": last}
    assert Engine.load_state(engine.dump_state()).alerted == engine.state.alerted
