"""Slow insiders (issue 13 §3): one new merchant a working day, a few customers each, no
ticket, reaches a medium alert by the 4th merchant through the evidence (each day alone is a
weak signal); the same trickle is no alert for an actor whose team does it as a habit, nor for
one who cites tickets that do not cover the looks (reviews, cover) day after day.

The engine runs every detector with its defaults, evidence on, ``long_horizon``'s days look
(``steady``) among them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
from collections.abc import Iterable
from typing import Any

import pytest

from sentinelle.detect import DetectConfig, Engine, Severity, context
from sentinelle.detect.context import ALERTED, NO_TEAM, ActorState, Context, day_start
from sentinelle.detect.detectors import (
    _JUDGED,
    LongHorizon,
    Surprise,
    UnjustifiedAccess,
    _Look,
    beta_binomial_tail,
    beta_prior,
    team_samples,
)
from sentinelle.events import decode_event, time_us
from sentinelle.timeutil import DAY, HOUR

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday, 00:00 UTC
TEAM = ("bea", "cal", "dan", "eli")

_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0) -> str:
    return (T0 + dt.timedelta(days=day, hours=hour, minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def look(actor: str, merchant: str, day: int, hour: int, customer: str, **just: str) -> dict:
    event: dict[str, Any] = {
        "id": f"a-{next(_ids)}",
        "time": at(day, hour, next(_ids) % 50),
        "actor": {"id": actor, "kind": "staff", "team": "care", "role": "agent"},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "customer", "count": 1},
        "subjects": [customer],
        "data": ["contact", "address"],
        "channel": "support_console",
        "source": {"ip": "198.51.100.7", "device": f"laptop-{actor}", "country": "FR"},
        "outcome": "allowed",
    }
    if just:
        event["justification"] = just
    return event


def opened(actor: str, day: int, of: str = "") -> tuple[str, str, list[dict[str, Any]]]:
    """The day's ticket of ``actor`` (of merchant ``of``, else one of their three usual
    ones), opened and assigned to them at 08:00: its id, its merchant and the two events."""
    merchant = of or f"k-{actor}-{day % 3}"
    tid = f"T-{actor}-{of}-{day}" if of else f"T-{actor}-{day}"
    events = [
        {
            "id": f"c-{next(_ids)}",
            "time": at(day, 8),
            "type": kind,
            "ticket": tid,
            "merchant": merchant,
            **extra,
        }
        for kind, extra in (("ticket.opened", {}), ("ticket.assigned", {"actor": actor}))
    ]
    return tid, merchant, events


def ticketed(actor: str, days: Iterable[int]) -> list[dict[str, Any]]:
    """A ticket a day, worked: the clean history colleagues are judged from."""
    events: list[dict[str, Any]] = []
    for d in days:
        tid, merchant, opening = opened(actor, d)
        events += opening
        events.append(look(actor, merchant, d, 9, f"c-{merchant}-{d}", ticket=tid))
    return events


def browse(actor: str, day: int, merchant: str, **just: str) -> list[dict[str, Any]]:
    """Two customers of ``merchant`` looked at in the afternoon of ``day``."""
    return [look(actor, merchant, day, 15, f"c-{merchant}-{i}", **just) for i in (1, 2)]


def first_medium(
    events: list[dict[str, Any]], actor: str, config: DetectConfig | None = None
) -> tuple[int, str] | None:
    """The merchants ``actor`` browsed (``s-…``) up to their first medium+ alert, and its
    reason; None when they never reach medium."""
    engine = Engine(config)  # the defaults: the days look is on
    browsed: set[str] = set()
    ordered = sorted((decode_event(json.dumps(e)) for e in events), key=time_us)
    for event in ordered:
        if getattr(event, "actor", None) is not None and getattr(event.actor, "id", "") == actor:
            if getattr(event, "merchant", "").startswith("s-"):
                browsed.add(event.merchant)
        for alert in engine.process(event):
            if alert.actor == actor and alert.severity >= Severity.MEDIUM:
                return len(browsed), alert.reasons[0]
    return None


HISTORY = range(-14, 0)
AHEAD = range(0, 7)
#: The days of looks citing nothing at any merchant (``silent``) off: the tests of the days
#: of merchants new to the actor, which such looks would otherwise also be.
NO_SILENT = DetectConfig(detectors={"long_horizon": {"silent": False}})


def test_without_the_days_look_the_counts_alone_catch_the_trickle_by_the_4th() -> None:
    """With ``steady`` off: the counts alone catch the same trickle at its 4th merchant too,
    the day after their first low finding (a medium count after a low day of the same
    signal is medium: ``long_horizon`` weighs 1.35; at 1.0 they did at the 5th)."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}")
    ordered = sorted((decode_event(json.dumps(e)) for e in events), key=time_us)
    engine = Engine(DetectConfig(detectors={"long_horizon": {"steady": False}}))
    browsed: set[str] = set()
    for event in ordered:
        if getattr(event, "merchant", "").startswith("s-"):
            browsed.add(event.merchant)
        if any(a.actor == "ana" and a.severity >= Severity.MEDIUM for a in engine.process(event)):
            break
    assert len(browsed) == 4


