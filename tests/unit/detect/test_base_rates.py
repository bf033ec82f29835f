"""Benign look-alikes judged against their own base rates (issue 13 §2), and the insider
patterns they resemble still alerted.

* A week of QA sampling (a dozen merchants new to the agent a day, one record each, reason
  ``qa_sample``, no ticket) is a declared workflow when colleagues who gave the same reason
  reach new merchants at that pace, and a declared sweep when no colleague gives it: no
  medium alert. The same looks are medium citing nothing, under a reason colleagues give for
  the odd follow-up, or as list views (a harvest's tool, whatever the reason says).
* Coming back to the same customers day after day without a ticket (the imports an
  onboarding team checks) is no medium ``repeated_looks`` alert where the team does it daily;
  the same looks in a team that never does are.

* A team's batch of exports under one reason is no sign; the same exports under a reason no
  colleague gave that day are.
* One list under another merchant's case is low alone, and so are three merchants' lists
  without a ticket; together, the same day, they are medium.

The engine runs every detector with its defaults, evidence on.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

from test_slow_insiders import TEAM, at, opened

from sentinelle.detect import DetectConfig, Engine, Severity
from sentinelle.detect.base import Alert
from sentinelle.events import decode_event, time_us

HISTORY = range(-21, 0)
AHEAD = range(0, 5)
LONGER = range(0, 8)

_ids = itertools.count(1)


def look(
    actor: str,
    merchant: str,
    day: int,
    hour: int,
    minute: int,
    customers: list[str],
    *,
    team: str = "care",
    role: str = "agent",
    listed: bool = False,
    **just: str,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"a-{next(_ids)}",
        "time": at(day, hour, minute),
        "actor": {"id": actor, "kind": "staff", "team": team, "role": role},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "customer_list" if listed else "order", "count": len(customers)},
        "subjects": customers,
        "data": ["contact", "address"],
        "channel": "support_console",
        "source": {"ip": "198.51.100.7", "device": f"laptop-{actor}", "country": "FR"},
        "outcome": "allowed",
    }
    if just:
        event["justification"] = just
    return event


def ticketed(actor: str, days: Iterable[int], *, team: str = "care") -> list[dict[str, Any]]:
    """A ticket a day, worked: the clean history colleagues are judged from."""
    events: list[dict[str, Any]] = []
    for d in days:
        tid, merchant, opening = opened(actor, d)
        events += opening
        events.append(look(actor, merchant, d, 9, 0, [f"c-{merchant}-{d}"], team=team, ticket=tid))
    return events


def sampling(
    actor: str, days: Iterable[int], *, team: str = "care", listed: bool = False, reason: str
) -> list[dict[str, Any]]:
    """Twelve merchants new to ``actor`` a day, one order each (or a list page), at 14:00."""
    return [
        look(
            actor,
            f"q-{actor}-{d}-{i}",
            d,
            14,
            3 * i,
            [f"c-{actor}-{d}-{i}-{j}" for j in range(20 if listed else 1)],
            team=team,
            listed=listed,
            reason=reason,
        )
        for d in days
        for i in range(12)
    ]


def alerts(
    events: list[dict[str, Any]], actor: str, since_day: int, config: DetectConfig | None = None
) -> list[Alert]:
    """The medium+ alerts about ``actor`` raised from ``since_day`` on."""
    engine = Engine(config)
    found: dict[str, Alert] = {}
    since = time_us(decode_event(json.dumps({**events[0], "time": at(since_day, 0)})))
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        for alert in engine.process(event):
            if (
                alert.actor == actor
                and alert.severity >= Severity.MEDIUM
                and alert.time_us >= since
            ):
                found[alert.id] = alert
    return list(found.values())


def desk(*, samplers: str | None, follow_ups: bool = False) -> list[dict[str, Any]]:
    """Ana's team and two QA colleagues (another team), three weeks of ticket work; the two
    did a week of sampling under ``samplers`` two weeks ago (None: never). With
    ``follow_ups``, ana's teammates also look at a merchant new to them under ``follow_up``,
    without a ticket, once a week (the odd follow-up)."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for p in ("qa1", "qa2"):
        events += ticketed(p, [*HISTORY, *AHEAD], team="billing")
        if samplers is not None:
            events += sampling(p, range(-14, -9), team="billing", reason=samplers)
    if follow_ups:
        events += [
            look(p, f"f-{p}-{d}", d, 16, 0, [f"c-f-{p}-{d}"], reason="follow_up")
            for p in TEAM
            for d in HISTORY
            if d % 7 == 0
        ]
    return events


