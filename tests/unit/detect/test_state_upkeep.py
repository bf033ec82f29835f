"""The engine's state upkeep: what it forgets and what it computes only when asked.

A team's usual is of its members' recent days (a small team's work over a year is not its
usual now, as a large team's is not); a customer looked at is forgotten after 14 days; a
machine's usual hours are computed when a pull in a quiet hour asks for them. Each could fail:
kept for ever, forgotten too early, or computed from another day's history.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
from test_event_shapes import access_event

from sentinelle.detect import Engine
from sentinelle.detect.context import KNOWN_DAYS, TEAM_DAYS, ActorState, Context, Ticket
from sentinelle.detect.machines import MachineDay, MachineState, _level, _p90
from sentinelle.events import decode_event
from sentinelle.timeutil import DAY, HOUR

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
D0 = int(START.timestamp()) * 1_000_000 // DAY  # START's UTC day number


def view(
    actor: str,
    merchant: str,
    day: int,
    *,
    subject: str = "c-1",
    hour: int = 10,
    country: str | None = None,
) -> Any:
    when = START + dt.timedelta(days=day, hours=hour)
    source = {} if country is None else {"source": {"country": country}}
    return decode_event(
        json.dumps(
            source
            | {
                "id": f"e-{actor}-{merchant}-{day}-{hour}-{subject}",
                "time": when.isoformat().replace("+00:00", "Z"),
                "actor": {"id": actor, "kind": "staff", "team": "care"},
                "action": "view",
                "merchant": merchant,
                "resource": {"type": "customer", "count": 1},
                "subjects": [subject],
                "data": ["contact"],
                "channel": "support_console",
                "outcome": "allowed",
            }
        )
    )


def test_a_team_usual_is_of_its_recent_days() -> None:
    """Two agents, a view a day for 100 days: the team keeps the days of the last
    :data:`TEAM_DAYS` only, each with its date, and its usual counts those."""
    engine = Engine()
    for day in range(100):
        for actor in ("ana", "bob"):
            engine.process(view(actor, "m-1", day))
    ctx = engine.state.context
    days, dates = ctx.team_days["care"], ctx.team_dates["care"]
    assert len(days) == len(dates)
    assert min(dates) == D0 + 99 - TEAM_DAYS
    assert max(dates) == D0 + 98  # day 99 is still open
    assert len(days) == 2 * TEAM_DAYS  # both agents' days 43-98
    ctx.team_quantiles.clear()  # cached at the day's first ask, before bob's day 98 closed
    assert ctx.team_baseline("care", "merchants").n == len(days)


def test_a_day_closed_after_weeks_away_is_not_the_team_usual() -> None:
    """ana works every day; carl's day 0 closes only when he is back on day 70: older than
    :data:`TEAM_DAYS`, it is not added behind ana's recent days (his day 70 will be)."""
    engine = Engine()
    engine.process(view("carl", "m-1", 0, hour=9))
    for day in range(71):
        engine.process(view("ana", "m-1", day))
    engine.process(view("carl", "m-1", 70, hour=11))
    dates = engine.state.context.team_dates["care"]
    assert min(dates) >= D0 + 70 - TEAM_DAYS
    engine.process(view("carl", "m-1", 71, hour=11))
    assert dates[-1] == D0 + 70


def test_a_state_saved_before_the_dates_counts_its_team_days_as_recent() -> None:
    """A saved state whose context has no ``team_dates`` (an earlier version's) loads; its
    team's days are dated as of the next day added, and kept until that is old."""
    engine = Engine()
    for day in range(10):
        engine.process(view("ana", "m-1", day))
    saved = msgspec.msgpack.decode(engine.dump_state())
    del saved["context"]["team_dates"]
    engine = Engine(state=Engine.load_state(msgspec.msgpack.encode(saved)))
    engine.process(view("ana", "m-1", 10))
    ctx = engine.state.context
    assert ctx.team_dates["care"] == [D0 + 9] * 10
    assert len(ctx.team_days["care"]) == 10
    for day in range(11, 10 + TEAM_DAYS + 2):
        engine.process(view("ana", "m-1", day))
    assert min(ctx.team_dates["care"]) > D0 + 9  # the undated days went in their turn


