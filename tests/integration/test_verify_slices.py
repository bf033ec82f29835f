"""``ledger verify`` rebuilds the merchants' slices and the merchant map (issue 12), on SQLite
and PostgreSQL.

The clean ledger passes, with every checkpoint's map line compared; a changed slice row, a
map line the events no longer give (events changed and the checkpoints signed again with the
key, or a map built wrongly at ingest), and a newest checkpoint without a map line each fail,
naming the merchant or the checkpoint; checkpoints from before slices (no map line) stay valid
when they are the oldest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_merchant_slices import CUTS, ingest_all, sql

from sentinelle.config import Settings
from sentinelle.errors import IntegrityError
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ingest import Ingestor, chunks
from sentinelle.ledger import slices as ledger_slices
from sentinelle.ledger.checkpoint import Checkpoint, parse_note
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash
from sentinelle.ledger.tiles import TreeBuilder
from sentinelle.ledger.verify_slices import map_root_in
from sentinelle.ledger.witnessing import parse_witnesses, request_cosignatures
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from sentinelle.transparency.verify import MAP_LINE_PREFIX, map_line
from witness_support import serve_witnesses


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[Store, Ledger]]:
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        ingest_all(store, ledger)
        yield store, ledger
    finally:
        store.close()


def accesses(store: Store) -> dict[str, list[int]]:
    """Each merchant's access events (leaf indices), from the stored rows."""
    out: dict[str, list[int]] = {}
    for rows in store.iter_events():
        for seq, _, _, action, _, merchant, _, _ in rows:
            if merchant is not None and action in ACCESS_ACTIONS:
                out.setdefault(merchant, []).append(seq)
    return out


def busiest(store: Store) -> str:
    by = accesses(store)
    return max(by, key=lambda m: len(by[m]))


def resign(store: Store, ledger: Ledger, *, keep_map: bool = True, sizes: Any = None) -> None:
    """What an insider holding the signing key does after changing events: recompute the
    tiles and sign every checkpoint (``sizes``: those only) again over the new roots, keeping
    each one's map line (``keep_map``) or dropping it."""
    builder = TreeBuilder()
    roots = {}
    wanted = {cp.size for cp in store.checkpoints()}
    for rows in store.iter_events():
        for seq, *_, body in rows:
            builder.append(leaf_hash(body.encode()))
            if seq + 1 in wanted:
                roots[seq + 1] = builder.root()
    with store.writer() as w:
        w.put_tiles(builder.take_completed() + builder.partial_tiles())
    for cp in store.checkpoints():
        if sizes is not None and cp.size not in sizes:
            continue
        old = Checkpoint.from_body(parse_note(cp.note)[0])
        note = ledger.key.sign(
            Checkpoint(
                origin=ledger.origin,
                size=cp.size,
                root=roots[cp.size],
                extensions=old.extensions if keep_map else (),
            )
        )
        sql(
            store,
            "UPDATE checkpoints SET note = ?, root = ? WHERE size = ?",
            (note, roots[cp.size], cp.size),
        )


def signed_with_map(ledger: Ledger, size: int, root: bytes, map_root: bytes) -> str:
    """The checkpoint of ``size`` and ``root`` signed again with another map line (what the
    key holder can do)."""
    return ledger.key.sign(
        Checkpoint(origin=ledger.origin, size=size, root=root, extensions=(map_line(map_root),))
    )


def test_a_clean_ledger_passes_with_every_map_line_compared(world):
    store, ledger = world
    report = ledger.verify()
    assert report.leaves == 1500
    assert report.merchants == len(accesses(store)) > 1
    assert report.mapped == len(CUTS) - 1  # every recorded checkpoint carries one
    for cp in store.checkpoints():  # what was compared: the lines the notes carry
        body = parse_note(cp.note)[0]
        assert map_root_in(Checkpoint.from_body(body).extensions, "cp") is not None


@pytest.mark.parametrize("column", ["root", "size", "frontier", "gsize"])
def test_a_tampered_slice_row_is_named(world, column):
    store, ledger = world
    merchant = busiest(store)
    (size,) = sql(store, "SELECT max(size) FROM slice_nodes WHERE merchant = ?", (merchant,))[0]
    change = {
        "root": ("root = ?", (b"\x07" * 32,)),
        "size": ("size = size + 1", ()),
        "frontier": ("frontier = ?", (b"\x07" * 32,)),
        "gsize": ("gsize = gsize + 5000", ()),
    }[column]
    sql(
        store,
        f"UPDATE slice_nodes SET {change[0]} WHERE merchant = ? AND size = ?",  # noqa: S608
        (*change[1], merchant, size),
    )
    with pytest.raises(
        IntegrityError, match=f"slice_nodes rows of merchant {merchant!r} were altered"
    ):
        ledger.verify()


