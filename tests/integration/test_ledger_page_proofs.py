"""A page of inclusion proofs (``Ledger.inclusion_proofs``) on both stores: the proofs one by
one of ``Ledger.proof``, at every recorded checkpoint; a changed tile or event fails the page.

Each test runs on SQLite and on a real PostgreSQL (``settings`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import IntegrityError, NotFoundError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store

SIZES = (1, 2, 3, 255, 256, 257, 300, 511, 700)  # a checkpoint at each


@pytest.fixture
def ledger700(settings: Settings) -> Iterator[tuple[Store, Ledger]]:
    """700 events ingested in batches ending at each of :data:`SIZES`: tiles of two tile
    levels, full and partial, and a checkpoint at each size."""
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        evs = list(generate_events(events=700, seed=3))[:700]
        start = 0
        for end in SIZES:
            batch = [(i, json.dumps(e).encode()) for i, e in enumerate(evs[start:end], start + 1)]
            Ingestor(store, ledger).ingest(batch)
            start = end
        assert [cp.size for cp in store.checkpoints()] == list(SIZES)
        yield store, ledger
    finally:
        store.close()


def sql(store: Store, text: str, params: tuple[Any, ...] = ()) -> Any:
    cur = store._conn.cursor()
    cur.execute(store.sql(text), params)
    return cur.fetchall() if cur.description else None


def stored(store: Store, indices: list[int]) -> list[tuple[int, str]]:
    """``(leaf index, stored event)`` as the merchants' route reads them."""
    rows = sql(store, "SELECT seq, body FROM events ORDER BY seq")
    bodies = {int(seq): body for seq, body in rows}
    return [(i, bodies[i]) for i in indices]


def pages(size: int) -> list[list[int]]:
    """Pages of leaves of a tree of ``size``: newest first (as the route asks), in the last
    partial tile, scattered in any order, with a repeat."""
    newest = list(range(size - 1, max(-1, size - 101), -1))
    last_tile = list(range(size - 1 - (size - 1) % 256, size))
    scattered = [(i * 97) % size for i in range(0, 60)]
    return [newest, last_tile, scattered, [0, size - 1, 0]]


def fresh(store: Store, ledger: Ledger) -> Ledger:
    """The same ledger with an empty tile cache (as a new process would have)."""
    return Ledger(store, ledger.key, ledger.keys)


def test_a_page_is_the_proofs_one_by_one_at_every_checkpoint(
    ledger700: tuple[Store, Ledger],
) -> None:
    store, ledger = ledger700
    for cp in store.checkpoints():
        for page in pages(cp.size):
            leaves = stored(store, page)
            paths = ledger.inclusion_proofs(leaves, cp.size, cp.root)
            for (index, body), path in zip(leaves, paths, strict=True):
                one = ledger.proof(json.loads(body)["id"], cp.size)
                assert one["leaf_index"] == index
                assert [h.hex() for h in path] == one["inclusion_path"]
                verify_inclusion(leaf_hash(body.encode()), index, cp.size, path, cp.root)
    assert ledger.inclusion_proofs([], 700, store.latest_checkpoint().root) == []
    with pytest.raises(NotFoundError):
        ledger.inclusion_proofs(stored(store, [700 - 1]), 300, store.checkpoint_at(300).root)


@pytest.mark.parametrize(
    ("level", "idx", "offset"),
    [
        (0, 0, 7 * 32),  # a leaf hash in a full level-0 tile
        (0, 0, 256 * 32 + 3 * 32),  # a node of tree level 1 inside it
        (0, 2, 5 * 32),  # a leaf hash in the partial level-0 tile
        (1, 0, 0),  # a node of tree level 8 in the (partial) level-1 tile
    ],
)
def test_a_changed_tile_fails_the_page(
    ledger700: tuple[Store, Ledger], level: int, idx: int, offset: int
) -> None:
    store, ledger = ledger700
    cp = store.latest_checkpoint()
    page = stored(store, list(range(699, -1, -1)))  # every node is some leaf's sibling
    ledger.inclusion_proofs(page, cp.size, cp.root)
    blob = bytes(
        sql(store, "SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, idx))[0][0]
    )
    changed = blob[:offset] + bytes([blob[offset] ^ 1]) + blob[offset + 1 :]
    sql(store, "UPDATE tiles SET data = ? WHERE level = ? AND idx = ?", (changed, level, idx))
    with pytest.raises(IntegrityError, match="does not match the root of the tree of size 700"):
        fresh(store, ledger).inclusion_proofs(page, cp.size, cp.root)


def test_a_changed_event_fails_the_page(ledger700: tuple[Store, Ledger]) -> None:
    store, ledger = ledger700
    cp = store.latest_checkpoint()
    sql(store, "UPDATE events SET body = replace(body, '\"id\"', '\"id\" ') WHERE seq = 650")
    with pytest.raises(IntegrityError, match="does not match the root"):
        ledger.inclusion_proofs(stored(store, list(range(699, 599, -1))), cp.size, cp.root)
    ledger.inclusion_proofs(stored(store, list(range(599, 499, -1))), cp.size, cp.root)


def test_a_missing_or_truncated_tile_fails_the_page(ledger700: tuple[Store, Ledger]) -> None:
    store, ledger = ledger700
    cp = store.latest_checkpoint()
    page = stored(store, [699, 600, 513])
    sql(store, "UPDATE tiles SET data = substr(data, 1, 32 * (94 + 47 + 23 + 11 + 5 + 2 + 1)) "
        "WHERE level = 0 AND idx = 2")  # fmt: skip
    with pytest.raises(IntegrityError, match="tile"):
        fresh(store, ledger).inclusion_proofs(page, cp.size, cp.root)
    sql(store, "DELETE FROM tiles WHERE level = 0 AND idx = 2")
    with pytest.raises(IntegrityError, match=r"tile \(0, 2\) is missing"):
        fresh(store, ledger).inclusion_proofs(page, cp.size, cp.root)
