"""Collects generated events, puts them in time order and gives them their ids.

Events are generated out of order (one agent's day after another's, tickets closing days
later), so each is encoded at once (msgspec, without its id) and kept in a bucket per UTC
day. A day's bucket is sorted and written out once nothing more can land in it; ids
(``evt-NNNNNNNN`` for access events, ``ctx-NNNNNNNN`` for context events, one counter) are
given in that final time order, so they say nothing about how an event was generated.

Events an insider scenario produced are marked when generated; their ids, merchants and
exposed customers are collected here as they are written, so the ground truth is exactly
what the written events contain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

__all__ = ["Emitter", "Marked"]

_DAY: Final = 86_400


@dataclass(slots=True)
class Marked:
    """What the malicious events of one scenario touched, in the order they were written."""

    events: list[str] = field(default_factory=list)
    merchants: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    first: int | None = None
    last: int | None = None


class Emitter:
    """Time-ordered, id-numbered JSON lines from events generated in any order."""

    def __init__(self, *, start_ts: int, end_ts: int, scenarios: int) -> None:
        self.start_ts = start_ts
        self.end_ts = end_ts
        self.marked = [Marked() for _ in range(scenarios)]
        self.access_events = 0
        self.context_events = 0
        self._encode = msgspec.json.Encoder().encode
        self._buckets: dict[int, list[tuple[int, int, bool, bytes]]] = {}
        self._marks: dict[int, tuple[int, str, list[str] | None, int]] = {}
        self._seq = 0
        self._written = 0
        self._flushed = 0  # buckets below this day have been written

    def access(
        self, ts: int, event: dict[str, Any], mark: int | None = None, arrival: int | None = None
    ) -> None:
        """Add an access event (without ``id``); ``mark`` is the index of the scenario
        it belongs to, if any; ``arrival``, when later than ``ts``, is when it is delivered
        (the stream is in delivery order: a late event comes after later ones)."""
        if not self.start_ts <= ts < self.end_ts:
            return
        self._seq += 1
        if mark is not None:
            self._marks[self._seq] = (mark, event["merchant"], event.get("subjects"), ts)
        if arrival is not None and arrival > ts:
            ts = min(arrival, self.end_ts - 1)
        self._add(ts, False, event)

    def context(self, ts: int, event: dict[str, Any]) -> None:
        """Add a context event (without ``id``)."""
        if not self.start_ts <= ts < self.end_ts:
            return
        self._seq += 1
        self._add(ts, True, event)

    def _add(self, ts: int, is_context: bool, event: dict[str, Any]) -> None:
        day = (ts - self.start_ts) // _DAY
        if day < self._flushed:
            raise RuntimeError(f"simulator bug: event at {ts} after its day was written")
        bucket = self._buckets.get(day)
        if bucket is None:
            bucket = self._buckets[day] = []
        bucket.append((ts, self._seq, is_context, self._encode(event)))

    def flush(self, before_day: int | None = None) -> Iterator[bytes]:
        """Write out, in time order, every bucket before ``before_day`` (all when ``None``)."""
        ready = sorted(d for d in self._buckets if before_day is None or d < before_day)
        for day in ready:
            items = self._buckets.pop(day)
            items.sort()
            yield from self._lines(items)
        if before_day is not None:
            self._flushed = max(self._flushed, before_day)

    def _lines(self, items: list[tuple[int, int, bool, bytes]]) -> Iterator[bytes]:
        marks = self._marks
        n = self._written
        for _ts, seq, is_context, body in items:
            n += 1
            if is_context:
                self.context_events += 1
                head = b'{"id":"ctx-%08d",' % n
            else:
                self.access_events += 1
                head = b'{"id":"evt-%08d",' % n
            if marks:
                mark = marks.pop(seq, None)
                if mark is not None:
                    self._record(mark, n)
            yield head + body[1:] + b"\n"
        self._written = n

    def _record(self, mark: tuple[int, str, list[str] | None, int], n: int) -> None:
        index, merchant, subjects, ts = mark
        marked = self.marked[index]
        marked.events.append(f"evt-{n:08d}")
        marked.merchants.add(merchant)
        if subjects:
            marked.subjects.update(subjects)
        if marked.first is None or ts < marked.first:
            marked.first = ts
        if marked.last is None or ts > marked.last:
            marked.last = ts
