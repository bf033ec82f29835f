"""Live detection beside ingest: a child process detects each chunk while the next is stored.

``sentinelle ingest FILE`` writes a file as one transaction; live detection used to start
only once it had committed, on the same core. With :class:`Beside`, each chunk the ingest has
inserted (:meth:`~sentinelle.ingest.pipeline.Ingestor.ingest`'s ``written`` hook) is handed
to a child process (the GIL rules out a thread for this CPU work), which runs the engine
over it from the saved state while the parent decodes and stores the next chunk. The child
only computes: it writes nothing. Once the batch has committed, the parent takes the child's
result (the alerts, the new engine state and how far it got) and stores it in one
transaction with :meth:`~sentinelle.detect.runner.DetectionRunner.catch_up`, exactly as a
run after the commit would have — but only if everything it started from still holds:

* the detection cursor was at the batch's first leaf when the child started, and in the
  saving transaction it still is, with the very same saved state (same bytes) and the same
  triage suppressions: no other process ran detection or triaged meanwhile;
* the child saw every leaf of the batch, contiguous, and finished without an error.

Otherwise (PostgreSQL, one CPU, a small batch, a cursor behind, a failed or killed child,
anything unexpected) the child's work is dropped and the usual detection after the commit
runs instead, reading the events from the store. A batch that is rolled back stops the child
and nothing of its work is kept: alerts are stored only for committed events. If the parent
dies after the commit and before saving, the cursor has not moved: the next run detects the
batch, as it would have after a failed run before.

The child is fed the chunks as the ingest wrote them, in groups of :data:`GROUP` leaves from
the batch's first (the lists :meth:`~sentinelle.store.events.EventStoreMixin.events_by_seq`
gives a run after the commit), each with the wall clock at the batch's start, then what its
reorder buffer holds is released at the wall clock of the commit: on the same events, the
same alerts as that run, except for events within ``reorder_minutes`` of the wall clock,
which may be released one batch earlier or later.

The event bodies go to the child through an anonymous temporary file in the data directory
(mode 0600, never named on disk) and small messages on a socket pair: the ingest never waits
for the child to read.

The child also takes work off the ingest, which is the slower of the two: from the bodies it
decodes anyway, it computes the batch's leaf hashes and slice leaves
(:class:`~sentinelle.ingest.chunks.Sums`) and sends them every :data:`SUMS_EVERY` leaves
(what either process holds of them stays bounded); the ingest grows the tree and the slices
with them as they come (:meth:`Beside.sums`, its ``sums`` hook) and, once every chunk is
inserted, asks for the rest and waits for it; the child then feeds its last group at once,
while the ingest commits. Leaves the child does not sum (not started or not ready, failed,
killed) or sums out of order, the ingest sums from the bodies stored in its transaction:
the tree, the slices and the checkpoint are the same either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from sentinelle.collector import for_bulk_process
from sentinelle.detect.base import Alert
from sentinelle.detect.engine import DetectConfig, where
from sentinelle.ingest.chunks import Sums
from sentinelle.ingest.reader import cpus
from sentinelle.store import FacetedRow, Store
from sentinelle.store.alerts import SuppressionRow

__all__ = ["GROUP", "Ahead", "Beside"]

_logger = logging.getLogger(__name__)

#: Leaves per engine feed: the size of the lists a run after the commit reads
#: (``events_by_seq``'s default batch), so both feed the engine the same groups.
GROUP: Final = 20_000
#: Leaves a batch must reach before a child is started: smaller batches are detected after
#: the commit, which is quicker than starting a process.
START_AT: Final = 4096
#: Leaves the child sums before it sends them (:class:`~sentinelle.ingest.chunks.Sums`): what
#: either process holds of them stays bounded, whatever the batch's size.
SUMS_EVERY: Final = 1 << 17


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class Ahead:
    """What the child detected over the leaves ``[start, end)`` of a batch, not yet stored."""

    start: int
    end: int
    state_digest: bytes  # SHA-256 of the saved state it started from (b"" for none)
    suppressions: list[SuppressionRow]
    alerts: list[Alert]
    state: bytes  # the engine state to save with the cursor at ``end``
    late_skipped: int = 0
    late_oldest_us: int | None = None
    detector_errors: dict[str, int] = field(default_factory=dict)
    unchecked: int = 0  # Engine.unchecked
    cited: int = 0  # Engine.cited
    unmatched: int = 0  # Engine.unmatched


# -- the messages on the socket pair (pickled): parent to child, then child to parent --------


@dataclass(frozen=True, slots=True)
class _Begin:
    """Start detecting the batch whose first leaf is ``first`` (the first message)."""

    path: str  # the SQLite database
    busy_timeout: float
    config: DetectConfig
    first: int
    now_us: int  # the wall clock at the batch's start: each group is fed with it
    sums_every: int = SUMS_EVERY  # leaves summed before they are sent


@dataclass(frozen=True, slots=True)
class _Rows:
    """``count`` leaves from ``first``: the next ``length`` bytes of the bodies' file."""

    first: int
    count: int
    length: int


