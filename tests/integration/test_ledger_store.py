"""The ledger on both stores: appends across batches, proofs, and tampering caught by verify.

Each test runs on SQLite and on a real PostgreSQL (``settings`` fixture).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import IntegrityError, ValidationError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, root_hash, verify_consistency, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store


@pytest.fixture
def opened(settings: Settings) -> Iterator[tuple[Store, Ledger]]:
    store = open_store(settings)
    try:
        yield store, Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    finally:
        store.close()


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


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("UPDATE events SET body = replace(body, '\"m-', '\"x-') WHERE seq = 123", "leaf 123"),
        ("UPDATE events SET merchant = 'm-elsewhere' WHERE seq = 321", "leaf 321"),
        ("DELETE FROM events WHERE seq = 200", "leaf 200 is missing"),
        ("DELETE FROM events WHERE seq = 599", "leaf 599 onwards is missing"),
        ("UPDATE events SET seq = seq + 1000 WHERE seq IN (10, 11)", "leaf 10 is missing"),
        (
            "UPDATE tiles SET data = (SELECT data FROM tiles WHERE level = 0 AND idx = 0) "
            "WHERE level = 0 AND idx = 1",
            "leaf 256",
        ),
        ("UPDATE events SET body = replace(body, '\"ticket.', '\"grant.') WHERE seq = 3", "leaf 3"),
    ],
)
def test_verify_catches_tampering(opened: tuple[Store, Ledger], tamper: str, message: str) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(300)))
    Ingestor(store, ledger).ingest(lines(events(600)[300:]))
    ledger.verify()
    sql(store, tamper)
    with pytest.raises(IntegrityError, match=message):
        ledger.verify()


def test_verify_catches_reordered_rows(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(300)))
    sql(store, "UPDATE events SET seq = -1 WHERE seq = 40")
    sql(store, "UPDATE events SET seq = 40 WHERE seq = 41")
    sql(store, "UPDATE events SET seq = 41 WHERE seq = -1")
    with pytest.raises(IntegrityError, match=r"leaf 40 \(event 'evt-"):
        ledger.verify()


def test_verify_catches_a_rewritten_tree(opened: tuple[Store, Ledger]) -> None:
    """An insider who alters an event and recomputes the tiles still breaks the signed root."""
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(700)))
    sql(
        store,
        "UPDATE events SET body = replace(body, '\"m-', '\"x-'), "
        "merchant = replace(merchant, 'm-', 'x-') WHERE seq = 5",
    )
    sql(store, "DELETE FROM tiles")
    from sentinelle.ledger.tiles import TreeBuilder

    builder = TreeBuilder()
    for rows in store.iter_events():
        builder.extend([leaf_hash(r[-1].encode()) for r in rows])
    with store.writer() as w:
        w.put_tiles(builder.take_completed() + builder.partial_tiles())
    with pytest.raises(IntegrityError, match="signed checkpoint of size 700"):
        ledger.verify()


def test_verify_catches_forged_checkpoints(opened: tuple[Store, Ledger]) -> None:
    store, ledger = opened
    Ingestor(store, ledger).ingest(lines(events(100)))
    cp = store.latest_checkpoint()
    forged = SigningKey.generate(ledger.origin).sign(
        Checkpoint(origin=ledger.origin, size=cp.size, root=b"\x07" * 32)
    )
    sql(
        store,
        "UPDATE checkpoints SET note = ?, root = ? WHERE size = ?",
        (forged, b"\x07" * 32, cp.size),
    )
    with pytest.raises(IntegrityError):
        ledger.verify()
    with pytest.raises(IntegrityError):
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
    assert sql(store, "SELECT count(*) FROM schema_migrations")[0][0] == latest


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
