"""A batch decoded into chunks: what ingest stores, computed apart from the storing.

Ingest decodes and validates every event of a batch, then stores it chunk by chunk in one
transaction (:mod:`sentinelle.ingest.pipeline`). Everything a chunk needs that depends only
on its events is built here, by :func:`build_chunk`: the rows, the ledger's leaf hashes, the
actors' activity tally, the customers the events name and what machines read. The storing
side then only writes and grows the trees. :class:`Decoding` does it in the storing process;
:mod:`sentinelle.ingest.reader` does the same in a process beside it, for large files.

A chunk's rows are numbered from the ledger size the batch started at plus the events
decoded before it. When the storing side finds re-sent ids (the rare case), it drops them and
builds the chunk again with :func:`build_chunk`, from its events or, for a chunk decoded in
another process, from the canonical bodies it carries (they decode to the same events); the
chunks after it only move their numbers back (:func:`renumbered`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Final

from sentinelle.errors import Problem, ValidationError
from sentinelle.events import AccessEvent, EventError, decode_canonical
from sentinelle.ledger.log import event_row
from sentinelle.ledger.slices import event_slice_leaves, slice_leaves
from sentinelle.store.accesses import SubjectRow, facets_of, subject_rows
from sentinelle.store.activity import ActivityTally
from sentinelle.store.events import FacetedRow
from sentinelle.store.integrations import MachineUses, machine_uses

__all__ = [
    "MAX_PROBLEMS",
    "Chunk",
    "Decoding",
    "Sums",
    "build_chunk",
    "events_of",
    "renumbered",
]

MAX_PROBLEMS: Final = 20


@dataclass(slots=True)
class Chunk:
    """Consecutive events of a batch, ready to store.

    ``rows``: numbered from the first leaf the chunk expects; ``hashes``: their leaf hashes;
    ``tally``, ``subjects``, ``machines``, ``slices``: what they add to the activity rollup,
    the customers' index, the inventory and the merchants' slices (their leaf hashes, which
    hold the rows' numbers); ``events``: the decoded events (``None`` when the
    chunk was decoded in another process); ``read``: bytes of input read so far (progress;
    0 when unknown).
    """

    rows: list[FacetedRow]
    hashes: list[bytes]
    tally: ActivityTally
    subjects: list[SubjectRow]
    machines: MachineUses
    slices: list[tuple[str, bytes]]
    events: list[object] | None
    read: int = 0


def build_chunk(
    first: int,
    events: list[object],
    bodies: Sequence[bytes],
    rows: list[FacetedRow] | None = None,
    *,
    sums: bool = True,
) -> Chunk:
    """The chunk of ``events`` (decoded, with their canonical ``bodies``) from leaf ``first``
    (``rows``: their rows, if already built from ``first``). ``sums=False``: without the leaf
    hashes and slice leaf hashes (:class:`Sums`, computed elsewhere)."""
    if rows is None:
        rows = [
            _row(seq, event, body)
            for seq, event, body in zip(
                range(first, first + len(bodies)), events, bodies, strict=True
            )
        ]
    hashes = [sha256(b"\x00" + body).digest() for body in bodies] if sums else []
    tally = ActivityTally()
    tally.add(rows, events)
    return Chunk(
        rows,
        hashes,
        tally,
        subject_rows(rows, events),
        machine_uses(rows, events),
        slice_leaves(rows, hashes) if sums else [],
        events,
    )


@dataclass(slots=True)
class Sums:
    """What the leaves ``[first, end)`` of a batch add to the ledger's tree (their leaf
    hashes, 32 bytes each, in order) and the merchants' slices (:func:`slice_leaves`): the
    hashing of its chunks, which live detection's process does beside the storing
    (:mod:`sentinelle.detect.pipelined`), from the bodies it is handed anyway.
    """

    first: int
    end: int
    hashes: bytearray
    slices: list[tuple[str, bytes]]

    @classmethod
    def starting(cls, first: int) -> Sums:
        """No leaves yet, the first to come being ``first``."""
        return cls(first, first, bytearray(), [])

    def add(self, first: int, events: Sequence[Any], bodies: Sequence[bytes]) -> None:
        """Add the leaves from ``first`` (the next one: else :class:`ValueError`), their
        decoded ``events`` and canonical ``bodies``."""
        if first != self.end:
            raise ValueError(f"leaves from {first}, where {self.end} comes next")
        hashes = [sha256(b"\x00" + body).digest() for body in bodies]
        self.hashes += b"".join(hashes)
        self.slices += event_slice_leaves(first, events, hashes)
        self.end = first + len(bodies)

    def leaf_hashes(self) -> list[bytes]:
        """The leaf hashes, one ``bytes`` each."""
        h = bytes(self.hashes)
        return [h[i : i + 32] for i in range(0, len(h), 32)]


def _row(seq: int, event: object, body: bytes) -> FacetedRow:
    page = facets_of(event) if event.__class__ is AccessEvent else None
    return event_row(seq, event, body.decode(), page)  # type: ignore[arg-type]


def renumbered(chunk: Chunk, first: int) -> Chunk:
    """``chunk`` with its rows numbered from ``first`` (re-sent ids were dropped before it):
    the rows, customers and slice leaf hashes hold the numbers; the rest does not change."""
    shift = first - chunk.rows[0][0]
    rows = [(row[0] + shift, *row[1:]) for row in chunk.rows]
    return Chunk(
        rows,
        chunk.hashes,
        chunk.tally,
        [(merchant, subject, seq + shift) for merchant, subject, seq in chunk.subjects],
        chunk.machines,
        slice_leaves(rows, chunk.hashes) if chunk.hashes else [],
        chunk.events,
        chunk.read,
    )


def events_of(chunk: Chunk, kept: Sequence[int] | None = None) -> list[object]:
    """``chunk``'s decoded events (only those at the indexes ``kept``, if given): its own, or
    decoded again from its canonical bodies."""
    picked = range(len(chunk.rows)) if kept is None else kept
    if chunk.events is not None:
        return [chunk.events[i] for i in picked]
    return [decode_canonical(chunk.rows[i][7])[0] for i in picked]


class Decoding:
    """Decodes ``(location, raw JSON)`` items into chunks, in this process.

    ``received`` counts the items once :meth:`chunks` is done (while it runs: the items of the
    chunks given, up to the one at ``location``). Invalid items are reported
    together: after the first, the rest is only validated (up to :data:`MAX_PROBLEMS`
    problems) and no more chunks come; then :class:`ValidationError` is raised.
    """

    def __init__(
        self, items: Iterable[tuple[int, bytes | str]], *, unit: str = "line", sums: bool = True
    ) -> None:
        self.items = items
        self.unit = unit
        self.sums = sums  # build_chunk's
        self.received = 0
        self.location = 0  # of the last item of the last chunk given

    def chunks(self, first: int, size: int) -> Iterator[Chunk]:
        """Chunks of up to ``size`` events, their rows numbered from ``first``."""
        problems: list[Problem] = []
        events: list[object] = []
        bodies: list[bytes] = []
        rows: list[FacetedRow] = []
        received = 0
        seq = first
        # The hot loop: names bound to locals; each row built while its event is fresh.
        decode, row, sums = decode_canonical, _row, self.sums
        for location, raw in self.items:
            received += 1
            try:
                event, body = decode(raw)
            except EventError as exc:
                if len(problems) == MAX_PROBLEMS:
                    raise ValidationError(problems, unit=self.unit, truncated=True) from None
                problems.append(Problem(location, exc.path, exc.message))
                continue
            if problems:
                continue  # the batch is refused: only look for more problems
            rows.append(row(seq, event, body))
            events.append(event)
            bodies.append(body)
            seq += 1
            if len(rows) >= size:
                self.received, self.location = received, location
                yield build_chunk(first, events, bodies, rows, sums=sums)
                first = seq
                events, bodies, rows = [], [], []
        self.received = received
        if problems:
            raise ValidationError(problems, unit=self.unit)
        if rows:
            self.location = location  # the last item's: rows hold at least one
            yield build_chunk(first, events, bodies, rows, sums=sums)