def test_a_trickle_of_one_new_merchant_a_day_is_medium_by_the_3rd() -> None:
    """Each day alone (one merchant new to ana, two customers, no ticket) is common enough;
    one every working day is not, for someone whose team and own past never did it. Her
    three days since she began are each marked: 1 in 20,838 (the week's three of seven were
    1 in 917; ``fresh_runs``: doubled, and times three, her two starts before today and the
    week's own test), medium by chance and high as
    evidence of days: 1.35 points, medium alone (at 0.81 points it took the 4th day). The
    same days are also looks citing nothing (``silent``, tested below): off here. Could
    fail: without ``fresh_runs`` the week's 3 of 7 is judged (1.33 points)."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}")
    caught = first_medium(events, "ana", NO_SILENT)
    assert caught is not None
    merchants, reason = caught
    assert merchants == 3
    assert "citing no ticket or grant at all on 3 of their 3 working days since 2026-11-02" in (
        reason
    )
    assert "a steady trickle" in reason
    config = DetectConfig(detectors={"long_horizon": {"silent": False, "fresh_runs": False}})
    week = first_medium(events, "ana", config)
    assert week is not None
    assert "citing no ticket or grant at all on 3 of their 7 working days" in week[1]


def test_the_same_trickle_as_the_team_habit_stays_below_medium() -> None:
    """Colleagues and ana herself look at a new merchant without a ticket on most days (key
    accounts in chat, callers without a ticket): her week of it is their usual."""
    events = team_habit_of_look_ups()
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}")
    assert first_medium(events, "ana") is None


def team_habit_of_look_ups() -> list[dict[str, Any]]:
    """Ana and her colleagues look at two customers of a merchant new to them without a
    ticket on most days (callers, key accounts in chat): the habit of the test above."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for i, p in enumerate((*TEAM, "ana")):
        events += [
            e for d in HISTORY if (d + i) % 5 not in (0, 1) for e in browse(p, d, f"h-{p}-{d}")
        ]
    return events


def going_through(actor: str, day: int, merchant: str) -> list[dict[str, Any]]:
    """Four customers of ``merchant`` looked at one after another in the afternoon of ``day``."""
    return [look(actor, merchant, day, 15, f"c-{merchant}-{i}") for i in range(4)]


def going_through_a_merchant_a_day() -> list[dict[str, Any]]:
    """The team's habit of look-ups, and ana going through four customers of a merchant new
    to her every day of the week."""
    events = team_habit_of_look_ups()
    for d in AHEAD:
        events += going_through("ana", d, f"s-{d}")
    return events


def test_going_through_several_customers_a_day_stands_apart_from_the_look_ups() -> None:
    """Where looking at a customer or two of a new merchant without a ticket is the team's
    habit, going through four of one a day is not: those days are judged apart (``wide``),
    against the actor's and team's own rate of them (a floor), and are medium by the 3rd
    (1 in 1,833, doubled; the team's habit makes the look-ups' own days no sign at all)."""
    caught = first_medium(going_through_a_merchant_a_day(), "ana")
    assert caught is not None
    merchants, reason = caught
    assert merchants == 3
    assert "looked at 3 customers or more each of merchants new to them" in reason
    assert "a steady trickle" in reason


def test_without_the_wide_days_going_through_customers_hides_in_the_habit() -> None:
    """Could fail: with ``wide = 0`` the same four customers a day are only more of the team's
    look-ups, and stay below medium for longer."""
    config = DetectConfig(detectors={"long_horizon": {"wide": 0}})
    caught = first_medium(going_through_a_merchant_a_day(), "ana", config)
    assert caught is None or caught[0] > 4


def test_citing_tickets_that_do_not_cover_it_is_not_the_trickle() -> None:
    """A reviewer who cites colleagues' tickets of other merchants every day: not a trickle
    of looks without a ticket (their days are judged by counts only)."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}", ticket=f"T-bea-{d}")
    caught = first_medium(events, "ana")
    assert caught is None or "steady trickle" not in caught[1]


@pytest.mark.parametrize(("k", "n"), [(3, 3), (4, 5), (5, 5)])
def test_beta_binomial_tail_matches_a_direct_sum(k: int, n: int) -> None:
    """P(X >= k of n days) at a daily chance p ~ Beta(a, b), against the integral's closed
    form for k = n (E[p^n]) and a Monte-Carlo-free check that it grows with a."""
    a, b = 2.0, 30.0
    tail = beta_binomial_tail(k, n, a, b)
    if k == n:
        expected = 1.0
        for i in range(n):
            expected *= (a + i) / (a + b + i)
        assert tail == pytest.approx(expected)
    assert beta_binomial_tail(k, n, a + 1, b) > tail
    assert beta_binomial_tail(0, n, a, b) == 1.0
    assert beta_binomial_tail(n + 1, n, a, b) == 0.0


def test_beta_prior_is_wide_for_few_peers_and_floored() -> None:
    """The mean share of days is the peers' (floored), its spread never narrower than a
    coefficient of variation of 0.5, wider for few peers."""
    a, b = beta_prior([(0, 10), (0, 12)], 0.02)
    assert a / (a + b) == pytest.approx(0.02)
    few = beta_prior([(2, 10), (3, 10)], 0.02)
    many = beta_prior([(2, 10), (3, 10)] * 8, 0.02)
    assert few[0] / sum(few) == pytest.approx(many[0] / sum(many))
    assert sum(few) < sum(many)  # fewer peers: less concentrated


def small_team(trickle: bool = True) -> list[dict[str, Any]]:
    """Ana and bo are a shop's escalations team of two (bo started six days ago); four
    colleagues of another team work their tickets. From day 0 ana looks at two customers of
    a merchant new to her a day, without a ticket."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += ticketed("bo", range(-6, 7))
    if trickle:
        for d in AHEAD:
            events += browse("ana", d, f"s-{d}")
    for e in events:
        actor = e.get("actor")  # an access's actor (a context event names one by id)
        if isinstance(actor, dict) and actor["id"] in ("ana", "bo"):
            actor["team"] = "escalations"
    return events