def test_customers_looked_at_are_kept_in_order_of_the_last_look_and_forgotten_after_14_days() -> (
    None
):
    """Looks citing nothing, of c-1, c-2, then c-1 again: c-1 comes last. Fifteen days after
    c-2's look, a day's pruning forgets c-2 and keeps c-1 (looked at a day later)."""
    engine = Engine()
    for day, subject in ((0, "c-1"), (0, "c-2"), (1, "c-1")):
        engine.process(view("ana", "m-9", day, subject=subject, hour=10 + day))
    state = engine.state.context.actors["ana"]
    assert list(state.looks) == ["c-2", "c-1"]
    engine.process(view("ana", "m-8", 15, subject="c-3"))
    assert list(state.looks) == ["c-1", "c-3"]


def test_pruning_stops_at_the_first_customer_looked_at_lately() -> None:
    """In a state saved before the looks were kept in order, an old look behind a recent one
    stays (until it comes first); those before are forgotten."""
    ctx = Context()
    state = ctx.actors["ana"] = ActorState()
    t = 30 * DAY
    state.looks = {"old": [t - 20 * DAY], "new": [t - DAY], "behind": [t - 20 * DAY]}
    ctx.prune(t)
    assert list(state.looks) == ["new", "behind"]


def test_a_machine_levels_and_usual_hours_are_computed_when_asked_from_its_history() -> None:
    """Its levels and the 90th percentile of each hour's records over the machine's days, as
    the days closed left them, computed at the first ask after a day closed: never another
    day's."""
    ms = MachineState()
    for day in range(10):
        ms.today = MachineDay(day=day, calls=1, records=day + 1)
        ms.today.hours[3] = day + 1  # records at 03:00: 1, 2, … 10
        ms.today.hours[4] = 2 * (day + 1)
        ms._close_day()
    assert ms.hour_p90 == [] and ms.levels == {}  # not computed yet
    assert ms.level("records") == _level(list(range(1, 11)))
    assert ms.usual_hour((3,)) == _p90(list(range(1, 11))) == 10.0
    assert ms.usual_hour((2, 3, 4)) == 20.0
    for day in range(10, 15):  # five busier days: 1, … 10, then 50 five times
        ms.today = MachineDay(day=day, calls=1, records=50)
        ms.today.hours[3] = 50
        ms._close_day()
    assert ms.usual_hour((3,)) == 50.0  # the history as it is now, not the cached figures
    assert ms.level("records") == _level([*range(1, 11), *[50] * 5])


def ticket_event(kind: str, ticket: str, t: int) -> Any:
    when = dt.datetime.fromtimestamp(t / 1_000_000, dt.UTC)
    return decode_event(
        json.dumps(
            {
                "id": f"c-{kind}-{ticket}-{t}",
                "time": when.isoformat().replace("+00:00", "Z"),
                "type": kind,
                "ticket": ticket,
                "merchant": "m-1",
            }
        )
    )


def test_closed_tickets_are_forgotten_once_past_the_grace_and_a_week() -> None:
    """T-1 closed on day 0, T-2 on day 3, T-3 closed on day 0 and again on day 6, T-4 still
    open: pruning on day 9 (past day 0's grace and week, not day 3's) forgets T-1 only."""
    ctx = Context()
    for kind, ticket, day in (
        ("ticket.opened", "T-4", 0),
        ("ticket.closed", "T-1", 0),
        ("ticket.closed", "T-3", 0),
    ):
        ctx.apply_context(ticket_event(kind, ticket, day * DAY), day * DAY)
    ctx.prune(DAY)  # builds the heap of closing times
    for ticket, day in (("T-2", 3), ("T-3", 6)):
        ctx.apply_context(ticket_event("ticket.closed", ticket, day * DAY), day * DAY)
    ctx.prune(9 * DAY)
    assert sorted(ctx.tickets) == ["T-2", "T-3", "T-4"]
    ctx.prune(14 * DAY)
    assert sorted(ctx.tickets) == ["T-3", "T-4"]