@dataclass(frozen=True, slots=True)
class _End:
    """The batch committed at ``now_us``: release what is held then, answer :class:`Ahead`."""

    now_us: int


@dataclass(frozen=True, slots=True)
class _SumsPlease:
    """Every chunk is inserted: send the :class:`~sentinelle.ingest.chunks.Sums` of the
    leaves not sent yet, as :class:`_LastSums` (the ingest's ``sums`` hook)."""


@dataclass(frozen=True, slots=True)
class _LastSums:
    """The answer to :class:`_SumsPlease`: the sums of the leaves up to the last received."""

    sums: Sums


@dataclass(frozen=True, slots=True)
class _Ready:
    """The child loaded the saved state and detects what it is sent."""


@dataclass(frozen=True, slots=True)
class _Stopped:
    """The child refused the batch or failed (``why``: no event data); it stops."""

    why: str


class Beside:
    """The parent's side: hands inserted chunks to a detection child, collects its result.

    Use :meth:`written` as the ingest's ``written`` hook, then :meth:`result` once the batch
    committed, and :meth:`close` in any case (it stops the child). Never raises from
    :meth:`written`: a problem only means the usual detection after the commit runs.

    A child that is not yet detecting when the batch has committed (it starts a Python
    process, then loads the saved state: a fraction of a second) is not waited for: the
    batch was too small for it to help, and detection after the commit is quicker.
    """

    #: Wait for a child still starting at the commit instead (tests, to be deterministic).
    patient: bool = False

    def __init__(
        self,
        path: Path,
        config: DetectConfig,
        *,
        busy_timeout: float = 30.0,
        clock: Callable[[], int] = _wall_clock_us,
        start_at: int = START_AT,
    ) -> None:
        self.path = path
        self.config = config
        self.busy_timeout = busy_timeout
        self.clock = clock
        self.start_at = start_at
        self.broken: str | None = None  # why the child's work will not be used
        self.ready = False  # the child said it started detecting (imports and state loaded)
        self._held: list[tuple[int, int, bytes]] = []  # (first leaf, count, bodies) unsent
        self._count = 0
        self._first: int | None = None
        self._next: int | None = None
        self._link: _Link | None = None  # the child, once started
        self._sums: list[Sums] = []  # what the child summed, not yet taken

    @classmethod
    def open(cls, store: Store, config: DetectConfig, **kwargs: Any) -> Beside | None:
        """A :class:`Beside` for ``store``, or ``None`` where it cannot help: not SQLite (the
        pipelined path is not checked against PostgreSQL's isolation), or a single CPU."""
        path = getattr(store, "path", None)
        if store.dialect != "sqlite" or not isinstance(path, Path) or cpus() < 2:
            return None
        return cls(path, config, busy_timeout=getattr(store, "busy_timeout", 30.0), **kwargs)

    @property
    def running(self) -> bool:
        """Whether a child is running (the batch reached :attr:`start_at` leaves)."""
        return self._link is not None

    # -- the ingest's hook --------------------------------------------------------------------
    def written(self, rows: list[FacetedRow]) -> None:
        """The ``written`` hook: a chunk was inserted in the batch's transaction."""
        if self.broken is not None or not rows:
            return
        try:
            self._written(rows)
        except Exception as exc:
            self._break(f"{type(exc).__name__} at {where(exc)}")

    def _written(self, rows: Sequence[FacetedRow]) -> None:
        first = rows[0][0]
        if self._next is None:
            self._first = first
        elif first != self._next:  # never so in one transaction; do not guess
            self._break("the batch's leaves are not contiguous")
            return
        self._next = rows[-1][0] + 1
        if self._next - first != len(rows):
            self._break("the batch's leaves are not contiguous")
            return
        # Canonical JSON has no raw line break: one line per body (the child checks the count).
        payload = "\n".join([row[7] for row in rows]).encode()  # the bodies
        self._count += len(rows)
        link = self._link
        if link is None:
            self._held.append((first, len(rows), payload))
            if self._count >= self.start_at and self._first is not None:
                link = self._link = _Link.start(self.path.parent)
                link.send(
                    _Begin(
                        str(self.path),
                        self.busy_timeout,
                        self.config,
                        self._first,
                        self.clock(),
                        SUMS_EVERY,
                    )
                )
                for held in self._held:
                    link.send_rows(*held)
                self._held = []
            return
        try:
            link.send_rows(first, len(rows), payload)
        except OSError:  # the child ended: say why if it could
            if self._heard(link):
                self._break("the detection process ended")
            return
        self._heard(link)

    def _heard(self, link: _Link) -> bool:
        """Read what the child said meanwhile, without waiting: that it is ready, or that it
        gave up (refused or failed: stop feeding it). Whether it is still of use."""
        while self.broken is None and link.readable(0):
            self._take(link.receive())
        return self.broken is None

    def _take(self, message: object) -> None:
        """What the child said: that it is ready, sums, or that it gave up (refused or
        failed: stop feeding it)."""
        if isinstance(message, _Ready):
            self.ready = True
        elif isinstance(message, Sums):
            self._sums.append(message)
        elif isinstance(message, _LastSums):
            self._sums.append(message.sums)
        else:
            self._break(_why(message))

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
            _logger.info("live detection beside the ingest stopped: %s", why)
        self.close()

    def sums(self, last: bool) -> list[Sums]:
        """The ``sums`` hook: the leaf hashes and slice leaves of the leaves handed to the
        child, which it computes from their bodies and sends every :data:`SUMS_EVERY` leaves:
        those received (``last=False``: as :meth:`written` heard them), or, once every chunk
        is inserted (``last=True``, before the commit), all the rest, waiting for them. What
        it cannot give (it failed, or is still starting: the batch is small) the ingest sums
        from the stored bodies."""
        link = self._link
        if last and link is not None and self.broken is None:
            try:
                if self._heard(link) and (self.ready or self.patient):
                    link.send(_SumsPlease())
                    while self.broken is None:
                        message = link.wait()
                        self._take(message)
                        if isinstance(message, _LastSums):
                            break
            except Exception as exc:
                self._break(f"{type(exc).__name__} at {where(exc)}")
        # Otherwise what :meth:`written` heard as it handed the chunk (it reads the socket).
        given, self._sums = self._sums, []
        return given

    # -- after the commit ---------------------------------------------------------------------
    def result(self, now_us: int | None = None) -> Ahead | None:
        """The child's result, once the batch committed; ``None`` when it cannot be used (then
        detect after the commit). ``now_us``: the wall clock at which to release what the
        reorder buffer holds."""
        link = self._link
        if self.broken is not None or link is None:
            self.close()
            return None
        try:
            if not self._heard(link):
                return None
            if not self.ready and self.patient:
                message = link.wait()  # ready, or why not
                if isinstance(message, _Ready):
                    self.ready = True
                else:
                    self._break(_why(message))
                    return None
            if not self.ready:
                # Still starting (or loading the saved state) though the batch is stored:
                # detecting it here is quicker than waiting for the child to start, then do it.
                self._break("the detection process was not ready when the batch committed")
                return None
            link.send(_End(self.clock() if now_us is None else now_us))
            message = link.wait()
        except Exception as exc:
            self._break(f"{type(exc).__name__} at {where(exc)}")
            return None
        finally:
            self.close()
        if not isinstance(message, Ahead):
            self._break(_why(message))
            return None
        ahead = message
        if (ahead.start, ahead.end) != (self._first, self._next):
            self._break("the detection process saw other leaves than the batch's")
            return None
        return ahead

    def close(self) -> None:
        """Stop the child, if any (a rolled-back batch: its work is dropped); idempotent."""
        link, self._link = self._link, None
        self._held = []
        if link is not None:
            link.stop()

    def __enter__(self) -> Beside:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _send(out: IO[bytes], message: object) -> None:
    """Write one message (either way on the socket pair): pickled, then flushed."""
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _why(message: object) -> str:
    if message is None:
        return "the detection process ended"
    if isinstance(message, _Stopped):
        return message.why
    return f"unexpected message {type(message).__name__}"


