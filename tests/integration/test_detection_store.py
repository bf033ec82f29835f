"""Detection against a real store, on SQLite and PostgreSQL (``settings`` fixture).

Live detection (``DetectionRunner.catch_up``, a cursor plus saved engine state) must see every
ingested event exactly once and end up with the same stored alerts, ids included, as a replay
of the whole history; replays are idempotent; stored alerts filter by actor, time and severity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sentinelle.config import Settings
from sentinelle.detect import Alert, DetectConfig, DetectionRunner, Engine, Severity
from sentinelle.detect.runner import _WARM, alert_from_row, alert_row
from sentinelle.events import Event, decode_event, time_us
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from sentinelle.timeutil import parse_time

SPLIT = "2026-11-07"  # the first batch holds the events before this day


def _at(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-11-{2 + day:02d}T{hour:02d}:{minute:02d}:00Z"


def story() -> list[dict[str, Any]]:
    """Ten days of simulated traffic with incidents, across both batches."""
    events: list[dict[str, Any]] = [
        {**e, "id": f"sim-{e['id']}"}
        for e in generate_events(
            events=1200, seed=5, start=dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
        )
    ]

    def view(actor: str, merchant: str, time: str, **kw: Any) -> None:
        events.append(
            {
                "id": f"st-{len(events)}",
                "time": time,
                "actor": {"id": actor, "kind": "staff", "role": "support", "team": "care"},
                "action": "view",
                "merchant": merchant,
                "resource": {"type": "customer", "count": 1},
                "subjects": [f"c-{merchant}-1"],
                "data": ["contact"],
                "channel": "support_console",
                "source": {"device": "laptop-1", "country": "FR"},
                "outcome": "allowed",
                **kw,
            }
        )

    def context(kind: str, time: str, **kw: Any) -> None:
        events.append({"id": f"st-{len(events)}", "time": time, "type": kind, **kw})

    # ana: a ticketed look a day for eight days, then five new merchants without tickets (MEDIUM)
    for day in range(8):
        context("ticket.opened", _at(day, 9), ticket=f"TA{day}", merchant=f"k{day}")
        context("ticket.assigned", _at(day, 9), ticket=f"TA{day}", merchant=f"k{day}", actor="ana")
        view("ana", f"k{day}", _at(day, 9, 5), justification={"ticket": f"TA{day}"})
    for i in range(5):
        view("ana", f"u{i}", _at(8, 20, i))
    # bob then cy: the same six merchants, new to both, without tickets, one batch each (MEDIUM)
    for i in range(6):
        view("bob", f"x{i}", _at(1 + i // 2, 11, i))
        view("cy", f"x{i}", _at(5 + i // 2, 12, i))
    # dee: notice, then exports on both sides of the split, 12 hours apart (HIGH, one alert)
    export = {"action": "export", "resource": {"type": "customer_list", "count": 300}}
    context("staff.notice_given", _at(3, 9), actor="dee")
    view("dee", "m1", _at(4, 22), **export)
    view("dee", "m2", _at(5, 10), **export)
    # eve: notice, then an export with her own ticket (LOW)
    context("staff.notice_given", _at(1, 9), actor="eve")
    context("ticket.opened", _at(6, 11), ticket="TE", merchant="m3", by="merchant-m3")
    context("ticket.assigned", _at(6, 11), ticket="TE", merchant="m3", actor="eve")
    view("eve", "m3", _at(6, 12), justification={"ticket": "TE"}, **export)
    return sorted(events, key=lambda e: e["time"])


def _decoded(events: list[dict[str, Any]]) -> list[Event]:
    return sorted((decode_event(json.dumps(e)) for e in events), key=time_us)


def ingest(store: Store, ledger: Ledger, events: list[dict[str, Any]]) -> None:
    Ingestor(store, ledger).ingest((i, json.dumps(e)) for i, e in enumerate(events, 1))


def stored(store: Store) -> list[tuple[Any, ...]]:
    """Stored alerts, normalised through ``Alert`` so both backends compare alike."""
    return [alert_row(alert_from_row(r)) for r in store.alerts()]


def saved_state(store: Store) -> tuple[int, bytes] | None:
    with store.writer() as w:
        return w.detect_state()


def test_catch_up_sees_each_event_once_and_matches_replay(
    opened: tuple[Store, Ledger],
) -> None:
    store, ledger = opened
    events = story()
    first = [e for e in events if e["time"] < SPLIT]
    second = [e for e in events if e["time"] >= SPLIT]
    runner = DetectionRunner(store)
    assert saved_state(store) is None

    ingest(store, ledger, first)
    live = {a.id: a for a in runner.catch_up()}
    state = saved_state(store)
    assert state is not None
    assert state[0] == len(first)  # the cursor: the next leaf to look at
    assert live
    assert {r[0] for r in stored(store)} == set(live)

    # Nothing new: nothing processed, nothing changed.
    before = stored(store)
    assert runner.catch_up() == []
    assert stored(store) == before
    again = saved_state(store)
    assert again is not None
    assert again[0] == state[0]
    assert Engine.load_state(again[1]) == Engine.load_state(state[1])

    ingest(store, ledger, second)
    changed = runner.catch_up()
    live |= {a.id: a for a in changed}
    cursor, blob = saved_state(store) or (0, b"")
    assert cursor == len(events)
    # Some alerts opened in the first batch were raised further by the second.
    assert {a.id for a in changed} & {r[0] for r in before}

    # The saved state is what one engine over all the events would hold: no event twice.
    whole = Engine()
    whole.run(_decoded(events))
    assert Engine.load_state(blob) == Engine.load_state(whole.dump_state())

    after_live = stored(store)
    assert [r[0] for r in after_live] == sorted(live, key=lambda i: (live[i].time_us, i))
    assert {r[2] for r in after_live} >= {"unjustified_access", "export_after_notice"}

    replayed = runner.replay()
    assert sorted(alert_row(a) for a in replayed) == sorted(after_live)
    assert stored(store) == after_live  # same ids: replaced, not duplicated


def test_a_process_reuses_its_saved_state_only_while_it_is_the_stored_one(
    settings: Settings, opened: tuple[Store, Ledger]
) -> None:
    # Live detection in small batches, its engine state kept warm by the store that saved it,
    # and another process (a second store on the same database) running detection in between:
    # the warm state is used only while the stored bytes are the ones it saved, so the alerts
    # and the saved state are those of runs that decode the stored state every time.
    store, ledger = opened
    events = story()
    with open_store(settings, create=False) as other:
        for n, start in enumerate(range(0, len(events), 97)):
            ingest(store, ledger, events[start : start + 97])
            runner = DetectionRunner(other if n % 5 == 4 else store)
            runner.catch_up()
            assert runner.notes == []
        assert store in _WARM  # the reuse did happen
    warm_alerts, warm_state = stored(store), saved_state(store)

    # The same batches in a fresh embedded store (the engine's bytes do not depend on it).
    cold = Settings(_env_file=None, data_dir=settings.data_dir / "cold", database_url=None)
    with open_store(cold) as again:
        ledger_again = Ledger.open(again, data_dir=cold.data_dir, origin=cold.log_origin)
        for start in range(0, len(events), 97):
            ingest(again, ledger_again, events[start : start + 97])
            _WARM.clear()  # decoded from the store every time
            DetectionRunner(again).catch_up()
        assert stored(again) == warm_alerts
        cold_state = saved_state(again)
    assert warm_state is not None and cold_state is not None
    assert cold_state[0] == warm_state[0]
    # Equal as states (the bytes list sets in the order they iterate, which differs).
    assert Engine.load_state(cold_state[1]) == Engine.load_state(warm_state[1])


def test_replay_twice_stores_the_same_alerts(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    ingest(store, ledger, story())
    runner = DetectionRunner(store)

    first = runner.replay()
    rows = stored(store)
    assert len(rows) == len(first) > 0
    assert runner.replay() == first
    assert stored(store) == rows
    assert len({r[0] for r in rows}) == len(rows)

    # A replay of a later range adds only what it finds there, and is idempotent too.
    since = parse_time(_at(5, 0))
    later = runner.replay(since)
    assert later and all(a.time_us >= since for a in later)
    with_later = stored(store)
    assert runner.replay(since) == later
    assert stored(store) == with_later


def test_config_reaches_the_runner(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    ingest(store, ledger, story())
    assert "collusion" in {a.detector for a in Engine().run(_decoded(story()))}
    off = DetectConfig(detectors={"collusion": {"enabled": False}})
    alerts = DetectionRunner(store, off).catch_up()
    assert alerts
    assert "collusion" not in {a.detector for a in alerts}


def test_alerts_filter_by_actor_since_and_severity(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    ingest(store, ledger, story())
    runner = DetectionRunner(store)
    runner.replay()
    every = runner.alerts()
    assert [(a.time_us, a.id) for a in every] == sorted((a.time_us, a.id) for a in every)
    assert [dataclasses.asdict(a) for a in every] == [
        dataclasses.asdict(alert_from_row(r)) for r in store.alerts()
    ]

    def ids(alerts: list[Alert]) -> list[str]:
        return [a.id for a in alerts]

    ana = runner.alerts(actor="ana")
    assert ids(ana) == [a.id for a in every if a.actor == "ana"]
    assert 0 < len(ana) < len(every)
    assert runner.alerts(actor="nobody") == []

    since = sorted(a.time_us for a in every)[len(every) // 2]
    later = runner.alerts(since_us=since)
    assert ids(later) == [a.id for a in every if a.time_us >= since]
    assert 0 < len(later) < len(every)

    high = runner.alerts(min_severity=int(Severity.HIGH))
    assert ids(high) == [a.id for a in every if a.severity >= Severity.HIGH]
    assert 0 < len(high) < len(every)
    assert runner.alerts(min_severity=int(Severity.LOW)) == every

    both = runner.alerts(actor="dee", since_us=since, min_severity=int(Severity.HIGH))
    assert ids(both) == [
        a.id
        for a in every
        if a.actor == "dee" and a.time_us >= since and a.severity >= Severity.HIGH
    ]
