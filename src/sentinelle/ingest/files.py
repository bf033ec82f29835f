"""JSON-lines input: plain or gzip files, or standard input, read as a stream.

JSON lines means one event per line. A JSON array or pretty-printed JSON (one event spread over
several lines) is told apart on its first line and refused with one line saying how to
convert it, rather than with a parse error for every line.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Final, cast

from sentinelle.errors import Error

__all__ = [
    "EVENT_BYTES",
    "bytes_read",
    "deep_element",
    "events_in",
    "input_size",
    "iter_json_lines",
    "open_input",
]

#: A generous size of one event's line, to estimate from a file's size, on the low side, how
#: many events it holds (access events take a few hundred bytes; a gzip file's compressed
#: size tells fewer).
EVENT_BYTES = 1024

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

    Raises :class:`Error` if a gzip stream is corrupt or truncated, or if the first line shows
    the input is a JSON array or pretty-printed JSON rather than JSON lines.
    """
    try:
        lines = enumerate(stream, 1)
        for number, line in lines:
            if not line.isspace():
                _check_first_line(line, name)
                yield number, line
                break
        for number, line in lines:
            if not line.isspace():
                yield number, line
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Error(f"cannot read {'standard input' if name == '-' else name}: {exc}") from None


def _check_first_line(line: bytes, name: str) -> None:
    text = line.strip().removeprefix(b"\xef\xbb\xbf")
    shown = "standard input" if name == "-" else name
    file = "FILE.json" if name == "-" else name
    if text.startswith(b"["):
        raise Error(
            f"{shown} holds a JSON array; sentinelle ingest reads JSON lines (one event per "
            f"line): convert it with  jq -c '.[]' {file} > events.jsonl"
        )
    # An object whose first line is open-ended, as pretty-printing or wrapping leaves it
    # ("{", or a line ending in "," "{" "[" ":"); a line merely cut short is a bad line like
    # any other, reported with the rest.
    if text.startswith(b"{") and text.endswith((b"{", b",", b"[", b":")):
        raise Error(
            f"{shown} holds JSON spread over several lines (pretty-printed); sentinelle ingest "
            f"reads JSON lines (one event per line): convert it with  jq -c . {file} > events.jsonl"
        )


def input_size(path: str) -> int | None:
    """The size in bytes of ``path`` if it is a regular file (for progress), else ``None``."""
    if path == "-":
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def events_in(path: str) -> int:
    """How many events the file at ``path`` holds, estimated on the low side from its size
    (:data:`EVENT_BYTES` each; a gzip file's size uncompressed, from its trailer); 0 for
    standard input, a pipe or a file that cannot be read."""
    size = input_size(path)
    if not size:
        return 0
    try:
        with open(path, "rb") as f:
            if f.read(2) == _GZIP_MAGIC and size >= 18:
                # ISIZE, the last member's uncompressed size modulo 2**32: the whole file's
                # for one member under 4 GiB, less otherwise (never taken below the size).
                f.seek(-4, os.SEEK_END)
                size = max(size, int.from_bytes(f.read(4), "little"))
    except OSError:
        return 0
    return size // EVENT_BYTES


def bytes_read(stream: IO[bytes]) -> int:
    """How far into its file a stream from :func:`open_input` has read (compressed bytes for
    gzip), to compare with :func:`input_size`."""
    raw = getattr(stream, "raw", None)
    if isinstance(raw, gzip.GzipFile):
        return cast(IO[bytes], raw.fileobj).tell()
    return stream.tell()


_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def deep_element(body: bytes, *, limit: int = 32) -> int:
    """The 0-based index of the first element of a JSON array nested deeper than ``limit``.

    For the error report of an array too deep for the decoder; 0 if none is found.
    """
    depth = 0
    index = 0
    for token in _TOKENS.finditer(body):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return index
        elif char in (b"]", b"}"):
            depth -= 1
        elif char == b"," and depth == 1:
            index += 1
    return 0