def test_a_week_of_qa_sampling_like_colleagues_is_not_medium() -> None:
    events = desk(samplers="qa_sample") + sampling("ana", AHEAD, reason="qa_sample")
    assert alerts(events, "ana", 0) == []


def test_a_lone_samplers_declared_sweep_is_not_medium() -> None:
    """A shop's one QA sampler has no colleagues who sample: a dozen single records of new
    merchants a day, each under the same reason that no colleague gives lightly, is a
    declared sweep, the day's first looks included."""
    events = desk(samplers=None) + sampling("ana", AHEAD, reason="qa_sample")
    assert alerts(events, "ana", 0) == []


def small_sweeps(*, first: int) -> list[dict[str, Any]]:
    """Ana's lone fraud reviews: ``first`` merchants new to her on day 0, then three a day on
    days 1-7, two customers each, under ``fraud_review``, no ticket."""
    return [
        look("ana", f"r-{d}-{i}", d, 14, 4 * i + j, [f"c-r-{d}-{i}-{j}"], reason="fraud_review")
        for d in range(8)
        for i in range(first if d == 0 else 3)
        for j in range(2)
    ]


def test_smaller_sweeps_after_a_declared_sweep_of_one_are_that_work() -> None:
    """Could fail (medium before): once ana's reviews of six new merchants in a day made a
    declared sweep of one, her three a day under the same reason the week after are that
    work too; without the first day's sweep, the same three a day are medium."""
    assert alerts(desk(samplers=None) + small_sweeps(first=6), "ana", 1) == []
    assert alerts(desk(samplers=None) + small_sweeps(first=3), "ana", 1)


def test_the_same_looks_citing_nothing_are_medium() -> None:
    """Could fail: the same dozen new merchants a day, no reason declared, against a usual of
    none is medium the first day."""
    events = desk(samplers=None) + [
        {k: v for k, v in e.items() if k != "justification"}
        for e in sampling("ana", AHEAD, reason="qa_sample")
    ]
    found = alerts(events, "ana", 0)
    assert found, "a dozen new merchants a day without a ticket, first of its kind"
    assert any(a.detector == "unjustified_access" for a in found)


def test_a_reason_colleagues_give_for_the_odd_follow_up_stays_a_sign() -> None:
    """Colleagues sampled under ``qa_sample``; ana's looks give ``follow_up``, which her
    teammates give for a new merchant once a week: neither their workflow nor a sweep of
    one (a reason is judged by what its own users do under it)."""
    events = desk(samplers="qa_sample", follow_ups=True) + sampling(
        "ana", AHEAD, reason="follow_up"
    )
    assert alerts(events, "ana", 0)


def test_list_views_under_a_workflow_reason_stay_a_sign() -> None:
    """The harvest's tool is never a workflow's look: list pages of a dozen new merchants a
    day under ``qa_sample`` are medium however many colleagues sample."""
    events = desk(samplers="qa_sample") + sampling("ana", AHEAD, reason="qa_sample", listed=True)
    found = alerts(events, "ana", 0)
    assert any(a.detector == "unjustified_access" for a in found)


def checks(actor: str, days: Iterable[int]) -> list[dict[str, Any]]:
    """Two customers of an import, started every other day, each looked at twice a day on
    four days, no ticket: a customer becomes one looked at again and again about daily."""
    events = []
    for d in days:
        for start in (d - 3, d - 2, d - 1, d):
            if start % 2 == 0:
                for c in (1, 2):
                    customer = [f"c-imp-{actor}-{start}-{c}"]
                    for hour in (10, 15):
                        events.append(
                            look(actor, "m-imports", d, hour, c, customer, team="onboarding")
                        )
    return events


def test_a_team_checking_the_same_customers_daily_is_its_usual() -> None:
    """Ana and her onboarding colleagues come back to the same few customers of the imports
    they check, without a ticket, every day: ana's week of it is their usual, no medium
    ``repeated_looks``."""
    events = [e for p in ("cal", "dan", "ana") for e in ticketed(p, HISTORY, team="onboarding")]
    for p in ("cal", "dan"):
        events += checks(p, [*HISTORY, *LONGER])
    events += checks("ana", [*HISTORY, *LONGER])
    found = [a for a in alerts(events, "ana", 0) if a.detector == "repeated_looks"]
    assert found == [], [a.reasons for a in found]


