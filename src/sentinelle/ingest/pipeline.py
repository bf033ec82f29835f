"""Ingest a batch of events into the store and the ledger, all or nothing.

A batch (a file, a stream, an HTTP request) is one write transaction. Events are decoded and
validated one by one and written in chunks inside that transaction
(:mod:`sentinelle.ingest.chunks`; for a large file, decoded in a process beside this one,
:mod:`sentinelle.ingest.reader`); if any is invalid, the rest is only validated (to report
up to :data:`MAX_PROBLEMS` problems) and the transaction is rolled back, so nothing of the
batch is stored. Re-sent event ids are no-ops, reported as duplicates, also within a batch.
Each committed batch that added events is closed by a signed checkpoint. The actors' activity
per day (:mod:`sentinelle.store.activity`) is added up from the events actually inserted and
written in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, Final, Protocol

from sentinelle.collector import bulk_work
from sentinelle.errors import StoreError
from sentinelle.events import decode_canonical
from sentinelle.ingest.chunks import (
    MAX_PROBLEMS,
    Chunk,
    Decoding,
    Sums,
    build_chunk,
    events_of,
    renumbered,
)
from sentinelle.ingest.files import bytes_read, events_in, iter_json_lines
from sentinelle.ingest.reader import Reader
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.slices import SliceBatch, SliceGrower
from sentinelle.ledger.tiles import TreeBuilder
from sentinelle.store import DuplicateIdsError, FacetedRow, Store, Writer
from sentinelle.store.activity import ActivityTally

__all__ = ["MAX_PROBLEMS", "ChunkSource", "IngestResult", "Ingestor"]

_logger = logging.getLogger(__name__)

#: A batch known to hold this many events or more, and twice the events stored or more, is a
#: bulk load: the events' secondary indexes are built once at its commit (on SQLite).
BULK_EVENTS: Final = 50_000

_MAX_LISTED: Final = 100
_PROGRESS_EVERY: Final = 4096  # lines between progress calls


@dataclass(slots=True)
class IngestResult:
    """What a batch did: events received, stored and skipped as already stored."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    duplicate_ids: list[str] = field(default_factory=list)
    conflicting_ids: list[str] = field(default_factory=list)
    ledger_size: int = 0
    checkpoint: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON form, as the API and ``ingest --json`` print it."""
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "duplicate_ids": self.duplicate_ids,
            "conflicting_ids": self.conflicting_ids,
            "ledger_size": self.ledger_size,
            "checkpoint": self.checkpoint,
        }


class ChunkSource(Protocol):
    """Where a batch's decoded chunks come from (:class:`~sentinelle.ingest.chunks.Decoding`
    or :class:`~sentinelle.ingest.reader.Reader`)."""

    received: int

    def chunks(self, first: int, size: int) -> Iterator[Chunk]: ...


class Ingestor:
    """Writes validated batches to a store and its ledger."""

    def __init__(self, store: Store, ledger: Ledger, *, chunk: int = 1024) -> None:
        # ``chunk``: events decoded, then inserted, at a time. 1024 rather than 4096: fewer
        # decoded events alive at once, so the collector's full passes stop (none in 100k
        # events) and the chunk stays in the CPU's caches; about 6% less CPU on SQLite, and no
        # slower on PostgreSQL (one COPY per chunk).
        self.store = store
        self.ledger = ledger
        self.chunk = chunk

    def ingest(
        self,
        items: Iterable[tuple[int, bytes | str]],
        *,
        unit: str = "line",
        also: Callable[[Writer, IngestResult], None] | None = None,
        written: Callable[[list[FacetedRow]], None] | None = None,
        sums: Callable[[bool], list[Sums]] | None = None,
        expected: int = 0,
    ) -> IngestResult:
        """Ingest ``(location, raw JSON)`` items as one batch.

        ``location`` is what an error report names (a line number or array index).
        Raises :class:`ValidationError` (nothing stored) if any item is invalid.
        ``also`` runs in the batch's transaction once the events and the checkpoint are
        written, with the result so far: what it writes commits with the events or not at
        all (the guard stores its decisions' answers so). ``written`` is called with each
        chunk's rows once they are inserted in the transaction (not yet committed;
        duplicates left out): live detection reads them from it beside the storing of the
        next chunk (:mod:`sentinelle.detect.pipelined`). It must not raise. ``sums``: with
        ``written``, what computes the chunks' leaf hashes and slice leaves from the rows it
        was handed (live detection's process does, beside the storing): called after each
        chunk with ``False``, it returns the :class:`~sentinelle.ingest.chunks.Sums` it has
        ready, in leaf order, without waiting; once every chunk is inserted, with ``True``,
        the rest, waiting for them. Leaves it does not give (it failed), or gives out of order,
        are summed here from the stored bodies. ``expected``:
        how many items the batch holds, estimated on the low side (from a file's size): a
        batch of :data:`BULK_EVENTS` or more, twice the events stored or more, builds the
        events' secondary indexes once at the commit
        (:meth:`~sentinelle.store.base.Writer.bulk_load`), and into an empty ledger is a first
        load (:meth:`~sentinelle.store.base.Store.first_load`).
        """
        return self.ingest_chunks(
            Decoding(items, unit=unit, sums=sums is None),
            also=also,
            written=written,
            sums=sums,
            expected=expected,
        )

    def ingest_file(
        self,
        source: str,
        stream: IO[bytes],
        *,
        written: Callable[[list[FacetedRow]], None] | None = None,
        sums: Callable[[bool], list[Sums]] | None = None,
        progress: Callable[[int], None] | None = None,
        reader: bool = True,
    ) -> IngestResult:
        """Ingest the JSON lines of ``source`` (a path, or ``-``), opened as ``stream``
        (:func:`~sentinelle.ingest.files.open_input`), as one batch: what ``sentinelle
        ingest`` does.

        Without ``written`` (no live detection beside) and with ``reader``, a large regular
        file is decoded in a process beside this one (:meth:`Reader.open
        <sentinelle.ingest.reader.Reader.open>`); the batch is told the events the file
        holds (:func:`~sentinelle.ingest.files.events_in`: a first load builds the events'
        indexes at its commit). ``written`` and ``sums``: as :meth:`ingest`'s. ``progress`` is
        called with the bytes read since its last call, every few thousand lines.
        """
        expected = events_in(source)
        beside = (
            Reader.open(source, stream, progress=progress) if written is None and reader else None
        )
        if beside is not None:
            with beside:
                return self.ingest_chunks(beside, expected=expected)
        lines = iter_json_lines(stream, name=source)
        if progress is not None:
            lines = _tracked(lines, stream, progress)
        return self.ingest(lines, written=written, sums=sums, expected=expected)

    def ingest_chunks(
        self,
        source: ChunkSource,
        *,
        also: Callable[[Writer, IngestResult], None] | None = None,
        written: Callable[[list[FacetedRow]], None] | None = None,
        sums: Callable[[bool], list[Sums]] | None = None,
        expected: int = 0,
    ) -> IngestResult:
        """:meth:`ingest` of the chunks ``source`` decodes (the errors it raises stop the batch:
        nothing is stored). With ``sums``, the chunks' own sums are not used (a source that
        skips them: ``Decoding(sums=False)``)."""
        result = IngestResult()
        # Into an empty ledger: the store may write it a faster way (Store.first_load).
        fresh = expected >= BULK_EVENTS and self.store.ledger_size() == 0
        loading = self.store.first_load() if fresh else nullcontext(False)
        with bulk_work(), loading, self.store.writer() as w:
            size = w.ledger_size()
            bulk = expected >= max(BULK_EVENTS, 2 * size) and w.bulk_load()
            builder = TreeBuilder(size, w.partial_tiles(size))
            tally = ActivityTally()
            grower = self.ledger.slices.begin(w, start=size)  # the merchants' slices
            for chunk in source.chunks(size, self.chunk):
                first = size + result.stored  # the next leaf
                self._store(w, builder, chunk, first, tally, result, grower, written, sums is None)
                if sums is not None:  # what the process beside has summed meanwhile
                    _grow(w, builder, grower, sums(False), size + result.stored)
            end = size + result.stored
            if sums is not None and builder.size != end:
                w.build_indexes()  # meanwhile the process beside catches up
                _grow(w, builder, grower, sums(True), end)
                if builder.size != end:  # what it could not give
                    _grow(w, builder, grower, [_sums_of(w, builder.size, end)], end)
                if builder.size != end:  # never so: the transaction's own bodies
                    raise StoreError(f"the ledger's tree grew to {builder.size}, not {end}")
            elif bulk and builder.size != size:
                # The slices and the map are hashed while SQLite builds the indexes.
                _beside(w.build_indexes, lambda: grower.settle(builder.size))
            result.received = source.received
            w.add_activity(tally)
            slices: SliceBatch | None = None
            if builder.size != size:
                w.put_tiles(builder.take_completed() + builder.partial_tiles())
                w.set_ledger_size(builder.size)
                # The merchants' slices and the map, in this transaction: the checkpoint
                # commits to every merchant's accesses as stored (docs/ledger.md).
                slices = grower.finish(builder.size)
                note = self.ledger.sign(builder.size, builder.root(), (slices.line,))
                cp = w.add_checkpoint(builder.size, builder.root(), note)
                result.checkpoint = cp.note
            result.ledger_size = builder.size
            if also is not None:
                also(w, result)
        if slices is not None:
            slices.apply()  # committed: this process's map moves on
        if result.conflicting_ids:
            _logger.warning(
                "%d re-sent event ids carried different content than stored; kept the stored",
                len(result.conflicting_ids),
            )
        return result

    def _store(
        self,
        w: Writer,
        builder: TreeBuilder,
        chunk: Chunk,
        first: int,
        tally: ActivityTally,
        result: IngestResult,
        grower: SliceGrower,
        written: Callable[[list[FacetedRow]], None] | None,
        summed: bool,
    ) -> None:
        # ``first``: the leaf this chunk starts at. ``summed``: its leaf hashes and slice leaves
        # are added here; else they come from ``sums`` (the tree grows then, a little behind).
        if chunk.rows and chunk.rows[0][0] != first:  # re-sent ids dropped before this chunk
            chunk = renumbered(chunk, first)
        try:
            w.insert_events(chunk.rows)
        except DuplicateIdsError:
            chunk = self._drop_duplicates(w, first, chunk, result)
            w.insert_events(chunk.rows)
        rows = chunk.rows
        if written is not None and rows:
            written(rows)
        tally.merge(chunk.tally)  # only what was inserted: duplicates are not counted again
        w.index_accesses(chunk.subjects)  # the customers the merchants' page looks up
        w.add_integrations(chunk.machines)  # the inventory of apps and integrations
        result.stored += len(rows)
        if summed:
            _extend(w, builder, grower, chunk.hashes, chunk.slices)

    def _drop_duplicates(self, w: Writer, first: int, chunk: Chunk, result: IngestResult) -> Chunk:
        # Rare path: some ids are already stored (earlier batches, or earlier in this batch).
        rows = chunk.rows
        stored = w.existing([r[1] for r in rows])
        seen: dict[str, str] = {}
        kept: list[int] = []
        for i, row in enumerate(rows):
            eid, body = row[1], row[7]
            earlier = stored[eid] if eid in stored else seen.get(eid)
            if earlier is None:
                seen[eid] = body
                kept.append(i)
                continue
            result.duplicates += 1
            if len(result.duplicate_ids) < _MAX_LISTED:
                result.duplicate_ids.append(eid)
            if earlier != body and len(result.conflicting_ids) < _MAX_LISTED:
                result.conflicting_ids.append(eid)
        return build_chunk(first, events_of(chunk, kept), [rows[i][7].encode() for i in kept])


def _beside(work: Callable[[], None], side: Callable[[], None]) -> None:
    """Run ``work`` here and ``side`` in a thread meanwhile, and wait for both: ``work`` is
    SQLite's (an index build, which runs without the interpreter's lock), ``side`` Python's
    (hashing), so the two use both cores. An error of either is raised."""
    with ThreadPoolExecutor(1, thread_name_prefix="sentinelle-beside") as pool:
        done = pool.submit(side)
        work()
        done.result()


def _grow(
    w: Writer, builder: TreeBuilder, grower: SliceGrower, given: list[Sums], end: int
) -> None:
    """Grow the tree and the slices by ``given``, in order, while each follows on from the tree
    (leaves up to ``end``, those stored); the rest is left (computed again later)."""
    for sums in given:
        if (
            sums.first != builder.size
            or not sums.first <= sums.end <= end
            or len(sums.hashes) != 32 * (sums.end - sums.first)
        ):
            return
        _extend(w, builder, grower, sums.leaf_hashes(), sums.slices)


def _extend(
    w: Writer,
    builder: TreeBuilder,
    grower: SliceGrower,
    hashes: list[bytes],
    slices: list[tuple[str, bytes]],
) -> None:
    """Grow the tree by the next leaves' ``hashes`` and the slices by their ``slices``."""
    builder.extend(hashes)
    grower.add(slices, gsize=builder.size)
    # Completed tiles never change: write them as they come, keeping memory flat.
    if len(builder.completed) >= 64:
        w.put_tiles(builder.take_completed())


def _sums_of(w: Writer, first: int, end: int) -> Sums:
    """The :class:`Sums` of the leaves ``[first, end)``, from their bodies as stored in the
    batch's transaction (when the process beside did not give them)."""
    sums = Sums.starting(first)
    for rows in w.bodies(first, end):
        if rows:
            bodies = [body.encode() for _, body in rows]
            sums.add(rows[0][0], [decode_canonical(body)[0] for body in bodies], bodies)
    return sums


def _tracked(
    lines: Iterator[tuple[int, bytes]], stream: IO[bytes], advance: Callable[[int], None]
) -> Iterator[tuple[int, bytes]]:
    """``lines``, calling ``advance`` with the bytes read every few thousand lines."""
    done = 0
    for count, item in enumerate(lines, 1):
        if count % _PROGRESS_EVERY == 0:
            now = bytes_read(stream)
            advance(now - done)
            done = now
        yield item
