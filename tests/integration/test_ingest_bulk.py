"""A first load: a batch far larger than the events stored builds the events' secondary
indexes once, at its commit (``Writer.bulk_load``), instead of row by row.

What it stores must be what a row-by-row load stores; the schema after it must be the schema
before it; a batch refused or failing after the indexes were dropped must leave them as they
were; readers on another connection must keep them meanwhile; a batch into a store that
already holds more must not do it.

A first load into an empty ledger is also written with a rollback journal on SQLite
(``SQLiteStore.first_load``): the file must be in WAL mode again after it, whether it
committed, was refused or was killed; it must not switch while another connection has the
file open; a reader opened for it must read meanwhile, where an ordinary open waits.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest_tables import TABLES, stored_tables
from sentinelle.cli.app import App
from sentinelle.cli.ingest import ingest_stream
from sentinelle.config import Settings
from sentinelle.errors import StoreBusyError, StoreError, ValidationError
from sentinelle.ingest import Ingestor, files, open_input, pipeline
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.slices import SliceGrower
from sentinelle.store import Store, open_store
from sentinelle.store import sqlite as sqlite_store
from sentinelle.store.sqlite import BULK_INDEXES, SQLiteStore


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[dict[str, App]]:
    made = {name: App(Settings(data_dir=tmp_path / name)) for name in ("bulk", "rows")}
    for app in made.values():
        app.ledger  # noqa: B018 - the store and its schema, before it is read
    yield made
    for app in made.values():
        app.close()


def _schema(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "sentinelle.db") as db:
        return db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()


def _index_names(data_dir: Path) -> set[str]:
    return {name for kind, name, _, _ in _schema(data_dir) if kind == "index"}


def _file(path: Path, lines: list[bytes]) -> str:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return str(path)


def _ingest(app: App, source: str, monkeypatch: pytest.MonkeyPatch, *, bulk: bool) -> Any:
    """``source`` ingested as ``sentinelle ingest --no-detect`` does (one process), as a bulk
    load (a size threshold of one event, an event counted per byte) or row by row."""
    monkeypatch.setattr(pipeline, "BULK_EVENTS", 1 if bulk else 1 << 62)
    monkeypatch.setattr(files, "EVENT_BYTES", 1)
    with open_input(source) as stream:
        result, _ = ingest_stream(app, stream, source, None)
    return result


def _dropped(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record every answer of the SQLite writer's ``bulk_load``."""
    real = sqlite_store._SQLiteWriter.bulk_load
    answers: list[bool] = []

    def spy(self: Any) -> bool:
        answers.append(real(self))
        return answers[-1]

    monkeypatch.setattr(sqlite_store._SQLiteWriter, "bulk_load", spy)
    return answers


def test_a_bulk_load_stores_what_a_row_by_row_load_does(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = _dropped(monkeypatch)
    before = _schema(apps["bulk"].settings.data_dir)
    assert set(BULK_INDEXES) <= _index_names(apps["bulk"].settings.data_dir)
    half = len(desk_lines) // 2
    first = _file(tmp_path / "first.jsonl", desk_lines[:half])
    rest = _file(tmp_path / "rest.jsonl", desk_lines)  # the first half again: re-sent ids
    results = {
        name: [_ingest(app, f, monkeypatch, bulk=name == "bulk").stored for f in (first, rest)]
        for name, app in apps.items()
    }
    # Both are bulk loads: the first into an empty store, the second (re-sent ids dropped as
    # they come) of twice the events stored.
    assert answers == [True, True]
    assert results["bulk"] == results["rows"] == [half, len(desk_lines) - half]
    bulk, rows = (
        stored_tables(apps["bulk"].settings.data_dir),
        stored_tables(apps["rows"].settings.data_dir),
    )
    for table in [*TABLES, "checkpoints"]:
        assert bulk[table] == rows[table], table
    assert _schema(apps["bulk"].settings.data_dir) == before
    # The indexes rebuilt are the ones queries use, and they answer as the others do.
    with sqlite3.connect(apps["bulk"].settings.data_dir / "sentinelle.db") as db:
        actor = db.execute("SELECT actor FROM events WHERE actor IS NOT NULL LIMIT 1").fetchone()
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE actor = ? ORDER BY time_us", actor
        ).fetchall()
        assert "events_actor_time" in str(plan)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    apps["bulk"].ledger.verify()  # raises if anything stored disagrees with the log