@dataclass(slots=True)
class _Link:
    """A running child: its process, the socket pair's end and the bodies' file."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    out: IO[bytes]
    inp: IO[bytes]
    file: IO[bytes]

    @classmethod
    def start(cls, folder: Path) -> _Link:
        parent, child = socket.socketpair()
        # Anonymous (O_TMPFILE where the system has it), mode 0600, in the data directory.
        file = tempfile.TemporaryFile(dir=folder, prefix=".live-")
        code = "from sentinelle.detect.pipelined import _child_main; _child_main()"
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", code, str(child.fileno()), str(file.fileno())],
                pass_fds=(child.fileno(), file.fileno()),
                stdin=subprocess.DEVNULL,
                close_fds=True,
                # Its own session: the terminal's signals (Ctrl-C, Ctrl-Z, hang-up) are for the
                # command, which stops the child; Linux's autogroup schedules it as its own.
                start_new_session=True,
            )
        except BaseException:
            parent.close()
            file.close()
            raise
        finally:
            child.close()
        return cls(proc, parent, parent.makefile("wb"), parent.makefile("rb"), file)

    def send(self, message: object) -> None:
        _send(self.out, message)

    def send_rows(self, first: int, count: int, payload: bytes) -> None:
        self.file.write(payload)
        self.file.flush()
        self.send(_Rows(first, count, len(payload)))

    def readable(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready)

    def receive(self) -> object:
        """The child's next message; ``None`` if it ended without one."""
        try:
            return pickle.load(self.inp)  # noqa: S301 - our own child, over a socket pair
        except (EOFError, OSError, pickle.UnpicklingError):
            return None

    def wait(self) -> object:
        """The child's answer; ``None`` if it ended without one."""
        while not self.readable(0.5):
            if self.proc.poll() is not None:
                return None
        return self.receive()

    def stop(self) -> None:
        # It writes nothing, and any result it had was taken: stopping it loses nothing.
        self.proc.kill()
        self.proc.wait()
        for handle in (self.out, self.inp, self.sock, self.file):
            with contextlib.suppress(OSError):
                handle.close()