def caught_at(events: list[dict[str, Any]], actor: str, config: DetectConfig) -> int | None:
    """The merchants ``actor`` browsed (``s-…``) up to their first medium+ alert."""
    engine = Engine(config)
    browsed: set[str] = set()
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        if getattr(event, "merchant", "").startswith("s-"):
            browsed.add(event.merchant)
        if any(a.actor == actor and a.severity >= Severity.MEDIUM for a in engine.process(event)):
            return len(browsed)
    return None


def test_a_team_of_two_is_judged_against_all_the_staff() -> None:
    """Bo's few days tell nothing of the team's rate: ana's trickle is judged against all the
    staff (she has two weeks of her own days) and is medium by her 4th merchant."""
    assert (merchants := caught_at(small_team(), "ana", DetectConfig())) is not None
    assert merchants <= 4


def test_without_it_the_team_of_twos_trickle_is_caught_later() -> None:
    """Could fail: with ``small_team_days = 0`` the team's rate is not known for two weeks,
    and the same trickle is caught later, if at all."""
    config = DetectConfig(detectors={"long_horizon": {"small_team_days": 0}})
    merchants = caught_at(small_team(), "ana", config)
    assert merchants is None or merchants > 4
    assert caught_at(small_team(trickle=False), "ana", DetectConfig()) is None


def listed(actor: str, day: int, merchant: str) -> dict[str, Any]:
    """A list of twelve customers of ``merchant`` opened in the afternoon of ``day``."""
    event = look(actor, merchant, day, 15, "c-0")
    event["resource"] = {"type": "customer_list", "count": 12}
    event["subjects"] = [f"c-{merchant}-{i}" for i in range(12)]
    return event


def test_a_trickle_of_list_views_is_judged_by_its_counts_not_its_days() -> None:
    """Lists of a merchant new to the actor without a ticket, one a day: phone desks find
    callers so, day after day. Their days are no trickle (the same days of browsing are,
    above); their merchants are counted: four in a week, for someone whose team and own past
    never did it, are medium by the 4th."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += [listed("ana", d, f"s-{d}") for d in AHEAD]
    caught = first_medium(events, "ana")
    assert caught is not None
    merchants, reason = caught
    assert merchants == 4
    assert "of 4 merchants new to them or paged through without a ticket" in reason
    assert "steady trickle" not in reason


def test_a_trickle_already_judged_is_not_the_actors_usual_a_week_later() -> None:
    """Ana's trickle (a new merchant every other day, no ticket) was judged at its 3rd day;
    a week later those days are before the last 7, where her own earlier share of such days
    is read. Had they been counted there (3 of 21 working days), her second week would be
    measured against her own first one: an insider's first week must not become their usual.
    The week alone (``runs`` and ``fresh_runs`` off); by default the run since her first day
    speaks, measured against the days before it."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *range(14)])]
    for d in (0, 2, 4, 9, 11, 13):
        events += browse("ana", d, f"s-{d}")
    for config, judged in (
        (
            {"runs": False, "fresh_runs": False},
            "on 3 of their 7 working days in the last 7 days (s-11, s-13, s-9)",
        ),
        ({}, "on 6 of their 14 working days since 2026-11-02"),
    ):
        engine = Engine(DetectConfig(detectors={"long_horizon": config}))
        reasons = []
        for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
            for alert in engine.process(event):
                if alert.actor == "ana":
                    reasons += [r for r in alert.reasons if judged in r]
        assert reasons
        assert all(
            re.search(r"They did on 0% of their \d+ earlier working day\(s\)", r) for r in reasons
        )


def peers_browse(every: int, days: Iterable[int]) -> list[dict[str, Any]]:
    """Each colleague browses a merchant new to them without a ticket every ``every`` days."""
    return [
        e
        for i, p in enumerate(TEAM)
        for d in days
        if (d + 3 * i) % every == 0
        for e in browse(p, d, f"h-{p}-{d}")
    ]


def test_a_trickle_that_began_before_the_week_is_judged_from_its_start() -> None:
    """Cy's colleagues browse a new merchant without a ticket one day in twelve; she did on
    days -6 and -3, then from day 0 every other day, then daily from day 8. At her 2nd
    merchant the days since day -6 (4 of 9) are judged against her days before them: low,
    which marks their merchants judged, so at her 4th the week is measured against an
    earlier share without days -6 and -3, and is medium. Could fail: with ``runs`` off, those
    two days stayed her usual (2 of 14), and it took the 7th merchant or later."""
    days = [*HISTORY, *range(21)]
    events = [e for p in TEAM for e in ticketed(p, days)] + peers_browse(12, days)
    events += ticketed("cy", range(-14, 21))
    for d in (-6, -3):
        events += browse("cy", d, f"h-{d}")
    for d in range(21):
        if d % 2 == 0 or d >= 8:
            events += browse("cy", d, f"s-{d}")
    caught = first_medium(events, "cy")
    assert caught is not None
    merchants, reason = caught
    assert merchants == 4
    assert "on 4 of their 7 working days in the last 7 days" in reason
    assert re.search(r"They did on 0% of their \d+ earlier working day\(s\)", reason)
    off = caught_at(events, "cy", DetectConfig(detectors={"long_horizon": {"runs": False}}))
    assert off is None or off > 5


