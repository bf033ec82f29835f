"""Live detection with events out of time order: the reorder buffer, late events, and failures
that must never fail an ingest.

The engine-level tests feed stored ``(leaf index, body)`` rows to :meth:`Engine.feed` with a
fixed wall clock; the pipeline tests ingest batches into a real SQLite store and run
:meth:`DetectionRunner.catch_up` after each, as ``sentinelle ingest`` and the API do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_engine import access, at, background, context, story, us

from sentinelle.config import Settings
from sentinelle.detect import DETECTORS, Alert, DetectConfig, DetectionRunner, Engine
from sentinelle.detect.context import JUSTIFIED, Context
from sentinelle.detect.engine import MAX_PENDING
from sentinelle.events import canonical, decode_event, time_us
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, open_store
from sentinelle.timeutil import MINUTE

LATER = us(at(400))  # a wall clock long after every event: everything is released


def _bodies(events: list[dict[str, Any]]) -> list[str]:
    return [canonical(decode_event(json.dumps(e))).decode() for e in events]


def _in_time_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: (time_us(decode_event(json.dumps(e))), e["id"]))


def _jitter(events: list[dict[str, Any]], minutes: float, seed: int) -> list[dict[str, Any]]:
    """``events`` in time order, then each moved back by up to ``minutes`` in arrival order."""
    rnd = random.Random(seed)
    ordered = _in_time_order(events)
    keyed = [
        (time_us(decode_event(json.dumps(e))) + rnd.uniform(0, minutes * MINUTE), i)
        for i, e in enumerate(ordered)
    ]
    return [ordered[i] for _, i in sorted(keyed)]


def _snapshot(alerts: list[Alert]) -> dict[str, tuple[str, str, int, int, list[str]]]:
    return {
        a.id: (a.actor, a.detector, int(a.severity), a.time_us, sorted(a.events)) for a in alerts
    }


def _newest(rows: list[tuple[int, str]]) -> int:
    return max(time_us(decode_event(body)) for _, body in rows)


def _live(
    events: list[dict[str, Any]], batch: int, config: DetectConfig | None = None
) -> tuple[Engine, dict[str, Alert]]:
    """Feed events in the given arrival order in batches, saving and loading the state between
    batches, with the wall clock at the newest event of each batch (live traffic); then a late
    clock flushes the buffer."""
    state = None
    changed: dict[str, Alert] = {}
    rows = list(enumerate(_bodies(events)))
    for i in range(0, len(rows), batch):
        engine = Engine(config, state)
        chunk = rows[i : i + batch]
        for alert in engine.feed(chunk, now_us=_newest(chunk)):
            changed[alert.id] = alert
        state = Engine.load_state(engine.dump_state())
    engine = Engine(config, state)
    for alert in engine.feed([], now_us=LATER):
        changed[alert.id] = alert
    assert engine.state.pending == []
    return engine, changed


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return story() + background()


@pytest.fixture(scope="module")
def in_order(events: list[dict[str, Any]]) -> dict[str, tuple[str, str, int, int, list[str]]]:
    found = Engine().run(decode_event(json.dumps(e)) for e in _in_time_order(events))
    assert len(found) >= 8  # the story raises alerts from every detector
    return _snapshot(found)


# -- the reorder buffer ------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_events_late_within_the_window_give_the_alerts_of_time_order(
    events: list[dict[str, Any]],
    in_order: dict[str, tuple[str, str, int, int, list[str]]],
    batch: int,
) -> None:
    engine, alerts = _live(_jitter(events, minutes=4, seed=batch), batch)
    assert _snapshot(list(alerts.values())) == in_order
    assert (engine.late_skipped, engine.late_floored) == (0, 0)


def test_the_window_is_configurable(
    events: list[dict[str, Any]], in_order: dict[str, tuple[str, str, int, int, list[str]]]
) -> None:
    shuffled = _jitter(events, minutes=90, seed=1)
    _, alerts = _live(shuffled, 50, DetectConfig(reorder_minutes=120))
    assert _snapshot(list(alerts.values())) == in_order


def test_held_events_wait_for_the_watermark() -> None:
    rows = list(enumerate(_bodies([access("ana", "m1", at(0, 9, m)) for m in (0, 3, 6, 9)])))
    engine = Engine(DetectConfig(reorder_minutes=5))
    engine.feed(rows, now_us=us(at(0, 9, 9)))
    # The newest event is at 9:09: the watermark is 9:04, so 9:06 and 9:09 wait.
    assert [t for t, _, _ in engine.state.pending] == [us(at(0, 9, 6)), us(at(0, 9, 9))]
    assert engine.state.context.now_us == us(at(0, 9, 3))
    # The wall clock releases them too, when it has passed them by the window.
    engine.feed([], now_us=us(at(0, 9, 14)))
    assert engine.state.pending == []
    assert engine.state.context.now_us == us(at(0, 9, 9))


def test_a_far_future_event_does_not_move_the_watermark() -> None:
    wall = us(at(0, 12))
    bodies = _bodies([access("ana", "m1", at(3000)), access("ana", "m2", at(0, 11))])
    engine = Engine()
    engine.feed(list(enumerate(bodies)), now_us=wall)
    assert engine.state.newest_us == us(at(0, 11))
    assert [t for t, _, _ in engine.state.pending] == [us(at(3000))]
    assert engine.state.context.now_us == us(at(0, 11))  # processed, not made late


def test_the_buffer_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentinelle.detect.engine as engine_module

    monkeypatch.setattr(engine_module, "MAX_PENDING", 3)
    rows = list(enumerate(_bodies([access("ana", "m1", at(0, 9, m)) for m in range(6)])))
    engine = Engine(DetectConfig(reorder_minutes=60))
    engine.feed(rows, now_us=_newest(rows))
    assert len(engine.state.pending) == 3
    assert engine.state.context.now_us == us(at(0, 9, 2))
    assert MAX_PENDING == 100_000


# -- late events -------------------------------------------------------------------------------


def test_late_events_never_break_the_windows() -> None:
    # The order that crashed live detection with IndexError in Context.record_access.
    rnd = random.Random(21)
    events = [
        access("ana", f"m{rnd.randrange(5)}", at(0) + dt.timedelta(hours=rnd.uniform(0, 480)))
        for _ in range(60)
    ]
    engine = Engine(DetectConfig(reorder_minutes=0))
    for row in enumerate(_bodies(events)):
        engine.feed([row], now_us=_newest([row]))
    state = engine.state.context.actors["ana"]
    times = [w[0] for w in state.window]
    assert times == sorted(times)
    assert 0 <= state.head24 <= len(state.window)
    assert engine.late_skipped + engine.late_floored > 0


def test_a_late_access_within_late_hours_counts_at_the_current_time() -> None:
    engine = Engine(DetectConfig(reorder_minutes=0))
    rows = _bodies([access("ana", "m1", at(1, 9)), access("ana", "m2", at(0, 20))])
    engine.feed([(0, rows[0])], now_us=LATER)
    engine.feed([(1, rows[1])], now_us=LATER)
    state = engine.state.context.actors["ana"]
    assert [(t, m) for t, m, *_ in state.window] == [(us(at(1, 9)), "m1"), (us(at(1, 9)), "m2")]
    assert (engine.late_floored, engine.late_skipped) == (1, 0)


def test_a_later_access_is_left_to_history_and_counted() -> None:
    engine = Engine(DetectConfig(reorder_minutes=0, late_hours=24))
    rows = _bodies([access("ana", "m1", at(3, 9)), access("ana", "m2", at(1, 9))])
    engine.feed([(0, rows[0])], now_us=LATER)
    engine.feed([(1, rows[1])], now_us=LATER)
    state = engine.state.context.actors["ana"]
    assert [m for _, m, *_ in state.window] == ["m1"]
    assert (engine.late_skipped, engine.late_oldest_us) == (1, us(at(1, 9)))


def test_a_late_ticket_still_justifies() -> None:
    engine = Engine(DetectConfig(reorder_minutes=0))
    later = _bodies([access("ana", "m9", at(2, 10))])
    ticket = {
        "id": "t-open",
        "time": at(1, 9).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "ticket.assigned",
        "ticket": "T1",
        "merchant": "m9",
        "actor": "ana",
    }
    engine.feed([(0, later[0])], now_us=LATER)
    engine.feed([(1, _bodies([ticket])[0])], now_us=LATER)
    assert engine.state.context.tickets["T1"].assignees == {"ana"}


def test_reorder_settings_are_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "detect.toml"
    path.write_text("[detect]\nreorder_minutes = 30\nlate_hours = 72\n", encoding="utf-8")
    config = DetectConfig.from_toml(path)
    assert (config.reorder_minutes, config.late_hours) == (30, 72)
    assert (DetectConfig().reorder_minutes, DetectConfig().late_hours) == (5, 24)


def test_example_file_shows_the_reorder_defaults() -> None:
    example = Path(__file__).resolve().parents[3] / "conf" / "detect.example.toml"
    config = DetectConfig.from_toml(example)
    assert (config.reorder_minutes, config.late_hours) == (5, 24)
    text = example.read_text(encoding="utf-8")
    assert "reorder_minutes" in text and "late_hours" in text


# -- through the ingest pipeline on SQLite -----------------------------------------------------


class _Pipeline:
    """A SQLite store, ingest and live detection after each batch, with a settable clock."""

    def __init__(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data")
        self.store: Store = open_store(settings)
        self.ledger = Ledger.open(self.store, data_dir=settings.data_dir, origin="test/log")
        self.now = LATER
        self.alerts: dict[str, Alert] = {}
        self.notes: list[str] = []

    def runner(self, config: DetectConfig | None = None) -> DetectionRunner:
        return DetectionRunner(self.store, config, clock=lambda: self.now)

    def post(self, events: list[dict[str, Any]], config: DetectConfig | None = None) -> int:
        """Ingest one batch, then catch up; the events stored."""
        items = [(n, json.dumps(e).encode()) for n, e in enumerate(events, 1)]
        stored = Ingestor(self.store, self.ledger).ingest(items).stored
        runner = self.runner(config)
        for alert in runner.catch_up():
            self.alerts[alert.id] = alert
        self.notes += runner.notes
        return stored

    def cursor(self) -> int:
        with self.store.writer() as w:
            saved = w.detect_state()
        return saved[0] if saved else 0


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[_Pipeline]:
    p = _Pipeline(tmp_path)
    yield p
    p.store.close()


def test_out_of_order_batches_keep_live_detection_running(pipeline: _Pipeline) -> None:
    # Eight senders posting slices of the same period in turn, as when 8 clients post in
    # parallel: each batch goes back in time. This crashed every later catch-up before.
    events = _in_time_order(story() + background())
    senders = [events[i::8] for i in range(8)]
    for round_ in range(0, max(len(s) for s in senders), 60):
        for sender in senders:
            pipeline.post(sender[round_ : round_ + 60])
    assert pipeline.cursor() == pipeline.store.ledger_size() == len(events)
    assert not any("failed" in note for note in pipeline.notes)
    # Live detection is alive: a clear burst after it all is seen and alerted on.
    burst = [access("zed", f"new-{i}", at(20, 10, i)) for i in range(12)]
    pipeline.post([access("zed", f"k{d}", at(d, 9)) for d in range(7, 19)])
    before = set(pipeline.alerts)
    pipeline.post(burst)
    assert pipeline.cursor() == pipeline.store.ledger_size()
    assert {a.actor for i, a in pipeline.alerts.items() if i not in before} >= {"zed"}


def test_parallel_live_senders_are_put_back_in_time_order(pipeline: _Pipeline) -> None:
    # Live traffic (wall clock right after the newest event): senders a few minutes behind
    # each other are reordered by the buffer, so live alerts equal those of time order.
    events = _in_time_order(story() + background())
    expected = _snapshot(Engine().run(decode_event(json.dumps(e)) for e in events))
    arrival = _jitter(events, minutes=4, seed=8)
    for i in range(0, len(arrival), 40):
        batch = arrival[i : i + 40]
        pipeline.now = max(time_us(decode_event(json.dumps(e))) for e in batch)
        pipeline.post(batch)
    pipeline.now = LATER
    pipeline.post([])
    assert _snapshot(list(pipeline.alerts.values())) == expected
    assert pipeline.notes == []


def test_a_raising_detector_does_not_fail_ingest(
    pipeline: _Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> list[Any]:
        raise KeyError("agent-secret-42")

    monkeypatch.setattr(DETECTORS["unjustified_access"], "observe", broken)
    monkeypatch.setattr(DETECTORS["collusion"], "observe_context", broken)
    with caplog.at_level(logging.ERROR):
        stored = pipeline.post(story())
    assert stored == len(story())
    assert pipeline.cursor() == len(story())
    # The other detectors still ran and raised their alerts.
    assert {a.detector for a in pipeline.alerts.values()} >= {"breadth_volume", "repeated_looks"}
    assert any("unjustified_access" in note for note in pipeline.notes)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "detector unjustified_access failed (KeyError at " in logged
    assert "agent-secret-42" not in logged  # the exception's text may hold personal data


def test_an_engine_failure_is_logged_skipped_and_live_detection_recovers(
    pipeline: _Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = Context.record_access

    def broken(self: Context, *args: Any) -> None:
        raise IndexError("m-secret")

    pipeline.post([access("ana", "m1", at(0, 9))])
    monkeypatch.setattr(Context, "record_access", broken)
    with caplog.at_level(logging.ERROR):
        assert pipeline.post([access("ana", "m2", at(0, 10)), access("ana", "m3", at(0, 11))]) == 2
    assert pipeline.store.ledger_size() == 3  # stored and committed
    assert pipeline.cursor() == 3  # the failed run's events are skipped, not retried forever
    assert any("skipped leaves 1 to 2" in note for note in pipeline.notes)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "live detection failed (IndexError at " in logged
    assert "m-secret" not in logged
    # Fixed (or a one-off): the next batch is processed with the last good state.
    monkeypatch.setattr(Context, "record_access", original)
    pipeline.post([access("ana", "m4", at(0, 12))])
    assert pipeline.cursor() == 4
    with pipeline.store.writer() as w:
        saved = w.detect_state()
    assert saved is not None
    state = Engine.load_state(saved[1])
    assert [m for _, m, *_ in state.context.actors["ana"].window] == ["m1", "m4"]
    assert state.failures == 0


def test_repeated_failures_start_the_state_afresh(
    pipeline: _Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.post([access("ana", "m0", at(0, 8))])

    def broken(self: Context, *args: Any) -> None:
        raise ValueError

    monkeypatch.setattr(Context, "record_access", broken)
    for i in range(3):
        pipeline.post([access("ana", f"m{i + 1}", at(0, 9 + i))])
    assert ["starts afresh" in n for n in pipeline.notes] == [False, False, True]
    with pipeline.store.writer() as w:
        saved = w.detect_state()
    assert saved is not None and saved[0] == 4
    state = Engine.load_state(saved[1])
    assert state.context.actors == {} and state.failures == 0


def test_an_unreadable_saved_state_starts_afresh(pipeline: _Pipeline) -> None:
    pipeline.post([access("ana", "m0", at(0, 8))])
    with pipeline.store.writer() as w:
        w.save_detect_state(1, b"\xc1 not msgpack")
    pipeline.post([access("ana", "m1", at(0, 9))])
    assert pipeline.cursor() == 2
    assert pipeline.notes == []


def test_late_events_beyond_late_hours_are_reported(pipeline: _Pipeline) -> None:
    pipeline.post([access("ana", "m0", at(10, 8))])
    pipeline.post([access("ana", "m1", at(2, 9)), access("ana", "m2", at(9, 9))])
    assert pipeline.notes == [
        "1 event arrived more than 24 h after later ones had been processed; live detection "
        "left them out: run sentinelle detect --since 2026-11-04 to cover them"
    ]


def test_tickets_that_cannot_be_checked_are_reported(pipeline: _Pipeline) -> None:
    # No ticket event at all: the help desk is not connected, and the run says so.
    pipeline.post([access("ana", "m1", at(0, 9), ticket="T-1"), access("ana", "m2", at(0, 10))])
    assert len(pipeline.notes) == 1
    assert pipeline.notes[0].startswith(
        "1 access cited tickets that no ticket event describes, while no ticket event came in "
        "the last 7 days: the help desk is not connected, or its feed stopped."
    )
    # Connected: its tickets are checked, and an unknown one is no longer taken as stated.
    pipeline.notes.clear()
    opened = context("ticket.opened", at(0, 11), ticket="T-2", merchant="m3", actor="ana")
    pipeline.post([opened, access("ana", "m3", at(0, 12), ticket="T-2")])
    pipeline.post([access("ana", "m4", at(0, 13), ticket="T-404")])
    assert pipeline.notes == []
    # Connected, but the accesses cite other ids than its tickets': a mismatch, said so.
    pipeline.post([access("ana", "m3", at(1, 9, i), ticket=f"ZD-{i}") for i in range(20)])
    assert pipeline.notes == [
        "20 of 20 accesses citing a ticket cited one that no ticket event names, though the "
        "help desk's events come: each counts as citing no ticket. Do the access events cite "
        "tickets by the help desk's own ids? A connector's ticket_prefix turns its 123 into "
        "ZD-123; connect every help desk whose tickets staff cite (docs/connectors.md)"
    ]


def test_a_look_up_delivered_after_its_ticket_is_justified() -> None:
    # Ana finds a caller in m9's customer list at 10:00 and opens their ticket at 10:01; her
    # laptop's events reach the collector hours after the help desk's. The list view, late,
    # is the ticket's look-up, as it is when it comes first (Context.look_up).
    look = access("ana", "m9", at(1, 10), resource={"type": "customer_list", "count": 50})
    opened = context("ticket.opened", at(1, 10, 1), ticket="T1", merchant="m9", actor="ana")
    elsewhere = access("ana", "m8", at(1, 9, 50), resource={"type": "customer_list", "count": 50})
    stray = access("ana", "m9", at(1, 9, 20), resource={"type": "customer_list", "count": 50})
    engine = Engine(DetectConfig(reorder_minutes=0))
    rows = _bodies([access("ana", "m1", at(1, 12)), opened, look, elsewhere, stray])
    for i, row in enumerate(rows):
        engine.feed([(i, row)], now_us=LATER)
    state = engine.state.context.actors["ana"]
    assert engine.late_floored == 3
    # m9 at 10:00 justified; m8 (no ticket of its own) and m9 at 9:20 (41 minutes before the
    # ticket: more than LOOKUP_GRACE) are not.
    assert [(m, bool(flags & JUSTIFIED)) for _, m, flags, *_ in state.window] == [
        ("m1", False),
        ("m9", True),
        ("m8", False),
        ("m9", False),
    ]


def test_a_late_look_up_finds_its_ticket_among_others_come_out_of_order() -> None:
    # Two tickets of m9 handed to ana, their events out of order (the 11:00 one first); her
    # look-up at 10:00, later still, was the 10:01 ticket's.
    later = context("ticket.assigned", at(1, 11), ticket="T2", merchant="m9", actor="ana")
    first = context("ticket.assigned", at(1, 10, 1), ticket="T1", merchant="m9", actor="ana")
    look = access("ana", "m9", at(1, 10), resource={"type": "customer_list", "count": 50})
    engine = Engine(DetectConfig(reorder_minutes=0))
    rows = _bodies([access("ana", "m1", at(1, 12)), later, first, look])
    for i, row in enumerate(rows):
        engine.feed([(i, row)], now_us=LATER)
    state = engine.state.context.actors["ana"]
    assert [(m, bool(flags & JUSTIFIED)) for _, m, flags, *_ in state.window] == [
        ("m1", False),
        ("m9", True),
    ]


def test_the_tickets_handed_to_an_actor_are_kept_two_days() -> None:
    # A ticket of m9 handed to ana every morning for 30 days: the hand-overs the late
    # look-ups read are the last two days', not the month's (the saved state stays bounded).
    engine = Engine(DetectConfig(reorder_minutes=0))
    events = [
        context("ticket.assigned", at(d, 9), ticket=f"T{d}", merchant="m9", actor="ana")
        for d in range(30)
    ]
    for i, row in enumerate(_bodies(events)):
        engine.feed([(i, row)], now_us=LATER)
    assert engine.state.context.handed["ana\x00m9"] == [us(at(d, 9)) for d in (27, 28, 29)]
