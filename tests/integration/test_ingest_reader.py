"""A large file decoded in a reader process beside the storing (``sentinelle.ingest.reader``).

The same simulated files are ingested the way ``sentinelle ingest --no-detect`` does it
(``sentinelle.cli.ingest.ingest_stream``), with the reader process (its size threshold
lowered) and without it, into fresh SQLite stores: every table ingest writes must come out
the same, re-sent events included; invalid desk_lines, unreadable files and a reader that dies
must fail the batch the same way, storing nothing.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest_tables import TABLES, stored_tables
from sentinelle.cli.app import App
from sentinelle.cli.ingest import ingest_stream
from sentinelle.config import Settings
from sentinelle.errors import Error, ValidationError
from sentinelle.ingest import open_input, reader
from sentinelle.ingest.reader import Reader


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[dict[str, App]]:
    made = {name: App(Settings(data_dir=tmp_path / name)) for name in ("reader", "plain")}
    yield made
    for app in made.values():
        app.close()


def _file(path: Path, data: list[bytes]) -> str:
    path.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in data))
    return str(path)


def _ingest(
    app: App,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    use_reader: bool,
    handover_after: int = 0,
) -> Any:
    """Ingest ``source`` as the command does, with a reader process that takes over after
    ``handover_after`` chunks decoded here (waiting for it: deterministic), or without."""
    monkeypatch.setattr(reader, "MIN_BYTES", 0 if use_reader else 1 << 62)
    monkeypatch.setattr(reader, "cpus", lambda: 2)
    monkeypatch.setattr(Reader, "handover_after", handover_after)
    with open_input(source) as stream:
        result, after = ingest_stream(app, stream, source, None)
    assert after is None
    return result


def _unsigned(result: dict[str, Any]) -> dict[str, Any]:
    # Each store signs with its own key: the checkpoints' bodies must match, not signatures.
    note = result["checkpoint"]
    return {**result, "checkpoint": note.split("\n\n")[0] if note else note}


def _tables(app: App) -> dict[str, list[tuple[Any, ...]]]:
    return stored_tables(app.settings.data_dir)


def _refused(
    apps: dict[str, App],
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    error: type[Error],
    handover_after: int = 0,
) -> list[Any]:
    """``source`` ingested with the reader and without: both raise ``error`` and store
    nothing; their exceptions (the reader's first)."""
    raised = []
    for name, app in apps.items():
        with pytest.raises(error) as caught:
            _ingest(
                app, source, monkeypatch, use_reader=name == "reader", handover_after=handover_after
            )
        raised.append(caught.value)
        assert app.store.ledger_size() == 0
        assert _tables(app)["actor_days"] == []
    return raised


@pytest.mark.parametrize("handover_after", [0, 3])
def test_a_reader_stores_exactly_what_one_process_does(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    handover_after: int,
) -> None:
    # Three batches: the first half; everything again with ids re-sent from the first half
    # and from earlier in the same file (one with other content), so that the reader's
    # numbering must move back; then the whole file once more (duplicates only).
    half = len(desk_lines) // 2
    k = next(i for i in range(half + 10, len(desk_lines)) if b'"allowed"' in desk_lines[i])
    changed = desk_lines[k].replace(b'"outcome":"allowed"', b'"outcome":"denied"')
    assert changed != desk_lines[k]
    files = [
        _file(tmp_path / "a.jsonl", desk_lines[:half]),
        _file(tmp_path / "b.jsonl", [*desk_lines, desk_lines[half + 5], changed, desk_lines[-1]]),
        _file(tmp_path / "c.jsonl", desk_lines),
    ]
    results: dict[str, list[Any]] = {}
    for name, app in apps.items():
        results[name] = [
            _unsigned(
                _ingest(
                    app, f, monkeypatch, use_reader=name == "reader", handover_after=handover_after
                ).to_dict()
            )
            for f in files
        ]
    assert results["reader"] == results["plain"]
    second = results["reader"][1]
    assert second["stored"] == len(desk_lines) - half
    assert second["duplicates"] == half + 3
    assert (
        desk_lines[k][desk_lines[k].index(b'"id":"') :].split(b'"')[3].decode()
        in (second["conflicting_ids"])
    )
    assert results["reader"][2]["stored"] == 0
    reader_tables, plain_tables = _tables(apps["reader"]), _tables(apps["plain"])
    for table in [*TABLES, "checkpoints"]:
        assert reader_tables[table] == plain_tables[table], table
    assert len(reader_tables["events"]) == len(desk_lines)
    assert reader_tables["access_subjects"] and reader_tables["integration_merchants"]


@pytest.mark.integration
def test_a_reader_on_postgresql_stores_what_one_process_does_on_sqlite(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
) -> None:
    # The checkpoints' bodies hold the tree's root and the merchants' map: the same bodies
    # mean the same leaves, in the same order, and the same merchants' slices.
    half = len(desk_lines) // 2
    files = [
        _file(tmp_path / "a.jsonl", desk_lines[:half]),
        _file(tmp_path / "b.jsonl", [*desk_lines, desk_lines[3]]),
    ]
    pg = App(Settings(_env_file=None, data_dir=tmp_path / "pg", database_url=postgres_url))
    try:
        on_pg = [_unsigned(_ingest(pg, f, monkeypatch, use_reader=True).to_dict()) for f in files]
        assert pg.store.ledger_size() == len(desk_lines)
    finally:
        pg.close()
    plain = apps["plain"]
    assert on_pg == [
        _unsigned(_ingest(plain, f, monkeypatch, use_reader=False).to_dict()) for f in files
    ]
    assert on_pg[1]["duplicates"] == half + 1


@pytest.mark.parametrize("handover_after", [0, 1, 5])
def test_invalid_lines_are_reported_as_without_a_reader_and_nothing_is_stored(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    handover_after: int,
) -> None:
    # The first bad line is in the third chunk: met by the child (handed over at once or
    # after the first), or here (after five), which then reads the file to its end alone.
    bad = _file(
        tmp_path / "bad.jsonl", [*desk_lines[:3000], b'{"bad": 1}', *desk_lines[3000:], b"not json"]
    )
    messages = [str(e) for e in _refused(apps, bad, monkeypatch, ValidationError, handover_after)]
    assert messages[0] == messages[1]
    assert "line 3001: $: Object contains unknown field `bad`" in messages[0]
    assert f"line {len(desk_lines) + 2}: $: not valid JSON" in messages[0]


def test_more_than_twenty_problems_are_cut_short_the_same_way(
    apps: dict[str, App], desk_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _file(tmp_path / "bad.jsonl", [*desk_lines[:100], *[b"{}"] * 30])
    for refused in _refused(apps, bad, monkeypatch, ValidationError):
        assert refused.truncated
        assert len(refused.problems) == 20
        assert refused.problems[0].location == 101


@pytest.mark.parametrize("kind", ["array", "truncated gzip"])
def test_an_unreadable_file_fails_with_the_readers_own_words(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    if kind == "array":
        source = _file(tmp_path / "events.json", [b"[" + desk_lines[0].strip() + b","])
        expected = "holds a JSON array"
    else:
        whole = gzip.compress(b"".join(desk_lines))
        (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
        source = str(tmp_path / "cut.gz")
        expected = "Compressed file ended before the end-of-stream marker"
    messages = [str(e) for e in _refused(apps, source, monkeypatch, Error)]
    assert messages[0] == messages[1]
    assert expected in messages[0]


def test_a_reader_that_dies_fails_the_batch_and_nothing_is_stored(
    apps: dict[str, App], desk_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _file(tmp_path / "events.jsonl", desk_lines)
    chunks = Reader.chunks

    def killed_after_the_first(self: Reader, first: int, size: int) -> Iterator[Any]:
        for chunk in chunks(self, first, size):
            if chunk.events is None:  # the first chunk the child decoded
                self._proc.kill()
            yield chunk

    monkeypatch.setattr(Reader, "chunks", killed_after_the_first)
    app = apps["reader"]
    with pytest.raises(
        Error, match=r"its reader process ended without finishing \(exit status -9\)"
    ):
        _ingest(app, source, monkeypatch, use_reader=True, handover_after=2)
    assert app.store.ledger_size() == 0
    assert _tables(app)["access_subjects"] == []


def test_a_reader_whose_parent_dies_ends_quietly(desk_lines: list[bytes], tmp_path: Path) -> None:
    # A parent that dies abruptly (here after its first chunk) leaves no reader behind, and
    # the reader says nothing on the terminal they shared.
    source = _file(tmp_path / "events.jsonl", desk_lines)
    parent = (
        "import os, sys\n"
        "from sentinelle.ingest import reader\n"
        "reader.MIN_BYTES = 0\n"
        "reader.Reader.handover_after = 0\n"
        "r = reader.Reader(sys.argv[1], open(sys.argv[1], 'rb'))\n"
        "next(r.chunks(0, 256))\n"
        "print(r._proc.pid, flush=True)\n"
        "os._exit(9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent, source], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 9, done.stderr
    pid = int(done.stdout)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert done.stderr == b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended: only its parent's wait is missing


def test_progress_advances_by_the_bytes_the_reader_read(
    desk_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _file(tmp_path / "events.jsonl", desk_lines)
    steps: list[int] = []
    monkeypatch.setattr(reader, "MIN_BYTES", 0)
    monkeypatch.setattr(reader, "cpus", lambda: 2)
    monkeypatch.setattr(Reader, "handover_after", 2)
    with open_input(source) as stream, Reader.open(source, stream, progress=steps.append) as opened:  # type: ignore[union-attr]
        chunks = list(opened.chunks(0, 1024))
    assert opened.received == len(desk_lines)
    assert [chunk.events is None for chunk in chunks[:3]] == [False, False, True]
    assert len(steps) == len(chunks) > 3
    assert all(step >= 0 for step in steps)
    assert 0 < sum(steps) <= Path(source).stat().st_size


def test_only_a_large_regular_file_with_a_second_cpu_gets_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n" * reader.MIN_BYTES)
    small = _file(tmp_path / "small.jsonl", [b"{}"])
    monkeypatch.setattr(reader, "cpus", lambda: 2)
    with big.open("rb") as stream:
        assert Reader.open(small, stream) is None
        assert Reader.open("-", stream) is None
        opened = Reader.open(str(big), stream)
        assert opened is not None
        with opened:
            assert list(opened.chunks(0, 1024)) == []
        assert opened.received == 0
        monkeypatch.setattr(reader, "cpus", lambda: 1)
        assert Reader.open(str(big), stream) is None


def test_no_process_to_be_had_reads_the_file_in_this_one(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(reader.subprocess, "Popen", refused)
    source = _file(tmp_path / "events.jsonl", desk_lines)
    result = _ingest(apps["reader"], source, monkeypatch, use_reader=True)
    assert result.stored == len(desk_lines)
    assert "no reader process (Resource temporarily unavailable)" in caplog.text


def test_a_reader_that_does_not_start_leaves_the_file_to_this_process(
    apps: dict[str, App],
    desk_lines: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(reader.sys, "executable", "/bin/false")  # exits at once, saying nothing
    source = _file(tmp_path / "events.jsonl", desk_lines)
    result = _ingest(apps["reader"], source, monkeypatch, use_reader=True, handover_after=1)
    assert result.stored == result.received == len(desk_lines)
    assert "its reader process did not start (exit status 1)" in caplog.text


def test_a_handover_after_the_last_chunk_reads_nothing_twice(
    apps: dict[str, App], desk_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is decoded here to its last (partial) chunk before the reader is ready: the
    # reader takes over after it, and must find nothing left.
    data = desk_lines[:2500]  # chunks of 1,024: two whole, the third partial
    source = _file(tmp_path / "events.jsonl", data)
    result = _ingest(apps["reader"], source, monkeypatch, use_reader=True, handover_after=3)
    assert (result.received, result.stored, result.duplicates) == (2500, 2500, 0)
