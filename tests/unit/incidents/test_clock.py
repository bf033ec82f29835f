"""The 72-hour clock (GDPR Art. 33(1)) and the rules for the phases notified to the authority
(Art. 33(4)): table-driven, no store."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sentinelle.assess import Assessment, Facts, evaluate, parse_facts
from sentinelle.errors import Error
from sentinelle.incidents import (
    AUTHORITY_DEADLINE,
    AuthorityNotification,
    Clock,
    Incident,
    IncidentInputError,
    LogEntry,
    Phase,
    State,
    TransitionError,
    check_notification,
)
from sentinelle.incidents.model import AUTHORITY_NOTIFIED, span
from sentinelle.timeutil import HOUR, MINUTE, parse_time

AWARE = parse_time("2026-11-20T08:00:00Z")
DEADLINE = AWARE + 72 * HOUR
NOW = DEADLINE + 240 * HOUR
INI, C, F = Phase.INITIAL, Phase.COMPLEMENTARY, Phase.FINAL


def incident(
    state: State = State.ASSESSED,
    *,
    aware: str | None = "2026-11-20T08:00:00Z",
    required: Any = True,
) -> Incident:
    return Incident(
        id="inc-1",
        title="t",
        state=state,
        actors=("ana",),
        from_us=0,
        to_us=1,
        created_us=0,
        created_by="dpo",
        facts=None if aware is None else _facts(aware),
        assessment=None if required is None else _assessment(aware, required),
    )


def _facts(aware: str) -> Facts:
    return parse_facts(
        {"aware_at": aware, "breach_types": ["confidentiality"], "data_categories": ["contact"]}
    )


def _assessment(aware: str | None, required: bool) -> Assessment:
    found = evaluate(_facts(aware or "2026-11-20T08:00:00Z"))
    duty = msgspec.structs.replace(found.notify_authority, required=required)
    return msgspec.structs.replace(found, notify_authority=duty)


def sent(phase: Phase, at_us: int, **kw: Any) -> AuthorityNotification:
    return AuthorityNotification(phase=phase, sent_us=at_us, by="dpo", recorded_us=at_us, **kw)


INITIAL_ON_TIME = sent(INI, AWARE + HOUR)
LATER = AWARE + 2 * HOUR


@pytest.mark.parametrize(
    ("state", "done", "phase", "at", "reasons", "error", "match"),
    [
        pytest.param(State.ASSESSED, (), INI, AWARE + HOUR, None, None, "", id="on-time"),
        pytest.param(State.ASSESSED, (), INI, DEADLINE, None, None, "", id="on-the-deadline"),
        pytest.param(State.ASSESSED, (), INI, AWARE, None, None, "", id="at-awareness"),
        pytest.param(
            State.ASSESSED,
            (),
            INI,
            DEADLINE + 1,
            None,
            IncidentInputError,
            r"delay_reasons: .*after the 72-hour deadline 2026-11-23T08:00:00Z",
            id="late-without-reasons",
        ),
        pytest.param(
            State.ASSESSED,
            (),
            INI,
            DEADLINE + HOUR,
            "  ",
            IncidentInputError,
            "delay_reasons",
            id="late-with-blank-reasons",
        ),
        pytest.param(
            State.ASSESSED,
            (),
            INI,
            DEADLINE + HOUR,
            "forensics first",
            None,
            "",
            id="late-with-reasons",
        ),
        pytest.param(
            State.NOTIFYING, (), INI, AWARE + HOUR, None, None, "", id="notifying-by-hand"
        ),
        pytest.param(
            State.ASSESSED,
            (),
            C,
            AWARE + HOUR,
            None,
            TransitionError,
            "complementary notification needs the initial",
            id="complementary-before-initial",
        ),
        pytest.param(
            State.ASSESSED,
            (),
            F,
            AWARE + HOUR,
            None,
            TransitionError,
            "final notification needs the initial",
            id="final-before-initial",
        ),
        pytest.param(
            State.NOTIFYING,
            (INITIAL_ON_TIME,),
            INI,
            LATER,
            None,
            TransitionError,
            "already sent 2026-11-20T09:00:00Z",
            id="initial-twice",
        ),
        pytest.param(
            State.NOTIFYING,
            (INITIAL_ON_TIME,),
            C,
            LATER,
            None,
            None,
            "",
            id="complementary-after-initial",
        ),
        pytest.param(
            # the 72 hours bind the initial notification only
            State.NOTIFYING,
            (INITIAL_ON_TIME,),
            C,
            DEADLINE + HOUR,
            None,
            None,
            "",
            id="late-complementary-needs-no-reasons",
        ),
        pytest.param(
            State.NOTIFYING,
            (INITIAL_ON_TIME, sent(C, LATER)),
            F,
            LATER,
            None,
            None,
            "",
            id="final-after-complementary",
        ),
        pytest.param(
            State.NOTIFYING,
            (INITIAL_ON_TIME, sent(F, LATER)),
            C,
            LATER + HOUR,
            None,
            TransitionError,
            "final notification was sent",
            id="after-final",
        ),
        pytest.param(
            State.CLOSED,
            (INITIAL_ON_TIME,),
            C,
            LATER,
            None,
            TransitionError,
            "closed",
            id="after-closed",
        ),
        pytest.param(
            State.OPEN,
            (),
            INI,
            AWARE + HOUR,
            None,
            TransitionError,
            "not assessed",
            id="before-assessment",
        ),
        pytest.param(
            State.ASSESSED,
            (),
            INI,
            AWARE - 1,
            None,
            IncidentInputError,
            "at: sent before awareness",
            id="before-awareness",
        ),
        pytest.param(
            State.NOTIFYING,
            (INITIAL_ON_TIME,),
            C,
            AWARE + 30 * MINUTE,
            None,
            IncidentInputError,
            "at: before the initial notification",
            id="out-of-order",
        ),
        pytest.param(
            State.ASSESSED,
            (),
            INI,
            NOW + 6 * MINUTE,
            "r",
            IncidentInputError,
            "in the future",
            id="future",
        ),
        pytest.param(
            State.ASSESSED, (), INI, NOW + 4 * MINUTE, "r", None, "", id="within-clock-skew"
        ),
    ],
)
def test_phase_rules(
    state: State,
    done: tuple[AuthorityNotification, ...],
    phase: Phase,
    at: int,
    reasons: str | None,
    error: type[Error] | None,
    match: str,
) -> None:
    clock = Clock(now_us=NOW, aware_us=AWARE, phases=done, required=True)
    found = incident(state)
    if error is None:
        check_notification(found, clock, phase, sent_us=at, delay_reasons=reasons)
        return
    with pytest.raises(error, match=match):
        check_notification(found, clock, phase, sent_us=at, delay_reasons=reasons)


def test_without_awareness_nothing_can_be_judged() -> None:
    found = incident(aware=None)
    clock = Clock.of(found, [], now_us=NOW)
    with pytest.raises(IncidentInputError, match=r"facts\.aware_at: no awareness time"):
        check_notification(found, clock, INI, sent_us=NOW)


def test_every_field_problem_is_reported_at_once() -> None:
    clock = Clock(now_us=NOW, aware_us=AWARE)
    with pytest.raises(IncidentInputError) as refused:
        check_notification(
            incident(), clock, INI, sent_us=DEADLINE + HOUR, reference="x" * 201, note="y" * 5001
        )
    assert [p.path for p in refused.value.problems] == ["reference", "note", "delay_reasons"]


@pytest.mark.parametrize(
    ("now", "phases", "required", "status", "time_left", "late_by", "on_time"),
    [
        (AWARE + HOUR, (), True, "running", 71 * HOUR, None, None),
        (DEADLINE, (), True, "running", 0, None, None),
        (DEADLINE + 90 * MINUTE, (), True, "overdue", None, 90 * MINUTE, None),
        (DEADLINE + 90 * MINUTE, (), None, "overdue", None, 90 * MINUTE, None),
        (DEADLINE + 90 * MINUTE, (), False, "not_required", None, None, None),
        (NOW, (sent(INI, DEADLINE),), True, "on_time", None, None, True),
        (NOW, (sent(INI, DEADLINE + 5 * HOUR),), True, "late", None, 5 * HOUR, False),
        # a notification made although not required is judged by the same clock
        (NOW, (sent(INI, DEADLINE + HOUR),), False, "late", None, HOUR, False),
    ],
)
def test_clock_status(
    now: int,
    phases: tuple[AuthorityNotification, ...],
    required: bool | None,
    status: str,
    time_left: int | None,
    late_by: int | None,
    on_time: bool | None,
) -> None:
    clock = Clock(now_us=now, aware_us=AWARE, phases=phases, required=required)
    assert clock.deadline_us == AWARE + AUTHORITY_DEADLINE == DEADLINE
    assert (clock.status, clock.time_left_us, clock.late_by_us, clock.on_time) == (
        status,
        time_left,
        late_by,
        on_time,
    )
    d = clock.to_dict()
    assert d["status"] == status
    assert d["time_left_seconds"] == (None if time_left is None else time_left // 10**6)
    assert d["late_by_seconds"] == (None if late_by is None else late_by // 10**6)


def test_clock_without_awareness_is_unknown() -> None:
    clock = Clock.of(incident(aware=None), [], now_us=NOW)
    assert (clock.status, clock.deadline_us, clock.on_time) == ("unknown", None, None)
    assert "assess the incident" in clock.summary()


def test_clock_of_reads_facts_assessment_and_only_this_incidents_phases() -> None:
    first = sent(INI, DEADLINE + HOUR, reference="CNIL-1", delay_reasons="r", deadline_us=DEADLINE)
    log = [
        LogEntry("inc-1", 1, "dpo", "state", {"reason": "x"}),
        LogEntry("inc-1", 2, "dpo", AUTHORITY_NOTIFIED, first.details()),
        LogEntry("inc-2", 3, "dpo", AUTHORITY_NOTIFIED, sent(INI, AWARE).details()),
        LogEntry("inc-1", 4, "ciso", AUTHORITY_NOTIFIED, sent(C, DEADLINE + 2 * HOUR).details()),
    ]
    # aware_at with another offset: the same instant
    clock = Clock.of(incident(aware="2026-11-20T09:00:00+01:00", required=True), log, now_us=NOW)
    assert clock.aware_us == AWARE
    assert [(p.phase, p.by, p.recorded_us) for p in clock.phases] == [
        (INI, "dpo", 2),
        (C, "ciso", 4),
    ]
    assert clock.initial is not None and clock.initial.reference == "CNIL-1"
    assert clock.initial.late is True
    assert clock.to_dict() == {
        "aware_at": "2026-11-20T08:00:00Z",
        "deadline": "2026-11-23T08:00:00Z",
        "now": "2026-12-03T08:00:00Z",
        "required": True,
        "status": "late",
        "time_left_seconds": None,
        "late_by_seconds": 3600,
        "initial_notification_at": "2026-11-23T09:00:00Z",
        "on_time": False,
        "delay_reasons": "r",
        "summary": "initial notification sent 2026-11-23T09:00:00Z, 1 h after the deadline "
        "2026-11-23T08:00:00Z",
        "phases": [
            {
                "phase": "initial",
                "sent_at": "2026-11-23T09:00:00Z",
                "reference": "CNIL-1",
                "note": None,
                "delay_reasons": "r",
                "deadline": "2026-11-23T08:00:00Z",
                "late": True,
                "by": "dpo",
                "recorded_at": "1970-01-01T00:00:00.000002Z",
            },
            {
                "phase": "complementary",
                "sent_at": "2026-11-23T10:00:00Z",
                "reference": None,
                "note": None,
                "delay_reasons": None,
                "deadline": None,
                "late": None,
                "by": "ciso",
                "recorded_at": "1970-01-01T00:00:00.000004Z",
            },
        ],
    }


def test_notification_details_round_trip() -> None:
    one = AuthorityNotification(
        phase=F,
        sent_us=DEADLINE,
        by="dpo",
        recorded_us=NOW,
        reference="ref",
        note="closing",
        delay_reasons=None,
        deadline_us=None,
    )
    entry = LogEntry("inc-1", NOW, "dpo", AUTHORITY_NOTIFIED, one.details())
    assert AuthorityNotification.from_log(entry) == one


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (0, "less than a minute"),
        (59 * 10**6, "less than a minute"),
        (MINUTE, "1 min"),
        (HOUR, "1 h"),
        (26 * HOUR + 5 * MINUTE, "1 d 2 h 5 min"),
        (72 * HOUR, "3 d"),
    ],
)
def test_span(us: int, text: str) -> None:
    assert span(us) == text


def test_phase_parse() -> None:
    assert Phase.parse("Initial") is INI
    with pytest.raises(IncidentInputError, match="phase: unknown phase 'last'"):
        Phase.parse("last")


def test_the_summary_reads_its_times_to_the_second() -> None:
    """An awareness taken from the incident's opening has microseconds: not in the sentence."""
    from sentinelle.incidents.model import Clock as _Clock

    aware = parse_time("2026-11-20T08:00:00Z") + 520_477
    clock = _Clock(now_us=aware + HOUR, aware_us=aware, required=True)
    assert clock.summary().startswith("notify the authority by 2026-11-23T08:00:00Z: ")
