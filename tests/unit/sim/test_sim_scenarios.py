"""Each insider scenario shows its signature behaviour, and its actors otherwise look and
work like everyone else."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import pytest
from simrun import Run

from sentinelle.sim import SCENARIO_NAMES


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _is_assignee(run: Run, event: dict[str, Any], actor: str) -> bool:
    ticket = event.get("justification", {}).get("ticket")
    return ticket is not None and actor in {a for a, _, _ in run.tickets[ticket]["assignees"]}


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_insiders_keep_working_normally_after_a_baseline(run: Run, name: str) -> None:
    scenario = run.scenario(name)
    start = _t(run.truth["start"])
    assert _t(scenario["start"]) - start >= dt.timedelta(days=10)
    for actor in scenario["actors"]:
        facts = run.truth["actors"][actor]
        assert facts["role"] == "agent" and facts["joined"] < run.truth["start"]
        events = run.by_actor(actor)
        before = [e for e in events if e["time"] < scenario["start"]]
        during = [
            e
            for e in events
            if scenario["start"] <= e["time"] <= scenario["end"] and e["id"] not in run.malicious
        ]
        assert sum(_is_assignee(run, e, actor) for e in before) > 200
        assert sum(_is_assignee(run, e, actor) for e in during) > 20


def test_pair_harvest(run: Run) -> None:
    scenario = run.scenario("pair_harvest")
    assert len(scenario["actors"]) == 2
    assert {run.truth["actors"][a]["team"] for a in scenario["actors"]} == {"tier1"}
    assert len(scenario["merchants"]) >= 15
    events = [e for e in run.events if run.malicious.get(e["id"]) == "pair_harvest"]
    assert {e["actor"]["id"] for e in events} == set(scenario["actors"])
    assert {e["resource"]["type"] for e in events} == {"customer_list", "order_list"}
    foreign = [
        e
        for e in events
        if "ticket" in e.get("justification", {})
        and run.tickets[e["justification"]["ticket"]]["merchant"] != e["merchant"]
    ]
    assert foreign, "some harvesting looks carry real tickets of other merchants"
    days = {e["time"][:10] for e in events}
    assert len(days) >= 8


def test_departing_export(run: Run) -> None:
    scenario = run.scenario("departing_export")
    (actor,) = scenario["actors"]
    notice = next(
        e["time"]
        for e in run.events
        if e.get("type") == "staff.notice_given" and e["actor"] == actor
    )
    events = [e for e in run.events if run.malicious.get(e["id"]) == "departing_export"]
    exports = [e for e in events if e["action"] == "export"]
    assert len(exports) >= 3
    assert all(e["time"] > notice for e in events)
    assert all(e["channel"] == "export" for e in exports)
    assert len({e["merchant"] for e in exports}) == len(exports)  # several merchants


def test_compromised_account(run: Run) -> None:
    scenario = run.scenario("compromised_account")
    (actor,) = scenario["actors"]
    events = run.by_actor(actor)
    bad = [e for e in events if e["id"] in run.malicious]
    good = [e for e in events if e["id"] not in run.malicious]
    usual_devices = {e["source"]["device"] for e in good}
    usual_countries = {e["source"]["country"] for e in good}
    assert {e["source"]["device"] for e in bad}.isdisjoint(usual_devices)
    assert {e["source"]["country"] for e in bad}.isdisjoint(usual_countries)
    hours = Counter(int(e["time"][11:13]) for e in good)
    quiet = {h for h in range(24) if hours[h] < 0.005 * len(good)}
    assert sum(int(e["time"][11:13]) in quiet for e in bad) >= 0.9 * len(bad)  # at night
    assert len({e["merchant"] for e in bad}) >= 10
    assert len({e["time"][:10] for e in bad}) >= 2  # bursts on several nights


def test_low_and_slow(run: Run) -> None:
    scenario = run.scenario("low_and_slow")
    (actor,) = scenario["actors"]
    bad = [e for e in run.by_actor(actor) if e["id"] in run.malicious]
    assert all("ticket" not in e.get("justification", {}) for e in bad)
    per_day: dict[str, set[str]] = defaultdict(set)
    for e in bad:
        per_day[e["time"][:10]].add(e["merchant"])
    counts = sorted(len(m) for m in per_day.values())
    assert len(per_day) >= 8 and counts[len(counts) // 2] <= 2
    first_touch: dict[str, str] = {}
    for e in run.by_actor(actor):
        first_touch.setdefault(e["merchant"], e["id"])
    fresh = [m for m in scenario["merchants"] if first_touch[m] in run.malicious]
    assert len(fresh) >= 0.8 * len(scenario["merchants"])


def test_vip_snooping(run: Run) -> None:
    scenario = run.scenario("vip_snooping")
    vips = set(run.truth["high_profile_customers"])
    assert set(scenario["subjects"]) <= vips
    bad = [e for e in run.events if run.malicious.get(e["id"]) == "vip_snooping"]
    days_per_customer: dict[str, set[str]] = defaultdict(set)
    for e in bad:
        for subject in e["subjects"]:
            days_per_customer[subject].add(e["time"][:10])
    assert max(len(d) for d in days_per_customer.values()) >= 3
    # High-profile customers also get legitimate, ticketed attention from others.
    others = [
        e
        for e in run.access()
        if e["id"] not in run.malicious and vips & set(e.get("subjects", ()))
    ]
    assert others


def test_fake_tickets(run: Run) -> None:
    scenario = run.scenario("fake_tickets")
    (actor,) = scenario["actors"]
    bad = [e for e in run.events if run.malicious.get(e["id"]) == "fake_tickets"]
    tickets = {e["justification"]["ticket"] for e in bad}
    assert len(tickets) >= 5
    for ticket in tickets:
        facts = run.tickets[ticket]
        assert facts["by"] == actor
        assert facts["assignees"] == [(actor, actor, facts["assignees"][0][2])]
        assert _t(facts["closed"]) - _t(facts["opened"]) <= dt.timedelta(minutes=10)
    exposed: Counter[str] = Counter()
    for e in bad:
        exposed[e["justification"]["ticket"]] += len(e["subjects"])
    assert min(exposed.values()) >= 100  # bulk views, not a record or two
    # Benign agents open quick tickets for phone calls too, with single-record views.
    phone = [
        t
        for t, f in run.tickets.items()
        if f.get("by", "").startswith("agent-") and t not in tickets
    ]
    assert len(phone) > 50
