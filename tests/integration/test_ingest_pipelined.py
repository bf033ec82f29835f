"""Live detection beside ingest (``sentinelle.detect.pipelined``), on real SQLite stores.

One simulated file (three weeks of a small desk with every insider scenario: tens of
thousands of events, several groups of the engine's feeds, alerts of every severity) is
ingested the way ``sentinelle ingest`` does it (``sentinelle.cli.ingest.ingest_stream``):
with detection in a child process beside the storing, and with detection after the commit.
Both must store the same alerts; a child that is killed or fails, a detection run that
interleaves, a cursor behind the batch and a parent that dies after the commit must all end
with the same alerts, every event detected once; a rolled-back file stores nothing and raises
no alert.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest_tables import stored_tables
from sentinelle.cli.app import App
from sentinelle.cli.ingest import ingest_stream
from sentinelle.config import Settings
from sentinelle.detect import DetectConfig, DetectionRunner, Engine, pipelined
from sentinelle.detect.pipelined import Ahead, Beside
from sentinelle.detect.runner import alert_from_row
from sentinelle.errors import ValidationError
from sentinelle.ingest import Ingestor
from sentinelle.ingest import pipeline as ingest_pipeline
from sentinelle.ingest.chunks import Sums
from sentinelle.ledger.log import Ledger
from sentinelle.store import open_store

Alerts = list[tuple[str, str, int, tuple[str, ...]]]
Tables = dict[str, list[tuple[Any, ...]]]
USED = "live detection stored what it detected beside the ingest"


def _app(folder: Path) -> App:
    return App(Settings(data_dir=folder))


def _ingest(app: App, data: list[bytes], *, beside: bool = True, detect: bool = True) -> Any:
    stream = io.BufferedReader(io.BytesIO(b"".join(data)))
    return ingest_stream(
        app, stream, "events.jsonl", app.detect_config if detect else None, beside=beside
    )


def _alerts(app: App) -> Alerts:
    return sorted(
        (a.detector, a.actor, int(a.severity), tuple(a.merchants))
        for a in map(alert_from_row, app.store.alerts())
    )


def _cursor(app: App) -> int | None:
    with app.store.writer() as w:
        saved = w.detect_state()
    return saved[0] if saved else None


@pytest.fixture(scope="module")
def sequential(desk_lines: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Alerts:
    """The alerts of detection after the commit (as before the pipeline)."""
    app = _app(tmp_path_factory.mktemp("sequential"))
    try:
        _, after = _ingest(app, desk_lines, beside=False)
        assert after.alerts
        assert _cursor(app) == len(desk_lines)
        return _alerts(app)
    finally:
        app.close()


@pytest.fixture(scope="module")
def alone(desk_lines: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Tables:
    """What an ingest without the child stores (``--no-detect``): the leaf hashes, slices and
    tally computed chunk by chunk in the ingest."""
    app = _app(tmp_path_factory.mktemp("alone"))
    try:
        _ingest(app, desk_lines, detect=False)
        return stored_tables(app.settings.data_dir)
    finally:
        app.close()


def summed_here(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The leaves whose sums the ingest computed from the stored bodies, the child not
    giving them."""
    real = ingest_pipeline._sums_of
    calls: list[tuple[int, int]] = []

    def spy(w: Any, first: int, end: int) -> Any:
        calls.append((first, end))
        return real(w, first, end)

    monkeypatch.setattr(ingest_pipeline, "_sums_of", spy)
    return calls


@pytest.fixture(autouse=True)
def _patient(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loaded host can start the child slower than it stores a file of this size: wait for
    # it (else detection after the commit, the same alerts; tested apart below).
    monkeypatch.setattr(Beside, "patient", True)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = _app(tmp_path / "data")
    yield a
    a.close()


def after_written(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[Beside, list[Any]], None]
) -> None:
    """``then(beside, rows)`` after each chunk the ingest hands to :class:`Beside`."""
    written = Beside.written

    def wrapped(self: Beside, rows: list[Any]) -> None:
        written(self, rows)
        then(self, rows)

    monkeypatch.setattr(Beside, "written", wrapped)


def after_result(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[Beside, Ahead | None], None]
) -> None:
    """``then(beside, ahead)`` once the child's result is taken, after the commit and before
    detection stores it."""
    result = Beside.result

    def wrapped(self: Beside, now_us: int | None = None) -> Ahead | None:
        ahead = result(self, now_us)
        then(self, ahead)
        return ahead

    monkeypatch.setattr(Beside, "result", wrapped)