def test_a_state_saved_before_the_heap_of_closing_times_forgets_its_tickets_too() -> None:
    """A context saved without ``closing`` (an earlier version's): its closed tickets are put
    in the heap at the first pruning, and forgotten in their turn."""
    engine = Engine()
    ctx = engine.state.context
    ctx.apply_context(ticket_event("ticket.closed", "T-1", 0), 0)
    saved = msgspec.msgpack.decode(engine.dump_state())
    del saved["context"]["closing"]
    ctx = Engine.load_state(msgspec.msgpack.encode(saved)).context
    assert ctx.closing is None and list(ctx.tickets) == ["T-1"]
    ctx.prune(30 * DAY)
    assert ctx.tickets == {} and ctx.closing == []


def test_merchants_read_are_kept_in_order_of_the_last_read_and_forgotten_after_90_days() -> None:
    """m-1, m-2, then m-1 again: m-1 comes last; past :data:`KNOWN_DAYS` after m-2's read, a
    day's pruning forgets m-2 and keeps m-1 (read a day later)."""
    engine = Engine()
    for day, merchant in ((0, "m-1"), (0, "m-2"), (1, "m-1")):
        engine.process(view("ana", merchant, day, hour=10 + day))
    state = engine.state.context.actors["ana"]
    assert list(state.known) == ["m-2", "m-1"]
    engine.process(view("ana", "m-3", KNOWN_DAYS + 1))
    assert list(state.known) == ["m-1", "m-3"]


def test_a_state_saved_before_the_busiest_24_hours_reads_its_days_as_0() -> None:
    """Days summed before ``unjustified_bulk_24h`` existed hold no such value: the baselines
    read them as 0 (``unjustified_access`` then judges by the busiest day, never below it)."""
    engine = Engine()
    for day in range(10):
        engine.process(view("ana", "m-1", day))
    saved = msgspec.msgpack.decode(engine.dump_state())
    context = saved["context"]
    for days in (context["actors"]["ana"]["history"], context["team_days"]["care"]):
        for values in days:
            del values["unjustified_bulk_24h"]
    engine = Engine(state=Engine.load_state(msgspec.msgpack.encode(saved)))
    ctx = engine.state.context
    assert ctx.actors["ana"].baseline("unjustified_bulk_24h").top == 0
    assert ctx.team_baseline("care", "unjustified_bulk_24h").n == 9
    engine.process(view("ana", "m-1", 10))  # a new day summed with it
    assert ctx.actors["ana"].history[-1]["unjustified_bulk_24h"] == 0


def test_a_country_new_to_the_staff_is_read_from_the_actors_own() -> None:
    """A country is new to the staff when none of them had worked from it before ``since``
    (their first time there), once one of them has worked on a day ``known_days`` before; a
    saved state keeps the actors' countries, so it judges the same."""
    engine = Engine()
    for day in range(3):
        engine.process(view("ana", "m-1", day, country="FR"))
        engine.process(view("bob", "m-1", day, country="DE" if day else "FR"))
    engine = Engine(state=Engine.load_state(engine.dump_state()))
    ctx = engine.state.context
    t = (D0 + 3) * DAY + 10 * HOUR
    assert ctx.new_to_staff("VN", t - HOUR, 3, t)
    assert not ctx.new_to_staff("DE", t - HOUR, 3, t)  # Bob's since day 1
    assert ctx.new_to_staff("DE", (D0 + 1) * DAY + 10 * HOUR, 3, t)  # …not before
    assert not ctx.new_to_staff("VN", t - HOUR, 4, t)  # the staff known for 3 days only


