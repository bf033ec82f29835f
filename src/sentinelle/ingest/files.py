"""JSON-lines input: plain or gzip files, or standard input, read as a stream."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

from sentinelle.errors import Error

__all__ = ["iter_json_lines", "open_input"]

_GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """Open ``path`` (``-`` for standard input) for reading, gunzipping it if it is gzip.

    Gzip is recognised by its magic bytes, not the file name. Raises :class:`Error` if the file
    cannot be opened.
    """
    try:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        raise Error(f"cannot read {path}: {exc.strerror}") from None
    stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
    try:
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream) as gz:
                yield io.BufferedReader(gz, buffer_size=1 << 20)
        else:
            yield stream
    finally:
        if path != "-":
            raw.close()


def iter_json_lines(stream: IO[bytes], *, name: str = "input") -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for every non-blank line, numbered from 1.

    Raises :class:`Error` if a gzip stream is corrupt or truncated.
    """
    try:
        for number, line in enumerate(stream, 1):
            if not line.isspace():
                yield number, line
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Error(f"cannot read {name}: {exc}") from None