def test_a_refused_bulk_load_leaves_the_indexes_and_stores_nothing(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = _dropped(monkeypatch)
    app = apps["bulk"]
    before = _schema(app.settings.data_dir)
    bad = _file(tmp_path / "bad.jsonl", [*desk_lines[:3000], b'{"not": "an event"}'])
    with pytest.raises(ValidationError):
        _ingest(app, bad, monkeypatch, bulk=True)
    assert answers == [True]  # the indexes were dropped, in the batch rolled back
    assert app.store.ledger_size() == 0
    assert _schema(app.settings.data_dir) == before


def test_a_failing_rebuild_rolls_the_batch_back(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The rebuild runs before the commit: if it fails (here: a statement that cannot run, as a
    # full disk would make it), the events are not committed without their indexes.
    real = sqlite_store._SQLiteWriter.bulk_load

    def broken(self: Any) -> bool:
        done = real(self)
        self.rebuild.append("CREATE INDEX broken ON no_such_table (x)")
        return done

    monkeypatch.setattr(sqlite_store._SQLiteWriter, "bulk_load", broken)
    source = _file(tmp_path / "a.jsonl", desk_lines[:3000])
    _fails_leaving_nothing(apps["bulk"], source, monkeypatch, StoreError, "no_such_table")


def _fails_leaving_nothing(
    app: App, source: str, monkeypatch: pytest.MonkeyPatch, error: type[Exception], match: str
) -> None:
    """A bulk load of ``source`` fails with ``error``: nothing stored, the schema as it was."""
    before = _schema(app.settings.data_dir)
    with pytest.raises(error, match=match):
        _ingest(app, source, monkeypatch, bulk=True)
    assert app.store.ledger_size() == 0
    assert _schema(app.settings.data_dir) == before


def test_a_failure_hashing_the_slices_beside_the_rebuild_rolls_the_batch_back(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The slices and the map are hashed in a thread while SQLite rebuilds the indexes: an
    # error there is the batch's, raised once the rebuild is done, and nothing is stored.
    def broken(self: Any, end: int) -> None:
        raise RuntimeError("hashing failed")

    monkeypatch.setattr(SliceGrower, "settle", broken)
    app = apps["bulk"]
    source = _file(tmp_path / "a.jsonl", desk_lines[:3000])
    _fails_leaving_nothing(app, source, monkeypatch, RuntimeError, "hashing failed")
    monkeypatch.undo()  # the same file ingests once the hashing works
    assert _ingest(app, source, monkeypatch, bulk=True).stored == 3000
    app.ledger.verify()


def test_readers_keep_the_indexes_while_a_bulk_load_runs(
    tmp_path: Path, desk_lines: list[bytes]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    app = App(settings)
    try:
        # Some events first, committed row by row; then a bulk batch, during which another
        # connection reads with the indexes and sees only what was committed.
        Ingestor(app.store, app.ledger).ingest(enumerate(desk_lines[:100], 1))
        seen: list[tuple[set[str], int]] = []

        def look(w: Any, result: Any) -> None:  # runs in the batch, before its commit
            assert result.stored == 2000
            with sqlite3.connect(settings.data_dir / "sentinelle.db") as other:
                names = {
                    n for (n,) in other.execute("SELECT name FROM sqlite_master WHERE type='index'")
                }
                count = other.execute("SELECT count(*) FROM events").fetchone()[0]
            seen.append((names, count))

        Ingestor(app.store, app.ledger).ingest(
            enumerate(desk_lines[100:2100], 1), also=look, expected=1 << 40
        )
        ((names, count),) = seen
        assert set(BULK_INDEXES) <= names and count == 100
        assert set(BULK_INDEXES) <= _index_names(settings.data_dir)
    finally:
        app.close()


def test_no_bulk_load_into_a_store_holding_more(
    tmp_path: Path, desk_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _dropped(monkeypatch)
    monkeypatch.setattr(pipeline, "BULK_EVENTS", 1)
    store = open_store(Settings(data_dir=tmp_path / "data"))
    try:
        ledger = Ledger.open(store, data_dir=tmp_path / "data", origin="test.example/log")
        ingestor = Ingestor(store, ledger)
        ingestor.ingest(enumerate(desk_lines[:2000], 1), expected=2000)  # empty store: bulk
        ingestor.ingest(enumerate(desk_lines[2000:5999], 1), expected=3999)  # < twice 2000
        ingestor.ingest(enumerate(desk_lines[5999:18000], 1), expected=12001)  # ≥ twice 5999
        ingestor.ingest(enumerate(desk_lines[18000:19000], 1))  # nothing known: row by row
        assert ledger.store.ledger_size() == 19000
    finally:
        store.close()
    assert answers == [True, True]


def test_a_first_load_on_each_store(
    opened: tuple[Store, Ledger], desk_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite drops the indexes in the batch and builds them once its events are in (the
    # slices hashed meanwhile); PostgreSQL keeps them (dropping one there would lock the table
    # against every reader until the commit). Both store the same.
    store, ledger = opened
    monkeypatch.setattr(pipeline, "BULK_EVENTS", 1)
    real = sqlite_store._SQLiteWriter.build_indexes
    pending: list[int] = []  # the indexes left to build, at each call

    def spy(self: Any) -> None:
        pending.append(len(self.rebuild))
        real(self)

    monkeypatch.setattr(sqlite_store._SQLiteWriter, "build_indexes", spy)
    built: list[bool] = []
    result = Ingestor(store, ledger).ingest(
        enumerate(desk_lines[:3000], 1),
        also=lambda w, _: built.append(not getattr(w, "rebuild", [])),
        expected=3000,
    )
    assert pending[:1] == ([len(BULK_INDEXES)] if store.dialect == "sqlite" else [])
    assert built == [True]  # before the checkpoint: the commit has nothing left to build
    assert result.stored == 3000 and store.ledger_size() == 3000
    ledger.verify()


# -- a first load's rollback journal (SQLite) ------------------------------------------------
def _mode(data_dir: Path) -> str:
    """The journal mode the database file is in, read on a connection of its own."""
    with sqlite3.connect(data_dir / "sentinelle.db") as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def _modes_in_batches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The journal mode of the writing connection at each chunk the ingest inserts."""
    real = sqlite_store._SQLiteWriter.insert_events
    modes: list[str] = []

    def spy(self: Any, rows: Any) -> None:
        modes.append(self._conn.execute("PRAGMA journal_mode").fetchone()[0])
        real(self, rows)

    monkeypatch.setattr(sqlite_store._SQLiteWriter, "insert_events", spy)
    return modes


def test_a_first_load_is_written_with_a_rollback_journal_then_the_file_is_wal_again(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = apps["bulk"]
    data_dir = app.settings.data_dir
    modes = _modes_in_batches(monkeypatch)
    half = len(desk_lines) // 2
    _ingest(app, _file(tmp_path / "first.jsonl", desk_lines[:half]), monkeypatch, bulk=True)
    assert set(modes) == {"delete"} and _mode(data_dir) == "wal"
    assert not (data_dir / "sentinelle.db-journal").exists()
    modes.clear()  # the ledger holds events now: a bulk load, in WAL mode
    _ingest(app, _file(tmp_path / "rest.jsonl", desk_lines[half:]), monkeypatch, bulk=True)
    assert set(modes) == {"wal"} and _mode(data_dir) == "wal"
    assert app.store.ledger_size() == len(desk_lines)
    with sqlite3.connect(data_dir / "sentinelle.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    app.ledger.verify()


def test_no_rollback_journal_while_another_connection_has_the_file_open(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = apps["bulk"]
    modes = _modes_in_batches(monkeypatch)
    # An API server's connection, say: leaving WAL would need it closed. The ingest does not
    # wait for that (its busy timeout is the default 30 s): it stays in WAL mode at once.
    with sqlite3.connect(app.settings.data_dir / "sentinelle.db") as other:
        assert other.execute("SELECT count(*) FROM events").fetchone() == (0,)
        source = _file(tmp_path / "a.jsonl", desk_lines[:5000])
        result = _ingest(app, source, monkeypatch, bulk=True)
        assert other.execute("SELECT count(*) FROM events").fetchone() == (5000,)
    assert result.stored == 5000
    assert set(modes) == {"wal"} and _mode(app.settings.data_dir) == "wal"


def test_a_refused_first_load_stores_nothing_and_leaves_the_file_in_wal_mode(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = apps["bulk"]
    modes = _modes_in_batches(monkeypatch)
    bad = _file(tmp_path / "bad.jsonl", [*desk_lines[:6000], b'{"not": "an event"}'])
    with pytest.raises(ValidationError):
        _ingest(app, bad, monkeypatch, bulk=True)
    assert "delete" in modes
    assert app.store.ledger_size() == 0
    assert _mode(app.settings.data_dir) == "wal"
    assert not (app.settings.data_dir / "sentinelle.db-journal").exists()


def test_a_reader_reads_during_a_first_load_where_an_ordinary_open_waits(
    tmp_path: Path, desk_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "BULK_EVENTS", 1)
    settings = Settings(data_dir=tmp_path / "data")
    path = settings.data_dir / "sentinelle.db"
    app = App(settings)
    seen: list[tuple[str, int]] = []

    def look(w: Any, result: Any) -> None:  # in the batch, before its commit
        reader = SQLiteStore.open(path, busy_timeout=5, create=False, reader=True)
        try:
            seen.append((_mode(settings.data_dir), reader.ledger_size()))
            with pytest.raises(StoreError):  # it refuses writes
                with reader.writer() as rw:
                    rw.set_ledger_size(1)
        finally:
            reader.close()
        # The price of the rollback journal: an ordinary open would switch the file back to
        # WAL, which needs the lock the load holds, so it waits (here 0.2 s) and says so.
        with pytest.raises(StoreBusyError, match="busy"):
            SQLiteStore.open(path, busy_timeout=0.2, create=False)

    try:
        result = Ingestor(app.store, app.ledger).ingest(
            enumerate(desk_lines[:3000], 1), also=look, expected=3000
        )
        assert result.stored == 3000
        assert seen == [("delete", 0)]  # the reader saw only what was committed
        assert _mode(settings.data_dir) == "wal"
    finally:
        app.close()


_KILLED_LOAD = r"""
import os, signal, sys
from pathlib import Path
from sentinelle.cli.app import App
from sentinelle.config import Settings
from sentinelle.ingest import Ingestor, pipeline
from sentinelle.store import sqlite as sqlite_store

pipeline.BULK_EVENTS = 1
real = sqlite_store._SQLiteWriter.insert_events
calls = []

def insert(self, rows):
    real(self, rows)
    calls.append(len(rows))
    if len(calls) == 1:  # a small page cache: the load's pages reach the database file
        self._conn.execute("PRAGMA cache_size=20")
    if len(calls) == 4:
        assert self._conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        os.kill(os.getpid(), signal.SIGKILL)

sqlite_store._SQLiteWriter.insert_events = insert
app = App(Settings(data_dir=Path(sys.argv[1])))
lines = [x for x in Path(sys.argv[2]).read_bytes().split(b"\n") if x]
Ingestor(app.store, app.ledger).ingest(enumerate(lines, 1), expected=len(lines))
"""


def test_a_first_load_killed_midway_leaves_nothing_and_the_file_in_wal_mode(
    tmp_path: Path, desk_lines: list[bytes]
) -> None:
    data_dir = tmp_path / "data"
    App(Settings(data_dir=data_dir)).close()  # the store and its key, as a first command
    source = _file(tmp_path / "events.jsonl", desk_lines[:8000])
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_LOAD, str(data_dir), source],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()
    # Killed with pages of the batch in the database file: the journal is hot.
    assert (data_dir / "sentinelle.db-journal").stat().st_size > 0
    app = App(Settings(data_dir=data_dir))
    try:
        assert app.store.ledger_size() == 0  # rolled back on open
        assert _mode(data_dir) == "wal"
        with sqlite3.connect(data_dir / "sentinelle.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
        result = Ingestor(app.store, app.ledger).ingest(enumerate(desk_lines[:8000], 1))
        assert result.stored == 8000
        app.ledger.verify()
    finally:
        app.close()