def test_deleted_and_added_slice_rows_are_named(world):
    store, ledger = world
    merchant = busiest(store)
    sql(store, "DELETE FROM slice_nodes WHERE merchant = ?", (merchant,))
    with pytest.raises(
        IntegrityError, match=f"merchant {merchant!r} has .* in the log but no slice_nodes row"
    ):
        ledger.verify()
    sql(store, "DELETE FROM slice_nodes")
    sql(store, "UPDATE slice_state SET size = 0")
    ledger_b = Ledger(store, ledger.key, ledger.keys)
    ledger_b.checkpoint()  # builds every slice from the stored events
    assert ledger_b.verify().merchants == len(accesses(store))
    sql(
        store,
        "INSERT INTO slice_nodes (merchant, size, lo, gsize, root, frontier, nodes) "
        "VALUES (?, 1, 0, 1500, ?, ?, ?)",
        ("m-ghost", b"\x01" * 32, b"\x01" * 32, b"\x01" * 32),
    )
    with pytest.raises(
        IntegrityError,
        match="slice_nodes rows of merchant 'm-ghost' say 1 entry, but it has no access",
    ):
        ledger.verify()


def test_an_altered_map_line_fails_its_signature(world):
    store, ledger = world
    cp = store.checkpoint_at(900)
    lines = cp.note.split("\n")
    (i,) = [k for k, line in enumerate(lines) if line.startswith(MAP_LINE_PREFIX)]
    lines[i] = MAP_LINE_PREFIX + "A" * 43 + "="
    sql(store, "UPDATE checkpoints SET note = ? WHERE size = 900", ("\n".join(lines),))
    with pytest.raises(IntegrityError, match="recorded checkpoint of size 900.*(altered|verify)"):
        ledger.verify()


def test_an_access_moved_to_another_merchant_and_resigned_is_named(world):
    """With the key, an insider moves an access to another merchant, recomputes the tiles and
    signs every checkpoint again, keeping their map lines: the tree and the signatures hold,
    the map lines do not, and the stored slices (still the signed ones) name the merchants."""
    store, ledger = world
    by = accesses(store)
    victim, other = sorted(by, key=lambda m: -len(by[m]))[:2]
    seq = next(s for s in by[victim] if s >= 301)  # after the checkpoint of size 301
    (body,) = sql(store, "SELECT body FROM events WHERE seq = ?", (seq,))[0]
    moved = body.replace(f'"merchant":"{victim}"', f'"merchant":"{other}"', 1)
    assert moved != body
    sql(store, "UPDATE events SET body = ?, merchant = ? WHERE seq = ?", (moved, other, seq))
    resign(store, ledger)
    label = (
        "the recorded checkpoint of size 900"
        if seq < 900
        else "the recorded checkpoint of size 1500"
    )
    n_victim = sum(1 for s in by[victim] if s < (900 if seq < 900 else 1500))
    n_other = sum(1 for s in by[other] if s < (900 if seq < 900 else 1500))
    expected = {
        victim: f"merchant {victim!r}'s slice at {label}: {n_victim - 1} entries in the log, "
        f"the map commits to {n_victim}",
        other: f"merchant {other!r}'s slice at {label}: {n_other + 1} entries in the log, "
        f"the map commits to {n_other}",
    }
    with pytest.raises(IntegrityError) as caught:
        ledger.verify()
    first = min(victim, other)
    assert str(caught.value).startswith(expected[first] + " (and 1 other merchant(s))")


def test_a_map_built_wrongly_at_ingest_is_named(settings, monkeypatch):
    """An ingest that leaves an access out of its merchant's slice signs a map without it
    (and stores the slice without it): verify, replaying the events, names the merchant."""
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        dropped: list[tuple[int, str]] = []
        real_leaves = ledger_slices.slice_leaves

        def slice_leaves(rows, hashes):
            leaves = real_leaves(rows, hashes)
            at = [row[0] for row in rows if row[5] is not None and row[3] in ACCESS_ACTIONS]
            for i, seq in enumerate(at):
                if 301 <= seq and not dropped:
                    dropped.append((seq, leaves[i][0]))
                    return leaves[:i] + leaves[i + 1 :]
            return leaves

        monkeypatch.setattr(chunks, "slice_leaves", slice_leaves)
        ingest_all(store, ledger)
        (seq, merchant) = dropped[0]
        n = sum(1 for s in accesses(store)[merchant] if s < 900)
        with pytest.raises(IntegrityError) as caught:
            ledger.verify()
        assert str(caught.value).startswith(
            f"merchant {merchant!r}'s slice at the recorded checkpoint of size 900: {n} entries "
            f"in the log, the map commits to {n - 1}: "
        ), str(caught.value)
    finally:
        store.close()