# -- the child --------------------------------------------------------------------------------


def _child_main() -> None:
    """Entry point of the child process: ``argv``: the socket's and the file's descriptors."""
    # Interrupting is the parent's: it stops the child (which writes nothing) in any case.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    data = os.fdopen(int(sys.argv[2]), "rb", buffering=0)
    out = sock.makefile("wb")
    inp = sock.makefile("rb")

    try:
        reply = _child(lambda: pickle.load(inp), lambda message: _send(out, message), data)  # noqa: S301
    except (EOFError, BrokenPipeError):
        return  # the parent is gone or stopped us: nothing to say
    except Exception as exc:
        # The type and place only: an exception's text can carry event data.
        reply = _Stopped(f"{type(exc).__name__} at {where(exc)}")
    if reply is not None:
        with contextlib.suppress(OSError):
            _send(out, reply)


def _child(
    receive: Callable[[], object], say: Callable[[object], None], data: IO[bytes]
) -> Ahead | _Stopped | None:
    from sentinelle.detect.engine import Engine, decode_stored
    from sentinelle.detect.runner import _load
    from sentinelle.detect.triage import Suppressions
    from sentinelle.store.sqlite import SQLiteStore

    begin = receive()
    if not isinstance(begin, _Begin):
        return None
    first, now_us = begin.first, begin.now_us
    path = Path(begin.path)
    # A reader: the ingest may be a first load, which writes in rollback-journal mode.
    store = SQLiteStore.open(path, busy_timeout=begin.busy_timeout, create=False, reader=True)
    try:
        saved = _saved_state(path)
        suppressions = store.suppressions()
    finally:
        store.close()
    cursor = saved[0] if saved else 0
    if cursor != first:
        return _Stopped(f"the detection cursor ({cursor}) is not at the batch's start")
    engine = Engine(
        begin.config, _load(saved[1]) if saved else None, suppressions=Suppressions(suppressions)
    )
    for_bulk_process()  # the saved state loaded, kept out of the collector's passes
    say(_Ready())
    changed: dict[str, Alert] = {}

    def feed(rows: list[tuple[int, str]], now: int, events: list[Any] | None = None) -> None:
        for alert in engine.feed(rows, now_us=now, events=events):
            changed[alert.id] = alert

    group: list[tuple[int, str]] = []
    decoded: list[Any] = []  # the group's events, decoded once for the sums and the engine
    sums = Sums.starting(first)
    summed = False  # the sums were asked: every chunk is in
    offset = 0
    expected = first
    while True:
        message = receive()
        if isinstance(message, _Rows):
            seq, count, length = message.first, message.count, message.length
            if seq != expected or summed:
                return _Stopped("leaves out of order")
            raw = os.pread(data.fileno(), length, offset)
            bodies = raw.decode().split("\n")
            offset += length
            if len(bodies) != count:
                return _Stopped("a chunk did not hold as many bodies as leaves")
            expected += count
            events = [decode_stored(body) for body in bodies]
            sums.add(seq, events, raw.split(b"\n"))
            if sums.end - sums.first >= begin.sums_every:
                say(sums)
                sums = Sums.starting(sums.end)
            group += zip(range(seq, seq + count), bodies, strict=True)
            decoded += events
            while len(group) >= GROUP:  # groups of GROUP leaves from the batch's first
                feed(group[:GROUP], now_us, decoded[:GROUP])
                group, decoded = group[GROUP:], decoded[GROUP:]
        elif isinstance(message, _SumsPlease):
            say(_LastSums(sums))
            summed = True
            # No leaf comes after: the last group is fed now, with the clock it would be fed
            # with at the end, while the ingest writes the tree and commits.
            if group:
                feed(group, now_us, decoded)
                group, decoded = [], []
        elif isinstance(message, _End):
            if group:
                feed(group, now_us, decoded)
            if engine.state.pending:  # the wall clock of the commit may release some
                feed([], message.now_us)
            engine.state.failures = 0
            return Ahead(
                start=first,
                end=expected,
                state_digest=hashlib.sha256(saved[1]).digest() if saved else b"",
                suppressions=suppressions,
                alerts=list(changed.values()),
                state=engine.dump_state(),
                late_skipped=engine.late_skipped,
                late_oldest_us=engine.late_oldest_us,
                detector_errors=dict(engine.detector_errors),
                unchecked=engine.unchecked,
                cited=engine.cited,
                unmatched=engine.unmatched,
            )
        else:
            return None


def _saved_state(path: Path) -> tuple[int, bytes] | None:
    """Live detection's ``(cursor, state)`` as committed, read on a read-only connection."""
    import sqlite3

    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT cursor, state FROM detect_state WHERE id = 1").fetchone()
    finally:
        conn.close()
    return (int(row[0]), bytes(row[1])) if row else None