def test_a_newcomers_one_day_of_three_is_not_their_routine() -> None:
    """Cy's first three days hold one uncited look at a new merchant; her colleagues do it on
    one day in eight. One day of three is no habit of a third of her days: her share is her
    team's, updated with her three days (0.16), below the 0.3 that makes a signal routine, so
    her daily trickle is judged. Could fail: her raw share (33 %) made her days routine until
    the trickle's own days diluted it, and she was caught at her 9th merchant. (Her looks cite
    nothing: for ``silent`` her one such day of three is already her way of working, a tenth
    of the days or more, so with it on she is caught as without.) The days since each day of
    the week that began her trickle (``fresh_runs``) catch her a merchant sooner: her 6th,
    her days since day 0 all marked; without them, her 7th."""
    days = [*HISTORY, *range(14)]
    events = [e for p in TEAM for e in ticketed(p, days)] + peers_browse(8, days)
    events += ticketed("cy", range(-3, 14)) + browse("cy", -3, "h-cy")
    for d in range(14):
        events += browse("cy", d, f"s-{d}")
    for fresh, merchants in ((False, 7), (True, 6)):
        for runs in (False, True):
            cfg = {"runs": runs, "silent": False, "fresh_runs": fresh}
            assert caught_at(events, "cy", DetectConfig(detectors={"long_horizon": cfg})) == (
                merchants
            )
        cfg = {"fresh_runs": fresh}
        assert caught_at(events, "cy", DetectConfig(detectors={"long_horizon": cfg})) == merchants


