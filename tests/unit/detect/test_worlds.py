"""Whole worlds through the engine, evidence on (issue 13): benign look-alikes of the insider
scenarios stay below medium, and insiders are caught before their 5th merchant, in a small
team and a large one. The worlds come from ``world2`` and ``world3`` (the second and third
generators, which the detectors were not built on) and from stories told event by event."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

import world2
import world3
from sentinelle.detect import Engine, Severity
from sentinelle.events import AccessEvent, decode_event, time_us
from sentinelle.timeutil import parse_time

T0 = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)  # a Monday


def first_medium(lines: list[bytes], actors: set[str], high_profile: list[str]) -> dict[str, Any]:
    """Run the engine; per actor in ``actors`` the time of their first medium+ alert, and
    the medium+ alerts on everyone else."""
    engine = Engine(high_profile=high_profile)
    caught: dict[str, int] = {}
    others = []
    for line in lines:
        event = decode_event(line)
        for alert in engine.process(event):
            if alert.severity < Severity.MEDIUM:
                continue
            if alert.actor in actors:
                caught.setdefault(alert.actor, time_us(event))
            else:
                others.append(alert)
    return {"caught": caught, "others": others}


def merchants_before(lines: list[bytes], scenario: dict[str, Any], until: int | None) -> int:
    """How many merchants the scenario's busiest actor reached up to ``until`` (all: None)."""
    mine = set(scenario["events"])
    reached: dict[str, set[str]] = {}
    for line in lines:
        event = decode_event(line)
        if isinstance(event, AccessEvent) and event.id in mine:
            if until is None or time_us(event) <= until:
                reached.setdefault(event.actor.id, set()).add(event.merchant)
    return max((len(m) for m in reached.values()), default=0)


# -- world2: a small team and a larger desk ------------------------------------------------------

# (size, seed, scenario): the insiders of these worlds are caught before their 5th merchant
# and no benign colleague reaches medium. Regression checks, not the measure: over seeds the
# slow insiders are still caught late or missed (benchmarks/detect.py, docs/detection.md).
EARLY = [
    ("small", 3, "pair_harvest"),
    ("small", 1, "vip_snooping"),
    ("small", 1, "departing_export"),
    ("small", 2, "fake_tickets"),
    ("small", 3, "compromised_account"),
    # Merchants every agent of the shop knows, one customer at a time, citing nothing: missed
    # (4, 5) or caught at the 5th merchant (3) before long_horizon judged those days.
    ("small", 3, "low_and_slow"),
    ("small", 4, "low_and_slow"),
    ("small", 5, "low_and_slow"),
]


def check_world(
    size: str, seed: int, names: tuple[str, ...], late: frozenset[str], generator: Any = world2
) -> None:
    lines, truth = generator.generate(size, seed, names)
    insiders = {a for s in truth["scenarios"] for a in s["actors"]}
    result = first_medium(lines, insiders, truth["high_profile_customers"])
    assert [a.reasons[0] for a in result["others"]] == []  # benign staff: nothing medium
    assert {s["name"] for s in truth["scenarios"]} == set(names)
    for s in truth["scenarios"]:
        start = parse_time(s["start"])
        times = [t for a in s["actors"] if (t := result["caught"].get(a)) and t >= start]
        assert times, f"{s['name']} missed"
        if s["name"] not in late:
            assert merchants_before(lines, s, min(times)) <= 4, s["name"]


@pytest.mark.parametrize(("size", "seed", "scenario"), EARLY)
def test_world2_small_team_insider_caught_before_the_5th_merchant(
    size: str, seed: int, scenario: str
) -> None:
    check_world(size, seed, (scenario,), frozenset())


# world3: its fake-ticket insiders close their tickets 4-20 minutes after opening them (missed
# while fake_tickets judged those closed within 10); its help desk reopens tickets by routing
# them again, and some staff-days reach the collector hours late.
WORLD3 = [
    ("small", 1, "fake_tickets"),
    ("small", 4, "fake_tickets"),
    ("compact", 2, "departing_export"),
]


@pytest.mark.parametrize(("size", "seed", "scenario"), WORLD3)
def test_world3_insider_caught_before_the_5th_merchant(size: str, seed: int, scenario: str) -> None:
    check_world(size, seed, (scenario,), frozenset(), world3)