def test_open_tickets_idle_for_30_days_are_forgotten() -> None:
    """Where the help desk sends no closings, or leaves tickets open, the state stays bounded:
    T-1, opened on day 1 and never heard of again, is forgotten on day 32; T-2, opened on day
    1 and cited on day 20, is kept until 30 days after that citation."""
    engine = Engine()
    ctx = engine.state.context
    for ticket in ("T-1", "T-2"):
        ctx.apply_context(ticket_event("ticket.opened", ticket, DAY), DAY)
    ctx.tickets["T-2"].used_us = 20 * DAY  # what a citation sets (Engine._access)
    ctx.prune(31 * DAY)
    assert sorted(ctx.tickets) == ["T-1", "T-2"]
    ctx.prune(32 * DAY)
    assert sorted(ctx.tickets) == ["T-2"]
    ctx.prune(51 * DAY)
    assert ctx.tickets == {}


def test_a_state_saved_before_the_tickets_use_was_kept_forgets_them_30_days_on() -> None:
    engine = Engine()
    engine.state.context.apply_context(ticket_event("ticket.opened", "T-1", DAY), DAY)
    saved = msgspec.msgpack.decode(engine.dump_state())
    del saved["context"]["tickets"]["T-1"]["used_us"]
    ctx = Engine.load_state(msgspec.msgpack.encode(saved)).context
    assert ctx.tickets["T-1"].used_us == 0
    ctx.prune(100 * DAY)  # its use is not known: it is idle from now on
    assert list(ctx.tickets) == ["T-1"]
    ctx.prune(131 * DAY)
    assert ctx.tickets == {}


def test_a_citation_keeps_an_open_ticket() -> None:
    engine = Engine()
    engine.process(ticket_event("ticket.opened", "T-1", 0))
    cited = access_event(
        time="1970-01-21T00:00:00Z", merchant="m-1", justification={"ticket": "T-1"}
    )
    engine.process(cited)
    assert engine.state.context.tickets["T-1"].used_us == 20 * DAY


def test_a_state_saved_before_assignees_and_openers_were_kept_reads_them_from_its_tickets() -> None:
    """``assignees_us`` / ``openers_us`` 0 (a state saved before them): a ticket kept that
    names one counts as named at the latest ticket event; none, as never named."""
    named = Context(tickets_seen_us=10 * DAY)
    named.tickets["T-1"] = Ticket(assignees={"ana"}, opened_by="ana")
    assert named.assignees_known(12 * DAY) and named.assignees_us == 10 * DAY
    assert named.opener(Ticket(assignees={"bob"}), 12 * DAY) is None  # openers are named
    assert named.openers_us == 10 * DAY
    unnamed = Context(tickets_seen_us=10 * DAY)
    unnamed.tickets["T-1"] = Ticket()
    assert not unnamed.assignees_known(10 * DAY) and unnamed.assignees_us == -1
    assert unnamed.opener(Ticket(assignees={"bob"}), 10 * DAY) == "bob"
    assert unnamed.openers_us == -1


def test_with_no_team_named_the_usual_is_a_typical_members() -> None:
    """Events that name no team: the staff are one pool, but its 95th percentile is the median
    member's own, not the pooled days', where a shop's two specialists listing five merchants
    every day made four a day everyone's usual (a pair's harvest of three or four a day went
    unseen). Its busiest day is the pool's, what a newcomer is judged against. A named team's
    usual stays its pooled days'. Could fail: the pooled 95th percentile, 5."""
    ctx = Context(now_us=(D0 + 30) * DAY)
    for name, lists, team in (
        *((f"agent-{i}", [0, 0, 0, 1], None) for i in range(8)),
        ("fraud-1", [5, 5, 5, 5], None),
        ("fraud-2", [5, 5, 5, 5], None),
        *((f"care-{i}", [0, 0, 0, 1], "care") for i in range(8)),
        ("care-fraud", [5, 5, 5, 5], "care"),
    ):
        state = ctx.actor(name)
        state.team = team
        state.history = [{"unjustified_bulk": float(n)} for n in lists]
        ctx.team_days.setdefault(team or "", []).extend(state.history)
    typical = ctx.team_baseline(None, "unjustified_bulk")
    assert (typical.p50, typical.p95, typical.top) == (0.0, 1.0, 5.0)
    assert typical.n == 40  # the pool's days
    assert ctx.team_baseline("care", "unjustified_bulk").p95 == 5.0  # a named team: pooled