def without_teams(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events as a platform whose access log names no team (``actor.team`` absent)."""
    for e in events:
        actor = e.get("actor")
        if isinstance(actor, dict):
            actor.pop("team", None)
    return events


def test_with_no_team_known_a_newcomer_is_not_judged_against_all_the_staff() -> None:
    """No event names a team: the staff without one are no team, so cy, three days in, is
    judged as an actor of a team too small to know, against all the staff only once a week
    of her own days is known (a lone specialist's first week stood out against everyone).
    Could fail: judged against everyone from her 3rd day, her first week of new merchants
    was medium. (Her looks also cite nothing, which her first three days did not and no one
    else does: that, ``silent``, is judged against all the staff from the first days, and
    catches her at her 3rd merchant; off for the browsing rule.)"""
    events = [e for p in TEAM for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += ticketed("cy", range(-3, 5))
    for d in AHEAD:
        events += browse("cy", d, f"s-{d}")
    assert caught_at(without_teams(events), "cy", NO_SILENT) is None
    assert caught_at(without_teams(events), "cy", DetectConfig()) == 3


def test_with_no_team_known_a_trickle_is_still_caught() -> None:
    """The same trickle by ana, who has two weeks of her own days: judged against all the
    staff, medium by her 4th merchant, as in a team of two."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}")
    assert (merchants := caught_at(without_teams(events), "ana", DetectConfig())) is not None
    assert merchants <= 4


def test_with_no_team_known_the_staff_are_one_pool_of_peers() -> None:
    """``unjustified_access`` compares an actor with their team's days: staff whose events name
    no team are one pool (not no peers at all, where a newcomer's first noisy days were their
    only baseline), and an app's days are never a person's peers."""
    events = without_teams([e for p in TEAM for e in ticketed(p, HISTORY)])
    for day in (-10, -9):  # an app's two days: the first one closed, as the staff's are
        app = look("app-sync", "k-1", day, 3, "c-1")
        app["actor"] = {"id": "app-sync", "kind": "app"}
        events.append(app)
    engine = Engine()
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        engine.process(event)
    pool = engine.state.context.team_days.get(NO_TEAM, [])
    assert len(pool) == len(TEAM) * (len(HISTORY) - 1)  # every closed day of the staff's


def test_without_customer_ids_each_look_is_one_more_customer() -> None:
    """``subjects`` is optional: a log that names no customers still shows ana's two looks a
    day at a merchant new to her, each one customer more, and her trickle is medium by the
    3rd merchant as with ids. Could fail: counted by ids alone, her looks were no customers."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    for d in AHEAD:
        events += browse("ana", d, f"s-{d}")
    for e in events:
        e.pop("subjects", None)
    caught = first_medium(events, "ana")
    assert caught is not None
    merchants, reason = caught
    assert merchants == 3
    assert "a steady trickle" in reason


def test_a_trickle_from_an_actors_first_day_says_none_of_their_days_is_on_record() -> None:
    """An actor new to the record whose every day holds a look citing nothing is judged by
    their team's share of such days alone, and the reason says so: not "0 % of their
    earlier working days", which would claim days that were never seen."""
    events = [e for p in TEAM for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += ticketed("neo", AHEAD)
    for d in AHEAD:
        events.append(look("neo", f"s-{d}", d, 15, f"c-s-{d}-{d}"))
    caught = first_medium(events, "neo")
    assert caught is not None
    _, reason = caught
    assert "citing no ticket, grant or reason" in reason
    assert "None of their working days before that is on record; care peers on 2%" in reason
    assert "earlier working day" not in reason


def test_a_trickle_says_which_of_its_earlier_days_an_earlier_finding_left_out() -> None:
    """Once a finding judged the merchants of neo's first days unusual, those days do not
    teach neo's own share (an insider's first week must not become their usual): a later
    reason says so, rather than a bare "0% of their earlier working days" that the record
    contradicts."""
    days = range(0, 21)
    events = [e for p in TEAM for e in ticketed(p, [*HISTORY, *days])]
    events += ticketed("neo", days)
    for d in days:
        events.append(look("neo", f"s-{d}", d, 15, f"c-s-{d}-{d}"))
    engine = Engine()
    reasons = []
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        for alert in engine.process(event):
            if alert.actor == "neo" and "a steady trickle" in alert.reasons[0]:
                reasons.append(alert.reasons[0])
    assert reasons
    later = [r for r in reasons if "earlier working day(s)" in r]
    assert later
    assert any(
        re.search(r"They did on 0% of their (\d+) earlier working day\(s\) \(not counting \1 ", r)
        for r in later
    ), later


@pytest.mark.parametrize(
    ("earlier_days", "said"),
    [
        (12, "their own earlier rate is 0.00 a working day, care peers 0.02"),
        (0, "none of their working days before that is on record, care peers 0.02"),
    ],
)
def test_a_count_judged_against_peers_says_whether_the_actors_own_days_are_known(
    earlier_days: int, said: str
) -> None:
    odds = Surprise(4, 1e-4, 0.1, 0.0, 0.02, 5, "care peers", earlier_days=earlier_days)
    assert odds.text().startswith(said)


def worked(actor: str, merchant: str, day: int) -> list[dict[str, Any]]:
    """A ticket of ``merchant`` opened, assigned to ``actor`` and worked on ``day``."""
    tid, _, events = opened(actor, day, merchant)
    return [*events, look(actor, merchant, day, 9, f"c-{merchant}-w{day}", ticket=tid)]


def known_merchants_trickle(**just: str) -> list[dict[str, Any]]:
    """A small shop: ana has worked tickets of s-0 … s-6 in her last two weeks, as her team
    works theirs; from day 0 she looks at one customer of one of them a day, with nothing
    cited (or ``just``). Every merchant is known to her, and one customer a day is no
    browsing: the merchants-new-to-her looks never see it."""
    events = [e for p in (*TEAM, "ana") for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += [e for d in range(7) for e in worked("ana", f"s-{d}", -14 + 2 * d)]
    for d in AHEAD:
        events.append(look("ana", f"s-{d}", d, 15, f"c-s-{d}-{d}", **just))
    return events


def test_a_trickle_at_merchants_the_agent_knows_is_caught_by_its_days_citing_nothing() -> None:
    """Her team never looks at a customer citing nothing (no ticket, grant or reason); she
    does on each of her 3 working days since she began: medium at her 3rd merchant. Could
    fail: without ``silent`` her trickle is never medium."""
    events = known_merchants_trickle()
    caught = first_medium(events, "ana")
    assert caught is not None
    _, reason = caught  # (every s- merchant is hers from her tickets)
    assert "citing no ticket, grant or reason on 3 of their 3 working days since 2026-11-02" in (
        reason
    )
    assert "(s-0, s-1, s-2)" in reason
    assert re.search(
        r"They did on 0% of their \d+ earlier working day\(s\), care peers on 2%", reason
    )
    assert first_medium(events, "ana", NO_SILENT) is None


def test_looks_citing_nothing_as_the_team_habit_stay_below_medium() -> None:
    """Where every agent finds callers without citing anything (most of their days, ana's
    too), her week of it is their usual."""
    events = known_merchants_trickle()
    for i, p in enumerate((*TEAM, "ana")):
        events += [
            look(p, f"k-{p}-0", d, 16, f"c-{p}-{d}")
            for d in [*HISTORY, *AHEAD]
            if (d + i) % 5 not in (0, 1)
        ]
    assert first_medium(events, "ana") is None


def test_looks_declaring_a_reason_are_not_looks_citing_nothing() -> None:
    """A written reason is a claim a reviewer can check (``unjustified_access``' workflows
    judge reasons): the same trickle under one is not this signal."""
    assert first_medium(known_merchants_trickle(reason="follow_up"), "ana") is None


def test_a_habit_of_looks_citing_nothing_from_the_first_days_is_routine() -> None:
    """A lone analyst who, from their first days, looks at a customer citing nothing on one
    day in five (a fifth of their days, while their team never does): that is their way of
    working (``silent_routine``, a tenth of the days), and a week of it every day is no
    trickle. Could fail: at the other signals' bar (0.3), her fifth is judged against her
    team's 2 % and her week is medium."""
    events = known_merchants_trickle()
    events += [look("ana", f"s-{d % 7}", d, 16, f"c-h-{d}") for d in HISTORY if d % 5 == 3]
    assert first_medium(events, "ana") is None
    bar = DetectConfig(detectors={"long_horizon": {"silent_routine": 0.3}})
    caught = first_medium(events, "ana", bar)
    assert caught is not None
    assert "citing no ticket, grant or reason" in caught[1]


def test_with_no_team_known_looks_citing_nothing_are_judged_from_the_first_days() -> None:
    """A log that names no team: the staff are one desk whose habit citing nothing is (none
    of them do). Ana, three days in, looks at a customer of a merchant she knows a day,
    citing nothing: medium at her 3rd merchant. Could fail: judged against all the staff only
    after a week of her own days, as a lone specialist's browsing is, she was not yet."""
    events = [e for p in TEAM for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += ticketed("ana", [-3, -2, -1, *AHEAD])
    events += [e for d in range(3) for e in worked("ana", f"s-{d}", -3 + d)]
    for d in AHEAD:
        events.append(look("ana", f"s-{d}", d, 15, f"c-s-{d}-{d}"))
    caught = first_medium(without_teams(events), "ana")
    assert caught is not None
    assert "citing no ticket, grant or reason on 3 of their" in caught[1]
    assert "(s-0, s-1, s-2)" in caught[1]


def hired(actor: str, day: int) -> dict[str, Any]:
    """``actor``'s ``staff.joined`` at 07:00 of ``day``."""
    return {"id": f"c-{next(_ids)}", "time": at(day, 7), "type": "staff.joined", "actor": actor}


def newcomer_week(
    config: DetectConfig | None = None, *, joined: bool = True
) -> tuple[int, str] | None:
    """Hal joined four days before the week, worked three days of tickets, then looked at
    customers of a merchant new to them every day of the week without a ticket (a hire's
    first weeks: every merchant is new to them)."""
    events = [e for p in TEAM for e in ticketed(p, [*HISTORY, *AHEAD])]
    events += ticketed("hal", [-3, -2, -1, *AHEAD])
    if joined:
        events.append(hired("hal", -4))
    for d in AHEAD:
        events += browse("hal", d, f"s-{d}", reason="learning the merchant's catalogue")
    return first_medium(events, "hal", config)


def test_a_hire_is_not_judged_on_merchants_new_to_them_in_their_first_weeks() -> None:
    """Within ``newcomer_days`` (14) of their ``staff.joined``, merchants new to a hire are
    marked, not judged: the same week without the joining event (or with newcomer_days 0)
    is a medium alert by the count of new merchants."""
    assert newcomer_week() is None
    unknown = newcomer_week(joined=False)
    assert unknown is not None and "merchants new to them" in unknown[1]
    judged = newcomer_week(DetectConfig(detectors={"long_horizon": {"newcomer_days": 0}}))
    assert judged is not None and "merchants new to them" in judged[1]


def pair_lists(config: DetectConfig | None = None) -> tuple[int, str] | None:
    """A small team: four colleagues who work their tickets, and a pair. Pia lists the
    customers of two merchants new to her a day without a ticket from day 0; ana, her
    partner, one a day from day 3. Pia's lists are judged first; ana's merchants are then
    counted against her team's rate."""
    days = [*HISTORY, *range(10)]
    events = [e for p in (*TEAM, "ana", "pia") for e in ticketed(p, days)]
    for d in range(10):
        events += [listed("pia", d, f"p-{d}-{i}") for i in (1, 2)]
        if d >= 3:
            events.append(listed("ana", d, f"s-{d}"))
    return first_medium(events, "ana", config)


def test_a_partners_judged_lists_are_not_the_teams_usual() -> None:
    """Pia's merchants, judged unusual by her own findings, are not counted in the rate ana
    is judged against (``partner_unjudged``): ana's lists are medium by her 4th merchant, her
    team's rate the four colleagues' alone. Could fail: counted, pia's lists (two a day)
    make listing new merchants the team's usual, and ana's are caught later, if at all."""
    caught = pair_lists()
    assert caught is not None
    merchants, reason = caught
    assert merchants <= 4
    assert "new to them or paged through without a ticket" in reason
    counted = pair_lists(DetectConfig(detectors={"long_horizon": {"partner_unjudged": False}}))
    assert counted is None or counted[0] > merchants


def _colleague(marks: int, judged: int) -> ActorState:
    """A care agent with ``marks`` merchants listed without a ticket over 20 working days,
    the first ``judged`` of them named by findings about them."""
    state = ActorState(team="care", active=list(range(20)))
    state.marks["harvest"] = [(i, f"m-{i}") for i in range(marks)]
    state.marks[_JUDGED] = [(i, f"m-{i}") for i in range(judged)]
    return state


@pytest.mark.parametrize(
    ("team", "expected"),
    [
        # A pair's partner: six judged of the team's nine marks.
        ([(6, 6), (1, 0), (1, 0), (1, 0)], [(0, 20), (1, 20), (1, 20), (1, 20)]),
        # One colleague only, the one with most judged.
        ([(4, 4), (3, 3), (1, 0)], [(0, 20), (3, 20), (1, 20)]),
        # A large team's benign finding: two judged of 22 marks, under a quarter, counted.
        ([(2, 2), *[(2, 0)] * 10], [(2, 20)] * 11),
    ],
)
def test_only_a_weighty_colleagues_judged_merchants_leave_the_teams_rate(
    team: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    ctx = Context()
    ctx.actors["ana"] = _colleague(0, 0)
    for i, (marks, judged) in enumerate(team):
        ctx.actors[f"c{i}"] = _colleague(marks, judged)
    scope, samples = team_samples(ctx, "ana", "care", "harvest", partner_share=0.25)
    assert scope == "care peers"
    assert samples == expected


@pytest.mark.parametrize(
    ("team", "expected"),
    [
        # A partner caught by another detector (lists lent a case): none of their six marks
        # was judged by long_horizon, all leave the team's rate.
        ([(6, 0, True), (1, 0, False), (1, 0, False)], [(0, 20), (1, 20), (1, 20)]),
        # An alerted colleague who weighs little in a large team: counted.
        ([(2, 0, True), *[(2, 0, False)] * 10], [(2, 20)] * 11),
        # Not alerted, nothing judged: counted.
        ([(6, 0, False), (1, 0, False)], [(6, 20), (1, 20)]),
    ],
)
def test_a_colleague_alerted_on_any_signal_is_not_the_teams_usual(
    team: list[tuple[int, int, bool]], expected: list[tuple[int, int]]
) -> None:
    ctx = Context()
    ctx.actors["ana"] = _colleague(0, 0)
    for i, (marks, judged, alerted) in enumerate(team):
        ctx.actors[f"c{i}"] = state = _colleague(marks, judged)
        if alerted:
            state.marks[ALERTED] = [(19, "other_case")]
    assert team_samples(ctx, "ana", "care", "harvest", partner_share=0.25)[1] == expected


def test_the_engine_marks_the_actors_whose_evidence_reached_medium() -> None:
    """Pia's lists of two new merchants a day reach medium: her state carries the detector's
    mark (what :func:`team_samples` reads); her colleagues', working their tickets, none."""
    days = [*HISTORY, *range(5)]
    events = [e for p in (*TEAM, "pia") for e in ticketed(p, days)]
    for d in range(5):
        events += [listed("pia", d, f"p-{d}-{i}") for i in (1, 2)]
    engine = Engine()
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        engine.process(event)
    actors = engine.state.context.actors
    assert actors["pia"].marks.get(ALERTED)
    assert not any(actors[p].marks.get(ALERTED) for p in TEAM)


def test_the_engine_marks_a_medium_finding_whose_alert_stayed_low() -> None:
    """Pia lists three merchants new to her in an afternoon, without a ticket, her first such
    day: the finding is medium by itself (1 in thousands), the alert low (the evidence of one
    day). Her state still carries the mark, so that her merchants leave her small team's
    rate (a pair's first day, each partner's alert still low). Could fail: only alerts the
    evidence made medium marked."""
    events = [e for p in (*TEAM, "pia") for e in ticketed(p, HISTORY)]
    events += [listed("pia", 0, f"p-0-{i}") for i in (1, 2, 3)]
    engine = Engine()
    alerts = []
    for event in sorted((decode_event(json.dumps(e)) for e in events), key=time_us):
        alerts += engine.process(event)
    mine = [a for a in alerts if a.actor == "pia"]
    assert mine and max(a.severity for a in mine) == Severity.LOW
    assert engine.state.context.actors["pia"].marks.get(ALERTED)


# -- working days: a night shift is one day, not the ends of two -----------------------------
def _hours(*spans: tuple[int, int], each: int = 20) -> list[int]:
    """Accesses by UTC hour: ``each`` in every hour of each ``[start, end)`` span (mod 24)."""
    hours = [0] * 24
    for start, end in spans:
        for h in range(start, end if end > start else end + 24):
            hours[h % 24] += each
    return hours


@pytest.mark.parametrize(
    ("hours", "current", "expected"),
    [
        (_hours((8, 17)), 0, 0),  # a day shift keeps UTC midnight
        (_hours((22, 6)), 0, 14),  # a night shift: the middle of its lull (06:00 to 22:00)
        (_hours((17, 1)), 0, 8),  # 9 to 17 in California: 17:00 to 01:00 UTC
        (_hours((22, 6)), 18 * 3600 * 10**6, 18),  # placed where it is quiet: stays
        (_hours((0, 24)), 0, 0),  # round the clock: nothing quieter, kept
        (_hours((22, 6), each=1), 0, 0),  # 8 accesses: too few to tell
    ],
)
def test_a_working_day_begins_where_the_actors_work_pauses(
    hours: list[int], current: int, expected: int
) -> None:
    assert day_start(hours, current) == expected * 3600 * 10**6


def test_a_little_late_work_does_not_move_a_day_shifts_midnight() -> None:
    """A day shift with an on-call hour at 23:00 now and then (under 2 % of their accesses
    within three hours of midnight) keeps UTC days; the same hour as a habit moves them."""
    hours = _hours((8, 17))  # 180 accesses
    hours[23] = 3
    assert day_start(hours, 0) == 0
    hours[23] = 60
    assert day_start(hours, 0) != 0


def _plain_day_start(hours: list[float], current: int) -> int:
    """:func:`day_start` as its docstring defines it, written plainly (every key of every
    hour): the fast version must agree with it."""
    hour = 3600 * 10**6
    total = sum(hours)
    if total < 100:
        return current
    around = [*hours, *hours, *hours]

    def near(h: int, reach: int) -> float:
        return sum(around[h + 24 - reach : h + 25 + reach])

    def distance(h: int, to: int) -> int:
        return min((h - to) % 24, (to - h) % 24)

    now = current // hour
    if near(now, 3) < 0.02 * total:
        return current
    best = min(
        range(24),
        key=lambda h: (near(h, 3), near(h, 5), near(h, 7), distance(h, now), distance(h, 0)),
    )
    return best * hour if 2 * near(best, 3) <= near(now, 3) else current


def test_a_working_days_start_is_the_plain_definition() -> None:
    """Random hours (weighed, as they fade; round the clock, shifts, lulls with ties) and
    starts: the day found is the one every hour's key gives."""
    rng = random.Random(13)
    for _ in range(3000):
        hours = [0.0] * 24
        start, length = rng.randrange(24), rng.randint(3, 24)
        for k in range(length):
            hours[(start + k) % 24] = rng.choice((0.0, 1.0, 5.0, 20.0, rng.random() * 30))
        if rng.random() < 0.3:
            hours[rng.randrange(24)] += rng.choice((0.5, 3.0))
        current = rng.randrange(24) * 3600 * 10**6
        assert day_start(hours, current) == _plain_day_start(hours, current), (hours, current)


def night_shift(actor: str, nights: Iterable[int]) -> list[dict[str, Any]]:
    """A ticket a night, worked from 22:00 to 05:00 UTC (20 looks): a night desk's history."""
    events: list[dict[str, Any]] = []
    for d in nights:
        tid, merchant, opening = opened(actor, d)
        for e in opening:
            e["time"] = at(d, 21, 30)
        events += opening
        events += [
            look(actor, merchant, d, 22 + i // 3, f"c-{merchant}-{i}", ticket=tid)
            for i in range(21)
        ]
    return events


def test_a_night_shift_is_one_working_day() -> None:
    """Once their hours are known (100 accesses, their fifth night), each night of a night
    desk's agent is one working day, from 14:00 UTC (the middle of their lull from 05:00 to
    22:00). With UTC days, each day held the end of one night and the start of the next,
    and every rate of days (a trickle's days, the evidence's one piece a day) saw those."""
    engine = Engine()
    for event in sorted(
        (decode_event(json.dumps(e)) for e in night_shift("nia", range(10))), key=time_us
    ):
        engine.process(event)
    state = engine.state.context.actors["nia"]
    assert state.shift == 14 * 3600 * 10**6

    def workday(night: int, hour: int) -> int:
        return state.workday(time_us(decode_event(json.dumps(look("nia", "m", night, hour, "c")))))

    assert workday(9, 22) == workday(9, 28)  # 22:00 to 04:00: one day
    assert workday(8, 28) + 1 == workday(9, 22)  # the next night: the next
    assert state.active[-2:] == [workday(8, 22), workday(9, 22)]


def test_a_night_shifts_trickle_is_counted_by_its_nights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The night desk's slow insider browses a merchant new to them each night, before
    midnight or after: three nights are three working days of three, medium by the 3rd
    merchant, as a day desk's. Could fail: with UTC days (``SHIFT_SEEN`` out of reach) the
    nights before and after one midnight are one day, and half nights are the desk's days."""
    events = [e for p in (*TEAM, "ana") for e in night_shift(p, [*HISTORY, *AHEAD])]
    for d, hour in zip(AHEAD, (23, 27, 23, 27, 23, 27, 23), strict=True):
        events += [look("ana", f"s-{d}", d, hour, f"c-s-{d}-{i}") for i in (1, 2)]
    caught = first_medium(events, "ana", NO_SILENT)
    assert caught is not None
    assert caught[0] == 3
    assert "on 3 of their 3 working days" in caught[1]
    monkeypatch.setattr(context, "SHIFT_SEEN", 10**9)
    utc = first_medium(events, "ana", NO_SILENT)
    assert utc is None or utc[0] > 3


def test_a_night_workers_list_threshold_counts_the_shift_that_just_ended() -> None:
    # Computed once a working day: a night worker's begins with their shift (18:00 UTC
    # here), so the night that ended this morning counts from this evening's first list,
    # not from the next UTC midnight.
    detector = UnjustifiedAccess()
    ctx = Context()
    state = ctx.actor("nia")
    state.kind, state.team, state.shift = "staff", "night", 18 * HOUR
    state.history = [{"unjustified_bulk": 0.0} for _ in range(6)]
    day = 20_000 * DAY
    ctx.now_us = day + 2 * HOUR  # the end of last night's shift
    quiet = detector._bulk_threshold(ctx, state, "nia")
    state.history.append({"unjustified_bulk": 9.0})  # that night, once it ended
    state.quantiles.clear()
    ctx.now_us = day + 23 * HOUR  # tonight's shift, the same UTC day
    after = detector._bulk_threshold(ctx, state, "nia")
    assert after[2] == quiet[2] + 1  # one more working day weighs in the rate ...
    assert after[0] > quiet[0]  # ... and its nine lists raise the bar


@pytest.mark.parametrize(
    ("severity", "judged"), [(Severity.LOW, set()), (Severity.MEDIUM, {"m-7", "m-8"})]
)
def test_only_a_medium_look_judges_its_merchants_unusual(
    monkeypatch: pytest.MonkeyPatch, severity: Severity, judged: set[str]
) -> None:
    """The merchants of a medium or higher look are left out of the actor's own share of
    such days from then on; a low look's are not: a low finding is a lead, and leaving its
    days out kept a benign actor's own share at 0 % for good. Could fail: every look's
    merchants judged, or none."""
    detector = LongHorizon()
    found = _Look(severity, 0.01, ["m-7", "m-8"], "a trickle")
    monkeypatch.setattr(detector, "_reach", lambda *_: [found])
    monkeypatch.setattr(detector, "_silent", lambda *_: [])
    ctx, state = Context(), ActorState(kind="staff")
    ctx.now_us = int(T0.timestamp()) * 1_000_000
    event = decode_event(json.dumps(look("neo", "m-7", 0, 10, "c-1")))
    [finding] = detector.observe(event, ctx, state, False)
    assert finding.severity == severity
    assert {m for _, m in state.marks.get(_JUDGED, ())} == judged


def _as(event: dict[str, Any], team: str, role: str) -> dict[str, Any]:
    """An access of ``event``'s actor as a member of ``team`` with ``role`` (ticket events
    as they are)."""
    if isinstance(event.get("actor"), dict):
        event["actor"] = {**event["actor"], "team": team, "role": role}
    return event


@pytest.mark.parametrize(("reviewer_peers", "alerted"), [(True, False), (False, True)])
def test_a_leads_look_ups_citing_nothing_are_judged_against_leads(
    reviewer_peers: bool, alerted: bool
) -> None:
    """A lead of the care team starts looking up a customer citing nothing every day, as
    the leads of two other teams have done on two days in three for weeks; the care team's
    agents always cite a ticket. Against the leads, that is how leads work; against the
    agents, a steady trickle. Could fail: leads judged against their team (an alert), or
    everyone against their role."""
    days = [*HISTORY, *AHEAD]
    events = [e for p in TEAM for e in ticketed(p, days)]
    for lead, team in (("lea", "care"), ("leo", "billing"), ("lou", "fraud")):
        events += [_as(e, team, "lead") for e in ticketed(lead, days)]
        events += [
            _as(look(lead, f"x-{d % 4}", d, 14, f"c-x-{d}"), team, "lead")
            for d in (AHEAD if lead == "lea" else [d for d in days if d % 3])
        ]
    config = DetectConfig.model_validate(
        {"detectors": {"long_horizon": {"reviewer_peers": reviewer_peers}}}
    )
    caught = first_medium(events, "lea", config)
    assert (caught is not None) is alerted, caught
    if caught is not None:
        assert "citing no ticket, grant or reason" in caught[1]
