"""A batch cut into chunks (:mod:`sentinelle.ingest.chunks`) adds up to the batch whole: the
tallies merged in order, the customers and machines' uses of every chunk, the rows numbered
on from chunk to chunk."""

from __future__ import annotations

import datetime as dt

import pytest

from sentinelle.detect.engine import decode_stored
from sentinelle.errors import ValidationError
from sentinelle.events import decode_canonical
from sentinelle.ingest.chunks import Decoding, Sums, build_chunk, events_of, renumbered
from sentinelle.sim.simulator import simulate
from sentinelle.store.activity import ActivityTally


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    sim = simulate(
        merchants=40, agents=8, days=3, seed=2, end=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    )
    return list(sim.lines())


def test_chunks_merged_in_order_are_the_batch_whole(lines: list[bytes]) -> None:
    decoded = [decode_canonical(line) for line in lines]
    events, bodies = [e for e, _ in decoded], [b for _, b in decoded]
    whole = build_chunk(7, events, bodies)
    chunks = list(Decoding(enumerate(lines, 1)).chunks(7, 100))
    assert len(chunks) > 3
    assert [row for c in chunks for row in c.rows] == whole.rows
    assert [h for c in chunks for h in c.hashes] == whole.hashes
    assert [s for c in chunks for s in c.subjects] == whole.subjects
    tally = ActivityTally()
    for chunk in chunks:
        tally.merge(chunk.tally)
    assert tally.days == whole.tally.days
    # An actor-day spread over several chunks, whose figures were summed and merchants united.
    spread = {key for key in whole.tally.days if sum(key in c.tally.days for c in chunks) > 1}
    assert spread
    assert any(len(whole.tally.days[key][6]) > 1 for key in spread)
    machines: dict[tuple[str, str], int] = {}
    for chunk in chunks:
        for pair, (_, _, records, _) in chunk.machines[1].items():
            machines[pair] = machines.get(pair, 0) + records
    assert machines == {pair: v[2] for pair, v in whole.machines[1].items()}
    assert machines


def test_events_decoded_again_from_the_bodies_are_the_same(lines: list[bytes]) -> None:
    chunk = next(Decoding(enumerate(lines, 1)).chunks(0, 50))
    own = chunk.events
    assert own is not None
    chunk.events = None  # as sent by a reader process
    assert events_of(chunk) == own
    assert events_of(chunk, [3, 1]) == [own[3], own[1]]


def test_no_chunk_comes_after_an_invalid_line(lines: list[bytes]) -> None:
    items = enumerate([*lines[:10], b"{}", *lines[10:300]], 1)
    decoding = Decoding(items)
    got = []
    with pytest.raises(ValidationError) as caught:
        got.extend(decoding.chunks(0, 5))
    assert len(got) == 2  # the ten events before it, in chunks of five
    assert [p.location for p in caught.value.problems] == [11]


def test_a_chunk_renumbered_is_the_chunk_built_from_there(lines: list[bytes]) -> None:
    # After re-sent ids were dropped, the next chunks move their numbers back without being
    # decoded again: the same rows, customers and slice leaves as built from the new first.
    decoded = [decode_canonical(line) for line in lines[:500]]
    events, bodies = [e for e, _ in decoded], [b for _, b in decoded]
    moved = renumbered(build_chunk(1000, events, bodies), 993)
    built = build_chunk(993, events, bodies)
    assert moved.rows == built.rows
    assert moved.subjects == built.subjects
    assert moved.slices == built.slices
    assert moved.hashes == built.hashes
    assert moved.tally.days == built.tally.days
    assert moved.machines == built.machines
    assert moved.slices and moved.subjects


def test_sums_added_chunk_by_chunk_are_the_chunks_own(lines: list[bytes]) -> None:
    # What live detection's process computes beside the ingest (Sums) is what the chunks
    # built with their sums hold: leaf hashes and slice leaf hashes, in order.
    chunks = list(Decoding(enumerate(lines, 1)).chunks(7, 100))
    bare = list(Decoding(enumerate(lines, 1), sums=False).chunks(7, 100))
    assert [c.rows for c in bare] == [c.rows for c in chunks]
    assert [c.subjects for c in bare] == [c.subjects for c in chunks]
    assert all(not c.hashes and not c.slices for c in bare)
    assert [c.tally.days for c in bare] == [c.tally.days for c in chunks]
    sums = Sums.starting(7)
    for chunk in bare:
        bodies = [row[7].encode() for row in chunk.rows]
        sums.add(chunk.rows[0][0], [decode_stored(b) for b in bodies], bodies)
    assert (sums.first, sums.end) == (7, 7 + len(lines))
    assert sums.leaf_hashes() == [h for c in chunks for h in c.hashes]
    assert sums.slices == [s for c in chunks for s in c.slices]
    assert sums.slices  # the access events' (merchant, slice leaf hash)
    with pytest.raises(ValueError, match=f"where {7 + len(lines)} comes next"):  # in order
        sums.add(7, [], [])
    # A chunk without its sums, numbered again after re-sent ids: no slice leaves to move.
    moved = renumbered(bare[1], 50)
    assert moved.rows[0][0] == 50 and moved.slices == []