def test_the_same_looks_in_a_team_that_never_does_are_medium() -> None:
    """Could fail: bob's colleagues and bob himself did ticket work only for three weeks;
    his week of coming back to the same customers is medium. (His looks cite nothing, on
    every day since he began: ``long_horizon``'s days of such looks alert first, and the
    repeated looks add to that case; judged alone here.)"""
    events = [e for p in ("cal", "dan", "bob") for e in ticketed(p, HISTORY, team="onboarding")]
    events += checks("bob", LONGER)
    alone = DetectConfig(detectors={"long_horizon": {"silent": False}})
    found = [a for a in alerts(events, "bob", 0, alone) if a.detector == "repeated_looks"]
    assert found, "several customers looked at again and again, first of its kind"
    assert "customers so in 14 days" in found[0].reasons[0]
    both = alerts(events, "bob", 0)
    assert any("repeated_looks" in line for a in both for line in a.reasons)


def exports(
    actor: str, day: int, hour: int, reason: str, *, team: str = "billing"
) -> list[dict[str, Any]]:
    """Six merchants' customer lists exported by ``actor`` from ``hour``, no ticket, under
    ``reason`` (a standing monthly export)."""
    events = []
    for i in range(6):
        event = look(
            actor, f"x-{actor}-{i}", day, hour, 5 * i, [f"c-x-{i}"], team=team, reason=reason
        )
        event["action"] = "export"
        event["resource"] = {"type": "customer_list", "count": 200}
        events.append(event)
    return events


def billing(ana_reason: str, colleagues_reason: str) -> list[dict[str, Any]]:
    """Ana and three billing colleagues, three weeks of ticket work; on day 0 the three run
    their standing exports from 09:00 under ``colleagues_reason``, ana hers from 11:00 under
    ``ana_reason``."""
    events = [
        e for p in ("bil1", "bil2", "bil3", "ana") for e in ticketed(p, HISTORY, team="billing")
    ]
    for p in ("bil1", "bil2", "bil3"):
        events += exports(p, 0, 9, colleagues_reason)
    return events + exports("ana", 0, 11, ana_reason)


def test_a_teams_batch_of_exports_is_not_medium() -> None:
    """The month's standing exports: ana's six under the reason her colleagues gave for
    theirs the same morning are the team's batch, no sign of reach."""
    assert alerts(billing("monthly_export", "monthly_export"), "ana", 0) == []


def test_a_list_after_the_teams_batch_does_not_count_the_batch() -> None:
    """Ana's six batch exports are no sign when they come, and none later either: an order
    list of one more merchant in the afternoon, without a ticket, is one merchant's list in
    24 hours, not seven (the batch's merchants stayed in her lists of 24 hours)."""
    events = billing("monthly_export", "monthly_export")
    events.append(look("ana", "y-1", 0, 15, 0, ["c-y-1"], team="billing", listed=True))
    assert alerts(events, "ana", 0) == []


def test_exports_under_a_reason_no_colleague_gave_today_are_medium() -> None:
    """Could fail: the same six exports, against a usual of none, under a reason the
    colleagues did not give for theirs, are medium."""
    found = alerts(billing("monthly_export", "export_request"), "ana", 0)
    assert any(a.detector == "unjustified_access" for a in found)


