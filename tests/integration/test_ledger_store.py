"""The ledger on both stores: appends across batches, proofs, and tampering caught by verify.

Each test runs on SQLite and on a real PostgreSQL (``settings`` fixture).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from sentinelle.errors import IntegrityError, ValidationError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, root_hash, verify_consistency, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import Store


def lines(events: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(i, json.dumps(e).encode()) for i, e in enumerate(events, 1)]


def events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    return list(generate_events(events=n, seed=seed))[:n]


def sql(store: Store, text: str, params: tuple[Any, ...] = ()) -> Any:
    cur = store._conn.cursor()
    cur.execute(store.sql(text), params)
    return cur.fetchall() if cur.description else None


def test_batches_build_one_rfc9162_tree(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    evs = events(3000)
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, 3000), 6)) + [255, 256, 257, 512]
    start = 0
    for cut in sorted(set(cuts)) + [3000]:
        Ingestor(store, ledger, chunk=100).ingest(lines(evs[start:cut]))
        start = cut
    assert store.ledger_size() == 3000
    bodies = [sql(store, "SELECT body FROM events WHERE seq = ?", (i,))[0][0] for i in range(3000)]
    assert [json.loads(b)["id"] for b in bodies] == [e["id"] for e in evs]
    expected_root = root_hash([leaf_hash(b.encode()) for b in bodies])
    assert store.latest_checkpoint().root == expected_root
    assert ledger.root(3000) == expected_root
    report = ledger.verify()
    assert (report.leaves, report.root) == (3000, expected_root)
    # Proofs at every recorded checkpoint, and consistency between all of them.
    cps = store.checkpoints()
    assert len(cps) == 11
    for cp in cps:
        for index in (0, cp.size // 2, cp.size - 1):
            p = ledger.proof(evs[index]["id"], cp.size)
            verify_inclusion(
                bytes.fromhex(p["leaf_hash"]),
                index,
                cp.size,
                [bytes.fromhex(h) for h in p["inclusion_path"]],
                cp.root,
            )
    for old in cps:
        for new in cps:
            if old.size <= new.size:
                c = ledger.consistency(old.size, new.size)
                verify_consistency(
                    old.size, new.size, old.root, new.root, [bytes.fromhex(h) for h in c["proof"]]
                )


def test_duplicates_within_and_across_batches(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    evs = events(50)
    first = Ingestor(store, ledger).ingest(lines(evs[:30] + evs[:5]))
    assert (first.stored, first.duplicates) == (30, 5)
    changed = dict(evs[0], merchant="m-other")
    second = Ingestor(store, ledger, chunk=7).ingest(lines(evs[20:] + [changed]))
    assert (second.stored, second.duplicates) == (20, 11)
    assert second.conflicting_ids == [evs[0]["id"]]
    assert store.ledger_size() == 50
    ledger.verify()


def test_insert_events_with_a_known_id_inserts_none_of_its_rows(
    opened: tuple[Store, Ledger],
) -> None:
    """DuplicateIdsError leaves none of the call's rows inserted (SQLite takes out again those
    executemany inserted before the known id) and the transaction usable."""
    from sentinelle.events import canonical, decode_event
    from sentinelle.ledger.log import event_row
    from sentinelle.store import DuplicateIdsError

    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(10)))
    decoded = [decode_event(json.dumps(e)) for e in events(20)]

    def rows(seq: int, evs: list[Any]) -> list[Any]:
        return [event_row(seq + i, e, canonical(e).decode(), 7) for i, e in enumerate(evs)]

    fresh = decoded[10:]
    with store.writer() as w:
        for bad in (
            rows(10, fresh[:4] + [decoded[3]] + fresh[4:]),  # stored before
            rows(10, fresh[:6] + [fresh[2]] + fresh[6:]),  # twice in the call
            rows(10, [decoded[0], *fresh]),  # the first row
        ):
            with pytest.raises(DuplicateIdsError):
                w.insert_events(bad)
            assert w._x("SELECT count(*), max(seq) FROM events").fetchall()[0] == (10, 9)
        w.insert_events(rows(10, fresh))
    stored = sql(store, "SELECT seq, id, facets FROM events WHERE seq >= 10 ORDER BY seq")
    assert stored == [(10 + i, e.id, 7) for i, e in enumerate(fresh)]


def test_a_bad_line_refuses_the_batch_and_changes_nothing(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(100)))
    before = (
        store.ledger_size(),
        len(store.checkpoints()),
        sql(store, "SELECT count(*) FROM tiles"),
    )
    batch = lines(events(10_000, seed=2))
    batch[7_000] = (7_001, b'{"id": "x", "action": "peek"}')
    with pytest.raises(ValidationError) as info:
        Ingestor(store, ledger, chunk=512).ingest(batch)
    assert [(p.location, p.path) for p in info.value.problems] == [(7_001, "$.action")]
    after = (
        store.ledger_size(),
        len(store.checkpoints()),
        sql(store, "SELECT count(*) FROM tiles"),
    )
    assert after == before
    assert sql(store, "SELECT count(*) FROM events")[0][0] == 100
    ledger.verify()


def patch_tile(store: Store, level: int, idx: int, offset: int, data: bytes) -> None:
    """Overwrite bytes of a stored tile, as an insider with database access could."""
    blob = sql(store, "SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, idx))[0][0]
    blob = bytes(blob)
    patched = blob[:offset] + data + blob[offset + len(data) :]
    sql(store, "UPDATE tiles SET data = ? WHERE level = ? AND idx = ?", (patched, level, idx))


def two_batches(store: Store, ledger: Ledger, first: int = 300, total: int = 600) -> None:
    evs = events(total)
    Ingestor(store, ledger).ingest(lines(evs[:first]))
    Ingestor(store, ledger).ingest(lines(evs[first:]))
    ledger.verify()


# Each tamper names exactly what is wrong: the event (leaf index and id) or the tile (level and
# index) at fault, not the checkpoint or tile that revealed it.
@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            "UPDATE events SET body = replace(body, '\"m-', '\"x-') WHERE seq = 123",
            r"^leaf 123 \(event 'evt-00000123'\) was altered: the stored event does not hash to "
            r"the logged leaf hash, and the events no longer give the root of the recorded "
            r"checkpoint of size 300$",
        ),
        (
            "UPDATE events SET body = replace(body, '\"m-', '\"x-'), "
            "merchant = replace(merchant, 'm-', 'x-') WHERE seq = 123",
            r"^leaf 123 \(event 'evt-00000123'\) was altered: the stored event does not hash",
        ),
        (
            "UPDATE events SET merchant = 'm-elsewhere' WHERE seq = 321",
            r"^leaf 321 \(event 'evt-00000321'\): its merchant column changed: the column no "
            r"longer matches the stored event, which the recorded checkpoint of size 600 covers$",
        ),
        (
            "UPDATE events SET body = replace(body, '\"ticket.', '\"grant.') WHERE seq = 3",
            r"^leaf 3 \(event '[^']+'\) was altered: the stored event is invalid",
        ),
        (
            "UPDATE events SET body = replace(body, ',', ', ') WHERE seq = 4",
            r"^leaf 4 \(event '[^']+'\) was altered: the stored event is not canonical JSON$",
        ),
        (
            "DELETE FROM events WHERE seq = 200",
            r"^leaf 200 is missing: the next stored event is leaf 201 \(event 'evt-00000201'\)$",
        ),
        ("DELETE FROM events WHERE seq = 599", r"leaf 599 onwards is missing$"),
        ("UPDATE events SET seq = seq + 1000 WHERE seq IN (10, 11)", "^leaf 10 is missing"),
        (
            "UPDATE tiles SET data = (SELECT data FROM tiles WHERE level = 0 AND idx = 0) "
            "WHERE level = 0 AND idx = 1",
            r"^tile \(level 0, index 1\) was altered: its hash of leaf 256 is not that of the "
            r"stored event '[^']+' \(the events match the signed checkpoints",
        ),
        (
            "DELETE FROM tiles WHERE level = 0 AND idx = 1",
            r"^tile \(level 0, index 1\), over leaves 256–511, is missing from the store "
            r"\(the events match the signed checkpoints: the stored tree was changed",
        ),
        (
            "DELETE FROM tiles WHERE level = 0 AND idx = 2",
            r"^tile \(level 0, index 2\), over leaves 512–599, is missing from the store",
        ),
        (
            "DELETE FROM tiles WHERE level = 1",
            r"^tile \(level 1, index 0\), over leaves 0–599, is missing from the store",
        ),
        (
            "UPDATE checkpoints SET root = (SELECT root FROM checkpoints WHERE size = 600) "
            "WHERE size = 300",
            r"^the recorded checkpoint of size 300: its size or root column differs from its "
            r"signed note \(the checkpoints table was altered\)$",
        ),
    ],
)
def test_verify_catches_tampering(opened: tuple[Store, Ledger], tamper: str, message: str) -> None:
    store, ledger = opened
    two_batches(store, ledger)
    sql(store, tamper)
    with pytest.raises(IntegrityError, match=message):
        ledger.verify()


@pytest.mark.parametrize(
    ("level", "idx", "offset", "message"),
    [
        # a leaf hash in a level-0 tile: the event is the signed one, so the tile is at fault
        (0, 1, 7 * 32, r"^tile \(level 0, index 1\) was altered: its hash of leaf 263 is not"),
        # the first node of tree level 1, kept inside level-0 tile 0 after its 256 leaf hashes
        (
            0,
            0,
            256 * 32,
            r"^tile \(level 0, index 0\) was altered: its node at tree level 1, index 0, is not "
            r"the one the events give \(the events match the signed checkpoints",
        ),
        # the node of tree level 9 in the level-1 tile (after its two level-8 nodes)
        (1, 0, 2 * 32, r"^tile \(level 1, index 0\) was altered: its node at tree level 9, "),
        (1, 0, 32, r"^tile \(level 1, index 0\) was altered: its node at tree level 8, index 1,"),
    ],
)
def test_verify_names_the_altered_tile(
    opened: tuple[Store, Ledger], level: int, idx: int, offset: int, message: str
) -> None:
    store, ledger = opened
    two_batches(store, ledger)
    patch_tile(store, level, idx, offset, b"\x07" * 32)
    with pytest.raises(IntegrityError, match=message):
        ledger.verify()


def test_verify_catches_reordered_rows(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(300)))
    sql(store, "UPDATE events SET seq = -1 WHERE seq = 40")
    sql(store, "UPDATE events SET seq = 40 WHERE seq = 41")
    sql(store, "UPDATE events SET seq = 41 WHERE seq = -1")
    with pytest.raises(
        IntegrityError,
        match=r"^leaf 40 \(event 'evt-00000041'\) is logged at leaf 41: stored events were "
        "reordered",
    ):
        ledger.verify()


def rewrite_tree(store: Store) -> None:
    """Recompute every tile from the stored events, as an insider covering a change would."""
    from sentinelle.ledger.tiles import TreeBuilder

    sql(store, "DELETE FROM tiles")
    builder = TreeBuilder()
    for rows in store.iter_events():
        builder.extend([leaf_hash(r[-1].encode()) for r in rows])
    with store.writer() as w:
        w.put_tiles(builder.take_completed() + builder.partial_tiles())


def test_verify_catches_a_rewritten_tree(opened: tuple[Store, Ledger]) -> None:
    """An insider who alters an event and recomputes the tiles still breaks the signed root;
    verify names the leaves between the last checkpoint that holds and the first that fails."""
    store, ledger = opened
    two_batches(store, ledger, 300, 700)
    outside = store.latest_checkpoint().note  # a copy kept outside the database
    sql(
        store,
        "UPDATE events SET body = replace(body, '\"m-', '\"x-'), "
        "merchant = replace(merchant, 'm-', 'x-') WHERE seq = 350",
    )
    rewrite_tree(store)
    with pytest.raises(
        IntegrityError,
        match=r"^the events do not give the root of the recorded checkpoint of size 700, yet the "
        r"logged leaf hashes agree with them: an event among leaves 300–699 was altered and the "
        "stored tree recomputed",
    ):
        ledger.verify()
    # ... and once the checkpoints are gone too, the database alone proves nothing: not OK.
    sql(store, "DELETE FROM checkpoints")
    with pytest.raises(
        IntegrityError,
        match=r"^not verified: the ledger holds 700 leaves but no checkpoint is recorded, so no "
        r"signature vouches for leaves 0–699;",
    ):
        ledger.verify()
    # A copy kept outside still catches it, and says which checkpoint.
    with pytest.raises(
        IntegrityError,
        match=r"^the events do not give the root of checkpoint saved-note \(size 700\), yet",
    ):
        ledger.verify(notes=[("saved-note", outside)])


def test_an_altered_event_whose_columns_were_kept_is_named_after_a_rewrite(
    opened: tuple[Store, Ledger],
) -> None:
    store, ledger = opened
    two_batches(store, ledger, 300, 700)
    sql(store, "UPDATE events SET body = replace(body, '\"m-', '\"x-') WHERE seq = 350")
    rewrite_tree(store)
    with pytest.raises(
        IntegrityError,
        match=r"^leaf 350 \(event 'evt-00000350'\) was altered: the stored event no longer "
        r"matches its merchant column, and the events do not give the root of the recorded "
        r"checkpoint of size 700",
    ):
        ledger.verify()


@pytest.mark.parametrize(
    ("deleted", "message"),
    [
        (
            "DELETE FROM checkpoints",
            r"^not verified: the ledger holds 600 leaves but no checkpoint is recorded, so no "
            r"signature vouches for leaves 0–599; checkpoints were deleted or events appended "
            r"without one\. Check against a checkpoint kept outside the database: sentinelle "
            r"ledger verify --checkpoint FILE$",
        ),
        (
            "DELETE FROM checkpoints WHERE size = 600",
            r"^not verified: the ledger holds 600 leaves but the newest checkpoint covers only "
            r"300, so no signature vouches for leaves 300–599;",
        ),
    ],
)
def test_verify_fails_when_no_checkpoint_covers_every_leaf(
    opened: tuple[Store, Ledger], deleted: str, message: str
) -> None:
    store, ledger = opened
    two_batches(store, ledger)
    outside = store.latest_checkpoint().note
    sql(store, deleted)
    with pytest.raises(IntegrityError, match=message):
        ledger.verify()
    # A checkpoint kept outside the database that covers every leaf still verifies it all.
    report = ledger.verify(notes=[("saved-note", outside)])
    assert (report.leaves, report.covered) == (600, 600)
    assert report.recorded_covered == (300 if "WHERE" in deleted else 0)


def test_verify_fails_on_events_appended_without_a_checkpoint(
    opened: tuple[Store, Ledger],
) -> None:
    """An insider who appends events and their tiles, without the signing key, is caught."""
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(300)))
    from sentinelle.events import canonical, decode_event
    from sentinelle.ledger.log import event_row
    from sentinelle.ledger.tiles import TreeBuilder

    extra = [decode_event(json.dumps(e)) for e in events(310, seed=9)[300:]]
    with store.writer() as w:
        builder = TreeBuilder(300, w.partial_tiles(300))
        rows = [event_row(300 + i, e, canonical(e).decode()) for i, e in enumerate(extra)]
        w.insert_events(rows)
        builder.extend([leaf_hash(r[7].encode()) for r in rows])
        w.put_tiles(builder.take_completed() + builder.partial_tiles())
        w.set_ledger_size(310)
    with pytest.raises(
        IntegrityError,
        match=r"^not verified: the ledger holds 310 leaves but the newest checkpoint covers "
        r"only 300, so no signature vouches for leaves 300–309;",
    ):
        ledger.verify()


def test_verify_reports_progress(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    two_batches(store, ledger)
    done: list[int] = []
    ledger.verify(batch=256, progress=done.append)
    assert done == [256, 256, 88]


def test_verify_catches_forged_checkpoints(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(100)))
    cp = store.latest_checkpoint()
    forger = SigningKey.generate(ledger.origin)
    forged = forger.sign(Checkpoint(origin=ledger.origin, size=cp.size, root=b"\x07" * 32))
    sql(
        store,
        "UPDATE checkpoints SET note = ?, root = ? WHERE size = ?",
        (forged, b"\x07" * 32, cp.size),
    )
    forger_id = f"{ledger.origin}+{forger.key_hash.hex()}"
    with pytest.raises(
        IntegrityError,
        match=rf"^the recorded checkpoint of size 100 is signed by {re.escape(forger_id)}, not "
        "by a key recorded for this ledger",
    ):
        ledger.verify()
    with pytest.raises(IntegrityError, match="not by a key recorded for this ledger"):
        ledger.check_note(forged)


def test_checkpoint_beyond_the_events_means_removal(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(100)))
    note = store.latest_checkpoint().note
    sql(store, "DELETE FROM events WHERE seq >= 90")
    sql(store, "UPDATE ledger_state SET size = 90")
    with pytest.raises(IntegrityError, match="events were removed"):
        ledger.verify()
    with pytest.raises(IntegrityError, match="events were removed"):
        ledger.check_note(note)


def test_schema_is_versioned(opened: tuple[Store, Ledger]) -> None:
    store, _ = opened
    from sentinelle.store.migrations import MIGRATIONS

    latest = MIGRATIONS[store.dialect][-1][0]
    assert store.schema_version() == latest
    store.migrate()  # idempotent
    applied = sql(store, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in applied] == [v for v, _ in MIGRATIONS[store.dialect]]


def test_migration_4_fills_in_the_ref_of_stored_context_events(
    opened: tuple[Store, Ledger],
) -> None:
    store, ledger = opened
    evs = events(3000)
    Ingestor(store, ledger).ingest(lines(evs))
    expected = sql(store, "SELECT seq, ref FROM events WHERE ref IS NOT NULL ORDER BY seq")
    assert expected, "the stream has ticket and grant events"
    # The database as migration 3 left it: no ref column, no index.
    sql(store, "DROP INDEX events_ref")
    sql(store, "ALTER TABLE events DROP COLUMN ref")
    sql(store, "DELETE FROM schema_migrations WHERE version = 4")
    if store.dialect == "postgresql":
        store._conn.commit()
    store.migrate()
    assert sql(store, "SELECT seq, ref FROM events WHERE ref IS NOT NULL ORDER BY seq") == expected
    ledger.verify()  # the filled-in column matches what ingest writes
