"""Decode a large file in a child process while this one stores it.

``sentinelle ingest FILE`` spends about a third of its time reading, decoding, validating
and hashing events, and the rest storing them, on one core. Without live detection (which
takes the second core, :mod:`sentinelle.detect.pipelined`), a :class:`Reader` moves the first
part to a child process: it reads the file, decodes each chunk
(:func:`~sentinelle.ingest.chunks.build_chunk`: rows, leaf hashes, activity tally,
customers, machines) and sends it, pickled, down a pipe, while the parent stores the chunk
before. The pipe's buffer holds the child back when it runs ahead, so memory stays flat.

The child only reads the file and computes; it writes nothing. What the batch stores is
the same as decoded in one process, and so are its errors: the child sends the invalid
lines (the batch is then refused, nothing stored) or the reading error, and the parent raises
them. A child that dies without its last message fails the batch, rolled back, with an error
naming its exit status. Interrupting the command stops the child.

Used for a regular file of :data:`MIN_BYTES` or more on a machine with two CPUs or more;
anything else (standard input, a pipe, a small file) is decoded in the storing process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import dropwhile
from typing import IO, Final

from sentinelle.collector import for_bulk_process
from sentinelle.errors import Error, Problem, ValidationError
from sentinelle.ingest.chunks import Chunk, Decoding
from sentinelle.ingest.files import bytes_read, input_size, iter_json_lines, open_input

__all__ = ["MIN_BYTES", "Reader", "cpus"]

_logger = logging.getLogger(__name__)

#: Files smaller than this are decoded in the storing process: starting the child (a Python
#: interpreter and its imports, about 0.2 s) would cost more than it saves.
MIN_BYTES: Final = 8 << 20
_PIPE_BYTES: Final = 1 << 20  # Linux's default limit for an unprivileged process


@dataclass(frozen=True, slots=True)
class _Ready:
    """Child to parent: started (interpreter and imports); it waits for :class:`_Start`."""


@dataclass(frozen=True, slots=True)
class _Start:
    """Parent to child: number the chunks from ``first``, of ``size`` events, from the line
    after ``after`` (the last the parent decoded itself)."""

    first: int
    size: int
    after: int


@dataclass(frozen=True, slots=True)
class _Done:
    """Child to parent, after its last :class:`Chunk`: the items it read."""

    received: int


@dataclass(frozen=True, slots=True)
class _Invalid:
    """Child to parent: the batch is refused for these problems (no chunk follows)."""

    problems: list[Problem]
    truncated: bool


@dataclass(frozen=True, slots=True)
class _Failed:
    """Child to parent: the file could not be read; ``message`` holds no event data."""

    message: str


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Reader:
    """The parent's side: a child decoding ``source`` (a path, opened here as ``stream``) into
    chunks.

    A :class:`~sentinelle.ingest.pipeline.ChunkSource`: ``received`` counts the lines once
    :meth:`chunks` is done. Use as a context manager, or call :meth:`close`: it stops the
    child.

    The child takes a fraction of a second to start (a Python interpreter and its imports):
    meanwhile this process decodes the first chunks itself, and hands the rest of the file
    over at the first chunk boundary after the child says it is ready. A file that ends
    first, or has an invalid line before then, is read here to its end (the child is
    stopped); so is the rest of a file whose child fails to start.
    """

    #: Chunks to decode here before waiting for the child (``None``: never wait, hand over
    #: when it is ready). Tests set it, to be deterministic.
    handover_after: int | None = None

    def __init__(
        self,
        source: str,
        stream: IO[bytes],
        *,
        unit: str = "line",
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.source = source
        self.stream = stream
        self.unit = unit
        self.progress = progress
        self.received = 0
        self._ready: bool | None = None  # None: starting; False: failed to start
        self._done = 0  # bytes of progress reported
        code = "from sentinelle.ingest.reader import _child_main; _child_main()"
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code, source, unit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=1 << 18,
            close_fds=True,
            # Its own session: the terminal's signals are for the command, which stops it.
            start_new_session=True,
        )
        # Room for a few chunks in the pipe (about 400 kB each; the default holds 64 kB): the
        # child runs ahead of a parent that is busy committing or spilling, not in lockstep.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]

    @classmethod
    def open(
        cls, source: str, stream: IO[bytes], *, progress: Callable[[int], None] | None = None
    ) -> Reader | None:
        """A reader of ``source`` if it is a regular file worth one (:data:`MIN_BYTES` or
        more, two CPUs or more), else ``None``: decode it in this process."""
        if source == "-" or cpus() < 2:
            return None
        size = input_size(source)
        if size is None or size < MIN_BYTES:
            return None
        try:
            return cls(source, stream, progress=progress)
        except OSError as exc:  # no process to be had (limits, memory): read it here
            why = exc.strerror or type(exc).__name__
            _logger.warning("reading %s in this process: no reader process (%s)", source, why)
            return None

    def chunks(self, first: int, size: int) -> Iterator[Chunk]:
        """Chunks of up to ``size`` events, numbered from ``first``, decoded here until the
        child is ready, then by the child; raises the :class:`ValidationError` or reading
        :class:`Error` met, here or in the child, at the point it was met."""
        here = Decoding(iter_json_lines(self.stream, name=self.source), unit=self.unit)
        given = 0
        if not self._started(block=self.handover_after == 0):
            for chunk in here.chunks(first, size):
                given += 1
                self._advance(bytes_read(self.stream))
                yield chunk
                wait = self.handover_after is not None and given >= self.handover_after
                if self._started(block=wait):
                    first = chunk.rows[-1][0] + 1
                    break
            else:
                self.received = here.received  # all read here
                return
        yield from self._from_child(first, size, here.location, here.received)

    def _started(self, *, block: bool) -> bool:
        """Whether the child said it is ready (waiting for it with ``block``)."""
        if self._ready is not None:
            return self._ready
        stdout = self._proc.stdout
        assert stdout is not None  # noqa: S101 - piped
        if not block and not select.select([stdout], [], [], 0)[0]:
            return False
        try:
            message = pickle.load(stdout)  # noqa: S301 - our own child, over a pipe
        except (EOFError, OSError, pickle.UnpicklingError):
            message = None
        self._ready = isinstance(message, _Ready)
        if not self._ready:
            try:
                status = self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:  # alive, but not making sense: stop it
                self._proc.kill()
                status = self._proc.wait()
            _logger.warning(
                "reading %s in this process: its reader process did not start (exit status %s)",
                self.source,
                status,
            )
        return self._ready

    def _from_child(self, first: int, size: int, after: int, received: int) -> Iterator[Chunk]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - both piped
        with contextlib.suppress(BrokenPipeError):  # a child gone is told by its output
            pickle.dump(_Start(first, size, after), proc.stdin)
            proc.stdin.close()
        while True:
            try:
                message = pickle.load(proc.stdout)  # noqa: S301 - our own child, over a pipe
            except (EOFError, OSError, pickle.UnpicklingError):
                raise Error(
                    f"reading {self.source} failed: its reader process ended without "
                    f"finishing (exit status {proc.wait()}); nothing was written"
                ) from None
            if isinstance(message, Chunk):
                self._advance(message.read)
                yield message
            elif isinstance(message, _Done):
                self.received = received + message.received
                return
            elif isinstance(message, _Invalid):
                raise ValidationError(message.problems, unit=self.unit, truncated=message.truncated)
            elif isinstance(message, _Failed):
                raise Error(message.message)
            else:
                raise Error(f"reading {self.source} failed: its reader process said {message!r}")

    def _advance(self, position: int) -> None:
        if self.progress is not None and position > self._done:
            self.progress(position - self._done)
            self._done = position

    def close(self) -> None:
        """Stop the child (it writes nothing: stopping it loses nothing)."""
        proc = self._proc
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the child --------------------------------------------------------------------------------


def _child_main() -> None:
    """Entry point of the child: ``argv``: the file and the unit of its locations."""
    # Interrupting is the parent's: it stops the child (which writes nothing) in any case.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, unit = sys.argv[1], sys.argv[2]
    out = sys.stdout.buffer
    for_bulk_process()
    try:
        _send(out, _Ready())
        out.flush()
        start = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our own parent
        _send(out, _read(source, unit, start, out))
        out.flush()
    except (EOFError, BrokenPipeError):
        return  # the parent is gone, stopped us or read the file itself: nothing to say


def _read(source: str, unit: str, start: _Start, out: IO[bytes]) -> _Done | _Invalid | _Failed:
    """Send the chunks of ``source`` after line ``start.after``; what ends them."""
    try:
        with open_input(source) as stream:
            lines = iter_json_lines(stream, name=source)
            decoding = Decoding(dropwhile(lambda item: item[0] <= start.after, lines), unit=unit)
            for chunk in decoding.chunks(start.first, start.size):
                chunk.events = None  # the parent decodes again the rare chunk that needs them
                chunk.read = bytes_read(stream)
                _send(out, chunk)
        return _Done(decoding.received)
    except ValidationError as exc:
        return _Invalid(exc.problems, exc.truncated)
    except Error as exc:
        return _Failed(str(exc))
    except (EOFError, BrokenPipeError):
        raise
    except Exception as exc:  # reported to the parent, which fails the batch
        # The type only: an exception's text can carry event data.
        return _Failed(f"reading {source} failed in its reader process: {type(exc).__name__}")


def _send(out: IO[bytes], message: object) -> None:
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    # Without the memo: a chunk shares no object between its rows worth a reference (each
    # string is decoded on its own) and holds no cycle, and keeping a memo entry for every
    # string and tuple made pickling a chunk take twice as long (the child's critical work).
    pickler.fast = True
    pickler.dump(message)