def lists_of_three(*, slip: bool, others: bool = True) -> list[dict[str, Any]]:
    """Ana's team's three weeks of ticket work; on day 0 ana opens the customer lists of v1
    (citing her own ticket of another merchant when ``slip``, nothing otherwise) and, with
    ``others``, of v2 and v3 without a ticket."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    page = [f"c-v-{j}" for j in range(20)]
    just = {"ticket": "T-ana-0"} if slip else {}
    events.append(look("ana", "v1", 0, 13, 0, page, listed=True, **just))
    if others:
        events += [look("ana", m, 0, 14, i, page, listed=True) for i, m in enumerate(("v2", "v3"))]
    return events


def test_a_case_lent_to_a_list_and_two_more_lists_are_medium() -> None:
    """Two signals the same day: lists of three merchants without a ticket (medium by
    itself: a usual of none) and one of them under a case of another merchant (low by
    itself, a slip, but made by no benign actor measured) are medium together."""
    found = alerts(lists_of_three(slip=True), "ana", 0)
    assert found, "a lent case and three merchants' lists in a day"


def test_either_alone_stays_low() -> None:
    """Could fail: the three lists citing nothing, or the lent case alone, are low."""
    assert alerts(lists_of_three(slip=False), "ana", 0) == []
    assert alerts(lists_of_three(slip=True, others=False), "ana", 0) == []


def test_a_sweep_takes_back_the_marks_of_its_first_looks() -> None:
    """The first four merchants of a lone sampler's sweep, two customers each, were marked by
    ``long_horizon`` as browsed without a ticket before the fifth made the sweep: their marks
    are taken back, so they count towards no trickle."""
    events = desk(samplers=None)
    for i in range(6):
        merchant = f"q-ana-0-{i}"
        events += [
            look("ana", merchant, 0, 14, 4 * i + j, [f"c-{merchant}-{j}"], reason="qa_sample")
            for j in range(2)
        ]
    engine = Engine()
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        engine.process(event)
    marks = engine.state.context.actors["ana"].marks
    browsed = {m for kind in ("browse", "browse_uncited") for _, m in marks.get(kind, ())}
    assert not {m for m in browsed if m.startswith("q-ana-0-")}
    swept = {m for _, m in marks.get("workflow", ())}
    assert {f"q-ana-0-{i}" for i in range(6)} <= swept


def review(actor: str, days: Iterable[int], per_day: int = 3) -> list[dict[str, Any]]:
    """``per_day`` merchants new to ``actor`` a day, two customers each, under
    ``fraud_review`` and no ticket: a fraud analyst's routine (from 5 a day, a declared sweep
    of one)."""
    return [
        look(
            actor,
            f"r-{actor}-{d}-{i}",
            d,
            10,
            6 * i + j,
            [f"c-r-{actor}-{d}-{i}-{j}"],
            team="fraud",
            reason="fraud_review",
        )
        for d in days
        for i in range(per_day)
        for j in range(2)
    ]


def fraud_team(*analysts: str) -> list[dict[str, Any]]:
    """Ana's team's ticket work, and ``analysts``' in a fraud team of their own."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *LONGER])]
    for p in analysts:
        events += ticketed(p, [*HISTORY, *LONGER], team="fraud")
    return events


def test_a_team_of_two_reviewing_under_one_reason_is_its_workflow() -> None:
    """A shop's two fraud analysts swept six new merchants a day under ``fraud_review`` for
    three weeks (a declared sweep), then, the shop's merchants mostly known to them, three
    a day: one colleague is fewer than a workflow's two, but every user of the reason, the
    analyst too, reached new merchants under it that often, so it is their workflow. Could
    fail: each analyst's three a day were marked as reach against an earlier rate of none
    (their sweeps were not), and medium."""
    events = fraud_team("fa1", "fa2")
    for p in ("fa1", "fa2"):
        events += review(p, HISTORY, per_day=6) + review(p, LONGER)
    assert alerts(events, "fa1", 0) == []
    assert alerts(events, "fa2", 0) == []


def test_a_reason_typed_beside_a_colleagues_reviews_is_no_workflow_of_ones_own() -> None:
    """Cy joins fa1's fraud team and, from day 0, reaches three new merchants a day under
    ``fraud_review``, which she never gave before: fa1's routine is not hers."""
    events = fraud_team("fa1", "cy") + review("fa1", HISTORY, per_day=6) + review("fa1", LONGER)
    events += review("cy", LONGER)
    assert any(a.detector == "long_horizon" for a in alerts(events, "cy", 0))


def test_a_lone_specialists_habit_of_weeks_is_their_routine() -> None:
    """Fa1, the shop's one fraud analyst, has reached three new merchants a day under
    ``fraud_review`` every day for four weeks; no one else does it. Her own share of such
    days (all of them, over more than ``own_days``) is her routine, however rare the signal
    among all the staff she is judged against. Could fail: with her share read only from
    the staff's prior updated by her days (a few per cent), her weeks of it were high."""
    events = fraud_team("fa1") + review("fa1", [*HISTORY, *LONGER])
    assert alerts(events, "fa1", 0) == []
