"""The simulator: determinism, valid events in time order, a consistent ground truth, and
the benign behaviour that makes naive rules noisy."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict

import pytest
from simrun import SMALL, Run

from sentinelle.events import AccessEvent, ContextEvent, decode_event
from sentinelle.sim import (
    SCENARIO_NAMES,
    SimulationError,
    generate_events,
    parse_scenarios,
    simulate,
)


def _bytes(seed: int) -> bytes:
    return b"".join(simulate(merchants=60, agents=12, days=6, seed=seed).lines())


def test_same_seed_same_bytes_and_truth(run: Run) -> None:
    again = simulate(**SMALL, scenarios="all")
    assert list(again.lines()) == run.lines
    assert again.truth == run.truth


def test_different_seed_different_bytes() -> None:
    assert _bytes(4) != _bytes(5)


def test_every_event_is_valid_in_time_order_with_unique_ids(run: Run) -> None:
    assert len(run.lines) > 50_000
    ids = set()
    last = None
    kinds: Counter[str] = Counter()
    for line in run.lines:
        event = decode_event(line)
        kinds[type(event).__name__] += 1
        assert event.id not in ids
        ids.add(event.id)
        assert last is None or event.time >= last
        last = event.time
        if isinstance(event, AccessEvent):
            assert event.id.startswith("evt-")
            assert len(event.subjects or ()) <= 100_000
        else:
            assert isinstance(event, ContextEvent)
            assert event.id.startswith("ctx-")
    assert kinds["AccessEvent"] > kinds["ContextEvent"] > 0
    start = dt.datetime.fromisoformat(run.truth["start"])
    end = dt.datetime.fromisoformat(run.truth["end"])
    assert start <= decode_event(run.lines[0]).time
    assert decode_event(run.lines[-1]).time < end


def test_staff_events_carry_actor_source_and_customer_ids(run: Run) -> None:
    for event in run.access():
        actor = event["actor"]
        if actor["kind"] == "staff":
            assert re.fullmatch(r"agent-\d{3}", actor["id"])
            assert set(actor) == {"id", "kind", "role", "team"}
            assert set(event["source"]) == {"ip", "device", "country"}
        number = event["merchant"].removeprefix("m-")
        for subject in event.get("subjects", ()):
            assert subject.startswith(f"c-{number}-")
        if event["resource"]["type"] in ("customer", "order", "customer_list"):
            assert event["resource"]["count"] >= len(event.get("subjects", ())) > 0


def test_tickets_are_opened_and_assigned_before_they_are_used(run: Run) -> None:
    seen: dict[str, str] = {}
    for event in run.events:
        if event.get("type") == "ticket.opened":
            seen[event["ticket"]] = event["time"]
        elif event.get("type") in ("ticket.assigned", "ticket.closed"):
            assert seen[event["ticket"]] <= event["time"]
        elif "action" in event and "ticket" in event.get("justification", {}):
            assert seen[event["justification"]["ticket"]] <= event["time"]


def test_truth_is_exactly_what_the_marked_events_contain(run: Run) -> None:
    truth = run.truth
    assert {k: truth[k] for k in ("seed", "merchants", "agents")} == {
        "seed": SMALL["seed"],
        "merchants": SMALL["merchants"],
        "agents": SMALL["agents"],
    }
    assert [s["name"] for s in truth["scenarios"]] == list(SCENARIO_NAMES)
    by_id = {e["id"]: e for e in run.events}
    order = {e["id"]: i for i, e in enumerate(run.events)}
    actors_seen: set[str] = set()
    for scenario in truth["scenarios"]:
        events = [by_id[i] for i in scenario["events"]]
        assert events, scenario["name"]
        assert all("action" in e for e in events)
        assert [order[i] for i in scenario["events"]] == sorted(
            order[i] for i in scenario["events"]
        )
        assert scenario["merchants"] == sorted({e["merchant"] for e in events})
        assert scenario["subjects"] == sorted({s for e in events for s in e.get("subjects", ())})
        assert scenario["start"] == events[0]["time"] and scenario["end"] == events[-1]["time"]
        assert {e["actor"]["id"] for e in events} == set(scenario["actors"])
        assert not actors_seen & set(scenario["actors"]), "scenarios share an actor"
        actors_seen |= set(scenario["actors"])
        assert scenario["description"].endswith(".")
    assert len(truth["actors"]) == SMALL["agents"]
    for facts in truth["actors"].values():
        assert set(facts) == {"team", "role", "timezone", "joined", "left"}
    assert len(truth["high_profile_customers"]) >= 5


def test_benign_staff_work_without_tickets(run: Run) -> None:
    benign = [
        e for e in run.access() if e["actor"]["kind"] == "staff" and e["id"] not in run.malicious
    ]
    unticketed = [e for e in benign if "ticket" not in e.get("justification", {})]
    share = len(unticketed) / len(benign)
    assert 0.02 < share < 0.15
    assert len({e["actor"]["id"] for e in unticketed}) >= SMALL["agents"] * 0.7


def test_benign_device_and_country_changes(run: Run) -> None:
    insiders = {a for s in run.truth["scenarios"] for a in s["actors"]}
    devices: dict[str, set[str]] = defaultdict(set)
    countries: dict[str, set[str]] = defaultdict(set)
    for event in run.access():
        if event["actor"]["kind"] == "staff" and event["actor"]["id"] not in insiders:
            devices[event["actor"]["id"]].add(event["source"]["device"])
            countries[event["actor"]["id"]].add(event["source"]["country"])
    new_laptops = [a for a in devices if len(devices[a]) > 1 and len(countries[a]) == 1]
    travellers = [a for a in countries if len(countries[a]) > 1 and len(devices[a]) == 1]
    assert new_laptops and travellers


def test_leads_and_qa_review_colleagues_tickets(run: Run) -> None:
    reviews: Counter[str] = Counter()
    for event in run.access():
        ticket = event.get("justification", {}).get("ticket")
        if ticket is None or event["id"] in run.malicious:
            continue
        facts = run.tickets[ticket]
        if event["actor"]["id"] not in {a for a, _, _ in facts["assignees"]}:
            assert event["merchant"] == facts["merchant"] or event["actor"]["role"] == "agent"
            reviews[event["actor"]["role"]] += 1
    assert reviews["lead"] > 100 and reviews["qa"] > 100


def test_fraud_and_onboarding_touch_many_merchants(run: Run) -> None:
    merchants: dict[str, set[str]] = defaultdict(set)
    for event in run.access():
        if event["actor"]["kind"] == "staff":
            merchants[event["actor"]["team"]].add(event["merchant"])
    assert len(merchants["fraud"]) > SMALL["merchants"] * 0.5
    assert len(merchants["onboarding"]) > SMALL["merchants"] * 0.2


def test_legitimate_exports_and_api_reads(run: Run) -> None:
    exports = [e for e in run.access() if e["action"] == "export" and e["id"] not in run.malicious]
    by_kind = Counter(e["actor"]["kind"] for e in exports)
    assert by_kind["staff"] >= 3 and by_kind["merchant_user"] >= 3
    staff = [e for e in exports if e["actor"]["kind"] == "staff"]
    # Ticketed requests, or standing monthly orders run without a ticket.
    assert all(
        "ticket" in e["justification"] or e["justification"]["reason"] == "monthly_export"
        for e in staff
    )
    channels = Counter(e["channel"] for e in run.access())
    assert channels["api"] > 1000 and channels["integration"] >= 0


def test_leavers_and_new_hires(run: Run) -> None:
    kinds = Counter(e["type"] for e in run.events if "type" in e)
    assert kinds["staff.notice_given"] >= 1 and kinds["staff.joined"] >= 1
    # A benign leaver runs a legitimate, ticketed export during the notice period.
    insiders = {a for s in run.truth["scenarios"] for a in s["actors"]}
    notices = {
        e["actor"]: e["time"]
        for e in run.events
        if e.get("type") == "staff.notice_given" and e["actor"] not in insiders
    }
    exported = [
        e
        for e in run.access()
        if e["action"] == "export"
        and e["actor"]["id"] in notices
        and e["time"] > notices[e["actor"]["id"]]
    ]
    assert exported and all("ticket" in e["justification"] for e in exported)


def test_peak_week_raises_volume(run: Run) -> None:
    per_day = Counter(e["time"][:10] for e in run.access())
    weekdays = sorted(n for day, n in per_day.items() if dt.date.fromisoformat(day).weekday() < 5)
    assert weekdays[-1] > 1.8 * weekdays[len(weekdays) // 2]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SimulationError, match="merchants must be a positive integer"):
        simulate(merchants=0, agents=5, days=5, seed=1)
    with pytest.raises(SimulationError, match="valid: all, pair_harvest"):
        simulate(merchants=50, agents=30, days=30, seed=1, scenarios=["nope"])
    with pytest.raises(SimulationError, match="at least 21 days"):
        simulate(merchants=50, agents=30, days=10, seed=1, scenarios="all")
    with pytest.raises(SimulationError, match="use more agents"):
        simulate(merchants=50, agents=6, days=30, seed=1, scenarios="all")


def test_parse_scenarios() -> None:
    assert parse_scenarios(["all"]) == SCENARIO_NAMES
    assert parse_scenarios(["fake_tickets,pair_harvest", "pair_harvest"]) == (
        "pair_harvest",
        "fake_tickets",
    )
    assert parse_scenarios([]) == parse_scenarios(["none"]) == ()


def test_generate_events_still_works() -> None:
    events = list(generate_events(events=200, seed=2))
    assert len(events) >= 200
    for event in events:
        decode_event(json.dumps(event))
