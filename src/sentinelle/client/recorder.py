"""Events to Sentinelle in batches: queued in memory, sent by a background thread at
``batch_size`` events or every ``interval`` seconds, retried until they are in, never dropped
silently.

Every event carries its own id, made once on the client: sending a batch again after a lost
answer is harmless, since ingest (``POST /v1/events``) drops ids it already holds. That is
what makes retrying safe, here and across processes.

The queue is bounded (``max_queue`` events). When it is full — Sentinelle has been unreachable
for a while — the queue is written to the **journal**, a directory of NDJSON files (one event
per line, files ``0600`` in a ``0700`` directory), and sent from there when Sentinelle answers
again, by this process or any other using the same directory (a file is locked while it is
written or sent, so two processes never send the same lines at once, and sending one twice
would be harmless anyway). Without a journal, a full queue refuses the event
(:class:`~sentinelle.client.errors.RecordError`) rather than dropping it. :meth:`Recorder.close`
sends what is left, and writes to the journal what it could not send (or raises, naming how
many events were not kept). Events Sentinelle refuses as invalid (a 422 naming them) are moved
to ``rejected-*.ndjson`` in the journal (never resent), or logged whole without one: they hold
identifiers and categories only, no customer's personal data.

Files are locked with ``fcntl`` (POSIX).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

from sentinelle.client.errors import ClientError, GuardRequestError, RecordError
from sentinelle.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["Recorder", "SendError", "Sender"]

_logger = logging.getLogger(__name__)

#: ``send(batch)`` posts the events (JSON bytes each). It returns when they are stored, raises
#: :class:`SendError` when Sentinelle could not be reached (retry later) and
#: :class:`~sentinelle.client.errors.GuardRequestError` when it refused them.
Sender = Callable[[list[bytes]], None]

_SUFFIX: Final = ".ndjson"
_REJECTED: Final = "rejected-"
_MAX_BACKOFF: Final = 60.0
_jitter: Final = random.Random()  # noqa: S311 - spreads retries, not a secret


class SendError(Exception):
    """Sentinelle could not be reached, or answered 5xx/429: the batch is kept and retried."""


class Recorder:
    """A bounded, batched, retried, journaled queue of events for ``send``.

    ``batch_size`` events make a batch (and wake the sender), ``interval`` seconds is the
    longest an event waits while Sentinelle answers, ``max_queue`` the most kept in memory,
    ``journal`` the directory full queues spill to (``None``: refuse events when full).
    """

    def __init__(
        self,
        send: Sender,
        *,
        batch_size: int = 100,
        interval: float = 5.0,
        max_queue: int = 10_000,
        journal: Path | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < batch_size or interval <= 0:
            raise ConfigError(
                "recorder: batch_size must be 1 or more, max_queue at least batch_size and "
                f"interval above 0 (got {batch_size}, {max_queue}, {interval})"
            )
        if journal is not None:
            if fcntl is None:  # pragma: no cover - not POSIX
                raise ConfigError("the journal needs POSIX file locks (fcntl)")
            journal.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._send = send
        self._batch_size = batch_size
        self._interval = interval
        self._max_queue = max_queue
        self._journal = journal
        self._spill_name = f"{os.getpid()}-{secrets.token_hex(6)}{_SUFFIX}"
        self._queue: list[bytes] = []
        #: Spills so far: a batch taken before a spill was journaled with the whole queue.
        self._spills = 0
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sentinelle-recorder", daemon=True)
        self._thread.start()

    # -- the caller's side ---------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events in memory, not yet sent."""
        with self._cond:
            return len(self._queue)

    def put(self, event: bytes) -> None:
        """Queue one event (its JSON). A full queue goes to the journal first.

        Raises :class:`RecordError` when the queue is full and there is no journal (or it
        cannot be written), or the recorder is closed.
        """
        with self._cond:
            if self._closed:
                raise RecordError("the recorder is closed: the event was not queued")
            if len(self._queue) >= self._max_queue:
                if self._journal is None:
                    _logger.error("event queue full (%d); event refused", self._max_queue)
                    raise RecordError(
                        f"{self._max_queue} events are waiting for Sentinelle (the queue is "
                        "full) and no journal is configured: the event was not queued"
                    )
                try:
                    self._spill(self._queue)
                except OSError as exc:  # the events stay queued; this one is refused
                    _logger.error("event queue full and the journal cannot be written: %s", exc)
                    raise RecordError(
                        f"{self._max_queue} events are waiting for Sentinelle (the queue is "
                        f"full) and the journal cannot be written ({exc}): the event was not "
                        "queued"
                    ) from None
                self._queue = []
                self._spills += 1
            self._queue.append(event)
            if len(self._queue) >= self._batch_size:
                self._cond.notify_all()

    def flush(self) -> int:
        """Send every queued event and every journal file now; the number of events sent.

        Raises :class:`RecordError` when Sentinelle cannot be reached (the events stay
        queued) and :class:`GuardRequestError` when it refuses them (e.g. a key without
        ``events:write``; they stay queued too).
        """
        try:
            with self._send_lock:
                return self._send_all()
        except SendError as exc:
            raise RecordError(
                f"Sentinelle could not be reached ({exc}): {self.pending} event(s) stay queued"
            ) from None

    def close(self) -> None:
        """Stop the sender, send what is left and journal what could not be sent.

        Raises :class:`RecordError` when events could be neither sent nor journaled (no
        journal, or it cannot be written): their count is in the message and the log.
        """
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        try:
            self.flush()
        except ClientError as exc:
            _logger.warning("closing: %s", exc.diagnostics())
        except Exception:  # as in the sender: a bug must not cost the events, kept below
            _logger.exception("closing: sending events failed")
        with self._cond:
            self._closed = True
            left, self._queue = self._queue, []
        if not left:
            return
        if self._journal is not None:
            try:
                self._spill(left)
            except OSError as exc:
                _logger.error("closing: %d event(s) could not be journaled: %s", len(left), exc)
                raise RecordError(
                    f"{len(left)} event(s) could not be sent to Sentinelle nor written to the "
                    f"journal ({exc}): they are not kept"
                ) from None
            _logger.warning(
                "closing: %d event(s) written to the journal %s", len(left), self._journal
            )
            return
        _logger.error("closing: %d event(s) could not be sent and no journal is set", len(left))
        raise RecordError(
            f"{len(left)} event(s) could not be sent to Sentinelle and no journal is "
            "configured: they are not kept"
        )

    # -- the sender's side ---------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cond:
                wait = self._interval if not failures else _backoff(failures, self._interval)
                end = time.monotonic() + wait
                while not self._closing:
                    # After a failure, only the backoff wakes it: a full queue would spin.
                    if not failures and len(self._queue) >= self._batch_size:
                        break
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closing:
                    return
            try:
                with self._send_lock:
                    self._send_all()
                failures = 0
            except SendError as exc:
                failures += 1
                _logger.warning("Sentinelle unreachable, %d event(s) queued: %s", self.pending, exc)
            except GuardRequestError as exc:
                failures += 1
                _logger.error("Sentinelle refused events (they stay queued): %s", exc.diagnostics())
            except Exception:  # the sender must outlive any bug: events stay queued
                failures += 1
                _logger.exception("sending events failed; they stay queued")

    def _send_all(self) -> int:
        """Send the queue, then the journal; under ``_send_lock``."""
        sent = 0
        while True:
            with self._cond:
                batch = self._queue[: self._batch_size]
                spills = self._spills
            if not batch:
                break
            kept = self._deliver(batch)
            with self._cond:
                # put() only appends, so the head is the batch sent -- unless a full queue
                # was spilled meanwhile: the batch went to the journal with it, and the head
                # is now events never sent (the journal's copy is sent below; twice is
                # harmless, ingest drops ids it holds).
                if self._spills == spills:
                    del self._queue[: len(batch)]
            sent += kept
        if self._journal is not None:
            for path in sorted(self._journal.glob(f"*{_SUFFIX}")):
                if not path.name.startswith(_REJECTED):
                    sent += self._drain(path)
        return sent

    def _deliver(self, batch: list[bytes]) -> int:
        """Send ``batch``; events refused as invalid are set aside. Returns how many were sent."""
        try:
            self._send(batch)
            return len(batch)
        except GuardRequestError as exc:
            bad = _refused_indexes(exc, len(batch))
            if not bad:
                raise
            self._reject([batch[i] for i in sorted(bad)], exc)
        good = [e for i, e in enumerate(batch) if i not in bad]
        if good:
            self._send(good)
        return len(good)

    def _reject(self, events: list[bytes], exc: GuardRequestError) -> None:
        if self._journal is not None:
            name = f"{_REJECTED}{self._spill_name}"
            self._append(self._journal / name, events)
            _logger.error(
                "Sentinelle refused %d invalid event(s), kept in %s: %s",
                len(events),
                self._journal / name,
                exc.detail,
            )
            return
        for event in events:  # identifiers and categories only: safe to log
            _logger.error(
                "Sentinelle refused an invalid event (%s): %s", exc.detail, event.decode()
            )

    def _drain(self, path: Path) -> int:
        """Send one journal file, locked; remove it once sent (rewrite what is left)."""
        try:
            handle = path.open("r+b")
        except FileNotFoundError:  # another process sent it
            return 0
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # being written or sent elsewhere: next time
                return 0
            if not _same_file(handle, path):
                return 0
            lines = [line for line in handle.read().split(b"\n") if line.strip()]
            sent = 0
            try:
                for start in range(0, len(lines), self._batch_size):
                    sent += self._deliver(lines[start : start + self._batch_size])
                    # Sent: the file keeps only what is left, should the next batch fail.
                    _rewrite(handle, lines[start + self._batch_size :])
            finally:
                if handle.tell() == 0:
                    path.unlink()
            return sent

    def _spill(self, events: list[bytes]) -> None:
        assert self._journal is not None  # noqa: S101 - callers check
        self._append(self._journal / self._spill_name, events)

    def _append(self, path: Path, events: list[bytes]) -> None:
        """Append ``events`` to ``path`` under its lock, and sync them to disk."""
        with _locked_append(path) as handle:
            handle.write(b"".join(e + b"\n" for e in events))
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def _locked_append(path: Path) -> Iterator[IO[bytes]]:
    """``path`` open for appending and locked — the file at ``path`` now, not one a sender
    removed between our open and our lock."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if _same_file(handle, path):
                yield handle
                return
        finally:
            handle.close()


def _same_file(handle: IO[bytes], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _rewrite(handle: IO[bytes], lines: list[bytes]) -> None:
    handle.seek(0)
    handle.truncate()
    if lines:
        handle.write(b"".join(line + b"\n" for line in lines))
    handle.flush()
    os.fsync(handle.fileno())


def _refused_indexes(exc: GuardRequestError, size: int) -> set[int]:
    """The indexes of the events a 422 names (``errors[].index``); empty for other refusals."""
    if exc.status != 422 or not exc.errors:
        return set()
    found = {e.get("index") for e in exc.errors}
    return {i for i in found if isinstance(i, int) and 0 <= i < size}


def _backoff(failures: int, base: float, cap: float = _MAX_BACKOFF) -> float:
    """Capped exponential backoff with jitter: between half and all of base × 2^(failures-1),
    at most ``cap`` (the decisions' retries use it too, with their own base and cap)."""
    delay = min(cap, base * 2.0 ** min(failures - 1, 16))
    return delay / 2 + _jitter.uniform(0, delay / 2)