def test_a_map_line_neither_events_nor_rows_give_is_named(world):
    store, ledger = world
    # The note signed again with another map root (the key holder): the events and the stored
    # slices agree with each other, not with the note.
    cp = store.checkpoint_at(301)
    note = signed_with_map(ledger, 301, cp.root, b"\x0b" * 32)
    sql(store, "UPDATE checkpoints SET note = ? WHERE size = 301", (note,))
    with pytest.raises(
        IntegrityError,
        match="the recorded checkpoint of size 301: its merchant-map line is not the map of the "
        "merchants' slices, on which the events and the slice_nodes rows agree",
    ):
        ledger.verify()


def test_a_given_note_with_another_map_is_named(world, tmp_path):
    store, ledger = world
    latest = store.latest_checkpoint()
    note = signed_with_map(ledger, latest.size, latest.root, b"\x0c" * 32)
    with pytest.raises(
        IntegrityError,
        match=r"checkpoint kept\.note \(size 1500\): its merchant-map line is not the map of",
    ):
        ledger.verify(notes=[("kept.note", note)])


def test_checkpoints_without_a_map_line(world):
    store, ledger = world
    # The oldest, as a database migrated from before slices has them: valid.
    resign(store, ledger, keep_map=False, sizes={1, 300})
    assert ledger.verify().mapped == 3
    # One after a checkpoint with a line: the log stopped committing to the merchants' slices.
    resign(store, ledger, keep_map=False, sizes={900})
    with pytest.raises(
        IntegrityError,
        match=r"the recorded checkpoint of size 900 carries no merchant-map line, though the "
        r"recorded checkpoint of size 301 before it does: merchants cannot prove their lists "
        r"complete against it",
    ):
        ledger.verify()
    # None with a line, though the slices are built: nothing signed commits to the accesses.
    resign(store, ledger, keep_map=False)
    with pytest.raises(
        IntegrityError,
        match="the recorded checkpoint of size 1500 carries no merchant-map line, though the "
        "merchants' slices are built to its size: nothing signed commits",
    ):
        ledger.verify()


def test_a_database_migrated_from_before_slices(world):
    store, ledger = world
    # As right after migration 18: no map line anywhere, no slice built yet.
    resign(store, ledger, keep_map=False)
    sql(store, "DELETE FROM slice_nodes")
    sql(store, "UPDATE slice_state SET size = 0")
    report = ledger.verify()
    assert report.mapped == 0
    # The next checkpoint builds the slices and carries the map: verified against the events.
    fresh = Ledger(store, ledger.key, ledger.keys)
    more = list(generate_events(events=50, seed=3, merchants=12))[:50]
    Ingestor(store, fresh).ingest(
        [(i, json.dumps({**e, "id": f"late-{e['id']}"}).encode()) for i, e in enumerate(more)]
    )
    report = fresh.verify()
    assert (report.leaves, report.mapped) == (1550, 1)
    assert report.merchants == len(accesses(store))


def test_a_cosigned_map_line_is_checked_too(opened, tmp_path):
    """The key holder signs a checkpoint with another map and a witness cosigns it (a witness
    vouches for the tree, not the map); the recorded note is then put back: verify with the
    witness's key checks the map line the witness cosigned, and names that checkpoint."""
    store, ledger = opened
    ingest_all(store, ledger)
    with serve_witnesses(tmp_path, {ledger.origin: [ledger.verifier]}) as running:
        witnesses = parse_witnesses(" ".join(w.spec for w in running))
        keys = [w.witness.key.verifier() for w in running]
        outcomes = request_cosignatures(ledger, witnesses)
        assert all(o.ok for o in outcomes), [o.message for o in outcomes]
        report = ledger.verify(witnesses=keys)
        assert report.mapped == len(CUTS) - 1 + len(keys)  # the cosigned notes' lines too
        latest = store.latest_checkpoint()
        more = list(generate_events(events=10, seed=4, merchants=12))[:10]
        Ingestor(store, ledger).ingest(
            [(i, json.dumps({**e, "id": f"w-{e['id']}"}).encode()) for i, e in enumerate(more)]
        )
        right = store.latest_checkpoint()
        wrong = signed_with_map(ledger, right.size, right.root, b"\x0d" * 32)
        sql(store, "UPDATE checkpoints SET note = ? WHERE size = ?", (wrong, right.size))
        outcomes = request_cosignatures(ledger, witnesses)
        assert all(o.ok for o in outcomes), [o.message for o in outcomes]
        sql(store, "UPDATE checkpoints SET note = ? WHERE size = ?", (right.note, right.size))
        assert latest.size < right.size
        with pytest.raises(
            IntegrityError,
            match=rf"^the checkpoint of size {right.size} that witness witness\.test/w\d\+"
            r"[0-9a-f]{8} cosigned: its merchant-map line is not the map of the merchants'",
        ):
            ledger.verify(witnesses=keys)
        ledger.verify()  # the database's own notes alone are right
