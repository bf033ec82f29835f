"""Evidence grading: a single weak signal is low; repeated or corroborated evidence is medium
and up; every graded alert lists its evidence with numbers; the state round-trips."""

from __future__ import annotations

from sentinelle.detect import DetectConfig, Engine, Severity
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
    lines = explain("ana", total, pieces, grade(total, CFG), CFG)
    assert lines[0].startswith("Evidence about ana: 1.54 risk points from 2 finding(s)")
    assert "unjustified_access, +0.60 points" in lines[1]
    assert "long_horizon, +1.00 points" in lines[2]


def test_engine_state_with_evidence_round_trips() -> None:
    engine = Engine(DetectConfig())
    engine.state.evidence["ana"] = [(T0, "unjustified_access", 0.6, "why")]
    again = Engine.load_state(engine.dump_state())
    assert again.evidence == {"ana": [(T0, "unjustified_access", 0.6, "why")]}