def test_world2_larger_desk_every_insider_caught_no_benign_medium() -> None:
    """60 agents, 500 merchants, 25 days, every scenario at once; the pair harvest and the
    low-and-slow insider are caught after their 5th and 6th merchants (the figures over
    seeds are in docs/detection.md)."""
    check_world("medium", 1, world2.SCENARIOS, frozenset({"pair_harvest", "low_and_slow"}))


# -- stories: benign look-alikes and their insider ---------------------------------------------

_ids = iter(range(1, 1_000_000))


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _access(
    who: str, merchant: str, t: dt.datetime, rtype: str, n: int, ticket: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"e-{next(_ids)}",
        "time": _stamp(t),
        "actor": {"id": who, "kind": "staff", "team": "care", "role": "agent"},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": rtype, "count": n},
        "subjects": [f"c-{merchant}-{i}" for i in range(n)],
        "data": ["contact"],
        "channel": "support_console",
        "outcome": "allowed",
    }
    if ticket:
        event["justification"] = {"ticket": ticket}
    return event


def _ctx(kind: str, t: dt.datetime, ticket: str, merchant: str, **fields: str) -> dict[str, Any]:
    return {
        "id": f"c-{next(_ids)}",
        "time": _stamp(t),
        "type": kind,
        "ticket": ticket,
        "merchant": merchant,
        **fields,
    }


def phone_call(who: str, merchant: str, t: dt.datetime, *, caller: bool = True) -> Iterator[Any]:
    """The agent finds the caller in the merchant's customer list, opens a ticket, looks at
    the caller (``caller``) and closes it five minutes later."""
    tid = f"T-{next(_ids)}"
    yield _access(who, merchant, t, "customer_list", 40)
    t += dt.timedelta(minutes=1)
    yield _ctx("ticket.opened", t, tid, merchant, by=who)
    yield _ctx("ticket.assigned", t, tid, merchant, actor=who, by=who)
    if caller:
        yield _access(who, merchant, t + dt.timedelta(minutes=2), "customer", 1, tid)
    else:
        yield _access(who, merchant, t + dt.timedelta(minutes=2), "customer_list", 200, tid)
    yield _ctx("ticket.closed", t + dt.timedelta(minutes=5), tid, merchant, actor=who, by=who)


def desk(days: int, agents: int, *, calls: int) -> list[dict[str, Any]]:
    """``agents`` phone agents taking ``calls`` calls a working day each, at varied shops."""
    events: list[dict[str, Any]] = []
    for day in range(days):
        for a in range(agents):
            for c in range(calls):
                t = T0 + dt.timedelta(days=day, minutes=20 * c + a)
                merchant = f"m{(day * 31 + a * 7 + c * 13) % 150}"
                events += phone_call(f"agent-{a}", merchant, t)
    return events


def lines(events: list[dict[str, Any]]) -> list[bytes]:
    """The events as a sender would post them, in time order."""
    ordered = sorted(events, key=lambda e: (e["time"], e["id"]))
    return [json.dumps(e).encode() for e in ordered]


def test_phone_agents_who_look_callers_up_in_lists_stay_below_medium() -> None:
    """Five agents, eight calls a day each for two weeks, every call found in a customer
    list and logged as a quick self-made ticket: the look-ups are the tickets' (opened
    minutes later), and each ticket has the caller's record opened under it."""
    result = first_medium(lines(desk(14, 5, calls=8)), set(), [])
    assert [(a.detector, a.reasons[0]) for a in result["others"]] == []


def test_list_only_quick_tickets_caught_before_the_5th_merchant() -> None:
    """Among those agents, one opens quick tickets from the second week on under which only
    whole lists are opened (no caller), three shops a day."""
    events = desk(14, 5, calls=8)
    shops = iter(f"x{i:02d}" for i in range(100))
    for day in range(7, 14):
        for c in range(3):
            t = T0 + dt.timedelta(days=day, hours=6, minutes=30 * c)
            events += phone_call("mallory", next(shops), t, caller=False)
    for day in range(14):  # mallory's ordinary calls, as her colleagues'
        for c in range(4):
            t = T0 + dt.timedelta(days=day, hours=8, minutes=20 * c)
            events += phone_call("mallory", f"m{(day * 17 + c) % 150}", t)
    stream = lines(events)
    result = first_medium(stream, {"mallory"}, [])
    assert result["others"] == []
    caught = result["caught"]["mallory"]
    reached = {
        e.merchant
        for e in map(decode_event, stream)
        if isinstance(e, AccessEvent)
        and e.actor.id == "mallory"
        and e.merchant.startswith("x")
        and time_us(e) <= caught
    }
    assert 1 <= len(reached) <= 4
