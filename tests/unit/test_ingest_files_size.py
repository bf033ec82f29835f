"""``events_in``: how many events a file holds, estimated on the low side from its size (what
decides a first load's indexes, ``Ingestor.ingest(expected=)``)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from sentinelle.ingest import files
from sentinelle.ingest.files import EVENT_BYTES, events_in


def test_a_plain_file_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"x" * (10 * EVENT_BYTES + 5))
    assert events_in(str(path)) == 10


def test_a_gzip_file_by_its_size_uncompressed(tmp_path: Path) -> None:
    data = b'{"id":"e-1","type":"access"}\n' * 20_000  # compresses some hundredfold
    path = tmp_path / "events.jsonl.gz"  # the name does not matter: the magic bytes do
    with gzip.open(path, "wb") as g:
        g.write(data)
    assert os.path.getsize(path) < len(data) // 50
    assert events_in(str(path)) == len(data) // EVENT_BYTES


def test_a_gzip_trailer_never_lowers_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over 4 GiB, ISIZE wraps around: the estimate is then the compressed size's, not less.
    path = tmp_path / "big.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * (20 * EVENT_BYTES) + (7).to_bytes(4, "little"))
    assert events_in(str(path)) == os.path.getsize(path) // EVENT_BYTES
    monkeypatch.setattr(files, "EVENT_BYTES", 1)
    assert events_in(str(path)) == os.path.getsize(path)


def test_nothing_known_is_zero(tmp_path: Path) -> None:
    assert events_in("-") == 0  # standard input
    assert events_in(str(tmp_path / "missing.jsonl")) == 0
    assert events_in(str(tmp_path)) == 0  # not a regular file
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert events_in(str(fifo)) == 0  # never opened: it would block
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert events_in(str(empty)) == 0