@pytest.fixture
def used(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    caplog.set_level(logging.DEBUG, logger="sentinelle.detect.runner")
    return lambda: any(USED in r.getMessage() for r in caplog.records)


def test_the_same_alerts_beside_the_ingest_as_after_it(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    alone: Tables,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = summed_here(monkeypatch)
    result, after = _ingest(app, desk_lines)
    assert used()  # the child's result was stored, not detected again after the commit
    # The child also gave the leaf hashes, slice leaves and tally: the tree, slices, rollup
    # and checkpoint are those an ingest without it stores.
    assert here == []
    assert stored_tables(app.settings.data_dir) == alone
    app.ledger.verify()
    assert result.stored == len(desk_lines)
    assert _alerts(app) == sequential
    assert sum(1 for a in sequential if a[2] >= 2) >= 5  # medium+ alerts among them
    assert {a.id for a in after.alerts} == {r.id for r in app.store.alerts()}
    assert _cursor(app) == len(desk_lines)
    assert not [f for f in app.settings.data_dir.iterdir() if f.name.startswith(".live-")]


def test_a_first_load_is_detected_beside_it_too(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A first load into an empty ledger is written with a rollback journal (SQLiteStore.
    # first_load): the child reads the saved state without switching the file back to WAL,
    # which would wait for the commit.
    monkeypatch.setattr(ingest_pipeline, "BULK_EVENTS", 1)
    monkeypatch.setattr(ingest_pipeline, "events_in", lambda _source: len(desk_lines))
    modes: list[str] = []
    ready: list[bool] = []

    def look(beside: Beside, rows: list[Any]) -> None:
        modes.append(app.store._conn.execute("PRAGMA journal_mode").fetchone()[0])
        link = beside._link
        if link is not None and not ready:  # the child gets ready before the commit
            deadline = time.monotonic() + 30
            while not beside.ready and beside._heard(link) and time.monotonic() < deadline:
                time.sleep(0.02)
            ready.append(beside.ready)

    after_written(monkeypatch, look)
    result, _ = _ingest(app, desk_lines)
    assert set(modes) == {"delete"}
    assert ready == [True]
    assert used()
    assert result.stored == len(desk_lines)
    assert _alerts(app) == sequential
    assert _cursor(app) == len(desk_lines)


def test_a_killed_child_leaves_the_batch_committed_and_detected(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    alone: Tables,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[int] = []

    def kill_on_third(self: Beside, rows: list[Any]) -> None:
        link = self._link
        if link is not None and not killed and rows[0][0] >= 3 * 4096:
            os.kill(link.proc.pid, signal.SIGKILL)
            link.proc.wait()
            killed.append(link.proc.pid)

    after_written(monkeypatch, kill_on_third)
    here = summed_here(monkeypatch)
    result, _ = _ingest(app, desk_lines)
    assert killed
    assert not used()
    assert result.stored == len(desk_lines)
    assert _alerts(app) == sequential  # detected after the commit instead
    assert _cursor(app) == len(desk_lines)
    assert here == [(0, len(desk_lines))]  # and the sums computed from the stored bodies
    assert stored_tables(app.settings.data_dir) == alone
    app.ledger.verify()


def test_the_child_sends_its_sums_as_it_goes(
    app: App,
    desk_lines: list[bytes],
    alone: Tables,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every SUMS_EVERY leaves (bounded memory in both processes), the tree growing a little
    # behind the events; the ingest sums nothing itself.
    monkeypatch.setattr(pipelined, "SUMS_EVERY", 4096)
    parts: list[tuple[bool, int, int]] = []
    real = Beside.sums

    def seen(self: Beside, last: bool) -> list[Sums]:
        given = real(self, last)
        parts.extend((last, s.first, s.end) for s in given)
        return given

    monkeypatch.setattr(Beside, "sums", seen)
    here = summed_here(monkeypatch)
    result, _ = _ingest(app, desk_lines)
    assert result.stored == len(desk_lines)
    assert here == []
    # In parts of 4096 leaves, in order (most taken during the batch, the rest at its end).
    assert [(first, end) for _, first, end in parts] == [
        (i, min(i + 4096, len(desk_lines))) for i in range(0, len(desk_lines), 4096)
    ]
    assert stored_tables(app.settings.data_dir) == alone
    app.ledger.verify()


@pytest.mark.parametrize("wrong", ["a part left out", "hashes cut short", "killed midway"])
def test_leaves_the_child_does_not_sum_in_order_are_summed_by_the_ingest(
    app: App,
    desk_lines: list[bytes],
    alone: Tables,
    monkeypatch: pytest.MonkeyPatch,
    wrong: str,
) -> None:
    monkeypatch.setattr(pipelined, "SUMS_EVERY", 4096)
    real = Beside.sums
    before = [0]  # where the ingest's own summing must start
    spoilt: list[bool] = []

    def spoiled(self: Beside, last: bool) -> list[Sums]:
        given = real(self, last)
        if spoilt or not given or (len(given) < 2 and not last):
            if not spoilt and given:
                before[0] = given[-1].end
            return given
        spoilt.append(True)  # once: the first part of these is good, the next is not
        keep, rest = (given[:1], given[1:]) if len(given) >= 2 else ([], given)
        before[0] = keep[-1].end if keep else rest[0].first
        if wrong == "a part left out":
            return keep + rest[1:]
        if wrong == "hashes cut short":
            del rest[0].hashes[-32:]
            return keep + rest
        assert self._link is not None  # killed: what it gave is good, nothing more comes
        os.kill(self._link.proc.pid, signal.SIGKILL)
        before[0] = given[-1].end
        return given

    monkeypatch.setattr(Beside, "sums", spoiled)
    here = summed_here(monkeypatch)
    result, _ = _ingest(app, desk_lines)
    assert result.stored == len(desk_lines)
    assert spoilt
    # What followed the parts taken is summed here from the stored bodies, once.
    assert here == ([] if before[0] == len(desk_lines) else [(before[0], len(desk_lines))])
    assert stored_tables(app.settings.data_dir) == alone
    app.ledger.verify()


def test_a_failing_child_leaves_the_batch_committed_and_detected(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken: list[str | None] = []

    def confuse(self: Beside, rows: list[Any]) -> None:
        link = self._link
        if link is not None and rows[0][0] >= 2 * 4096 and not broken:
            link.send_rows(0, 1, b"")  # leaves it already had: the child fails
            broken.append("sent")

    after_written(monkeypatch, confuse)
    after_result(monkeypatch, lambda self, _: broken.append(self.broken))
    result_, _ = _ingest(app, desk_lines)
    assert broken[-1] == "leaves out of order"  # the child's own report
    assert not used()
    assert result_.stored == len(desk_lines)
    assert _alerts(app) == sequential
    assert _cursor(app) == len(desk_lines)


def test_a_parent_that_dies_after_the_commit_leaves_detection_to_the_next_run(
    app: App, desk_lines: list[bytes], sequential: Alerts, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentinelle.cli.ingest as cli_ingest

    def die(*_: object) -> None:
        raise SystemExit(137)  # killed between the commit and detection's transaction

    monkeypatch.setattr(cli_ingest, "_after", die)
    with pytest.raises(SystemExit):
        _ingest(app, desk_lines)
    monkeypatch.undo()
    assert app.store.ledger_size() == len(desk_lines)  # committed
    assert _alerts(app) == [] and _cursor(app) is None
    DetectionRunner(app.store, app.detect_config).catch_up()  # the next run
    assert _alerts(app) == sequential
    assert _cursor(app) == len(desk_lines)


def test_a_rolled_back_file_stores_nothing_and_raises_no_alert(
    app: App, desk_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    children: list[Any] = []
    start = pipelined._Link.start

    def track(folder: Path) -> Any:
        link = start(folder)
        children.append(link.proc)
        return link

    monkeypatch.setattr(pipelined._Link, "start", staticmethod(track))
    bad = [*desk_lines, b'{"id": "broken", "time": "not a time"}\n']
    with pytest.raises(ValidationError):
        _ingest(app, bad)
    assert children  # the child had started on the chunks written before the refusal
    assert all(proc.poll() is not None for proc in children)  # and was stopped
    assert app.store.ledger_size() == 0
    assert _alerts(app) == []
    assert _cursor(app) is None


def test_a_cursor_behind_the_batch_falls_back_to_detection_after_the_commit(
    app: App, desk_lines: list[bytes], sequential: Alerts, used: Callable[[], bool]
) -> None:
    half = len(desk_lines) // 2
    _ingest(app, desk_lines[:half], detect=False)  # --no-detect: the cursor stays at 0
    _ingest(app, desk_lines[half:])
    assert not used()
    assert _alerts(app) == sequential  # both halves, each once
    assert _cursor(app) == len(desk_lines)


def test_detection_that_ran_meanwhile_wins_and_nothing_is_detected_twice(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got: list[Ahead | None] = []

    def another_process_first(_: Beside, ahead: Ahead | None) -> None:
        got.append(ahead)
        other = open_store(app.settings, create=False)  # another process's live detection
        try:
            DetectionRunner(other, app.detect_config).catch_up()
        finally:
            other.close()

    after_result(monkeypatch, another_process_first)
    _ingest(app, desk_lines)
    assert got and got[0] is not None  # the child had a result, dropped: the state moved on
    assert not used()
    assert _alerts(app) == sequential
    assert _cursor(app) == len(desk_lines)


def test_no_detect_starts_no_child_and_detects_nothing(
    app: App, desk_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(folder: Path) -> None:
        raise AssertionError("no detection process with --no-detect")

    monkeypatch.setattr(pipelined._Link, "start", staticmethod(refuse))
    result, after = _ingest(app, desk_lines, detect=False)
    assert result.stored == len(desk_lines)
    assert after is None and _alerts(app) == [] and _cursor(app) is None


def test_a_small_batch_is_detected_after_the_commit(
    app: App, desk_lines: list[bytes], used: Callable[[], bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(folder: Path) -> None:
        raise AssertionError("no detection process for a small batch")

    monkeypatch.setattr(pipelined._Link, "start", staticmethod(refuse))
    _ingest(app, desk_lines[: pipelined.START_AT - 1])
    assert not used()
    assert _cursor(app) == pipelined.START_AT - 1


def test_only_sqlite_with_two_cpus_gets_a_child(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    class Postgres:
        dialect = "postgresql"
        path = None

    config = DetectConfig()
    assert Beside.open(Postgres(), config) is None  # type: ignore[arg-type]
    monkeypatch.setattr(pipelined, "cpus", lambda: 1)
    assert Beside.open(app.store, config) is None
    monkeypatch.setattr(pipelined, "cpus", lambda: 2)
    assert Beside.open(app.store, config) is not None


def test_a_child_not_yet_detecting_at_the_commit_is_not_waited_for(
    app: App,
    desk_lines: list[bytes],
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(Beside, "patient", False)
    # The child's "ready" is not heard before the commit, as when it is still starting: how
    # fast it starts depends on the machine's load, so the test does not race it.
    monkeypatch.setattr(Beside, "_heard", lambda self, _: self.broken is None)
    why: list[str | None] = []
    after_result(monkeypatch, lambda self, _: why.append(self.broken))
    # Exactly one chunk: the child starts on it and the batch commits at once after.
    first = desk_lines[: pipelined.START_AT]
    _ingest(app, first)
    assert why == ["the detection process was not ready when the batch committed"]
    assert not used()
    reference = _app(tmp_path / "reference")
    try:
        _ingest(reference, first, beside=False)
        assert _alerts(app) == _alerts(reference)
    finally:
        reference.close()
    assert _cursor(app) == pipelined.START_AT


def test_events_another_writer_stored_after_the_batch_are_detected_too(
    app: App,
    desk_lines: list[bytes],
    sequential: Alerts,
    used: Callable[[], bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cut = 2 * pipelined.GROUP  # the same groups of leaves as one run over the whole file

    def another_writer_first(*_: object) -> None:
        other = open_store(app.settings, create=False)  # another process's batch, committed
        try:
            ledger = Ledger.open(
                other, data_dir=app.settings.data_dir, origin=app.settings.log_origin
            )
            Ingestor(other, ledger).ingest(enumerate(desk_lines[cut:], 1))
        finally:
            other.close()

    after_result(monkeypatch, another_writer_first)
    _ingest(app, desk_lines[:cut])
    assert used()  # the batch's result was stored, then detection went on over the rest
    assert _alerts(app) == sequential
    assert _cursor(app) == len(desk_lines)


def test_a_second_file_continues_from_the_saved_state(
    app: App,
    desk_lines: list[bytes],
    used: Callable[[], bool],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    half = len(desk_lines) // 2
    _ingest(app, desk_lines[:half])
    _ingest(app, desk_lines[half:])  # the child loads the state the first file's child left
    stored = [r.getMessage() for r in caplog.records if USED in r.getMessage()]
    assert stored == [
        f"{USED} (leaves 0 to {half - 1})",
        f"{USED} (leaves {half} to {len(desk_lines) - 1})",
    ]
    reference = _app(tmp_path / "reference")  # the same two files, detected after each commit
    try:
        _ingest(reference, desk_lines[:half], beside=False)
        _ingest(reference, desk_lines[half:], beside=False)
        assert _alerts(app) == _alerts(reference)
        with app.store.writer() as w, reference.store.writer() as v:
            mine, theirs = w.detect_state(), v.detect_state()
        assert mine is not None and theirs is not None
        assert mine[0] == theirs[0] == len(desk_lines)
        assert Engine.load_state(mine[1]) == Engine.load_state(theirs[1])
    finally:
        reference.close()


def test_re_sent_events_within_the_file_are_left_out_of_the_childs_sums_too(
    tmp_path: Path, desk_lines: list[bytes], used: Callable[[], bool]
) -> None:
    # Ids sent again further down the file (a retried batch appended): the ingest drops them
    # where it finds them and numbers the rest again; the child is handed only what was
    # inserted, so its sums are of those leaves, as an ingest without it computes them.
    data = [*desk_lines[:9000], *desk_lines[2000:2500], *desk_lines[9000:]]
    stored = {}
    for name, detect in (("beside", True), ("alone", False)):
        app = _app(tmp_path / name)
        try:
            result, _ = _ingest(app, data, detect=detect)
            assert (result.stored, result.duplicates) == (len(desk_lines), 500)
            stored[name] = stored_tables(app.settings.data_dir)
            app.ledger.verify()
        finally:
            app.close()
    assert used()
    assert stored["beside"] == stored["alone"]
