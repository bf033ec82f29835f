"""Merchant slices and the merchant map (issue 12 §2) on SQLite and PostgreSQL.

The slices built at ingest are recomputed from the stored events; answers between checkpoints
verify with the standalone verifier (:mod:`sentinelle.transparency.verify`), page by page and
whole; a removed or altered access, a rewritten slice row and a merchant without accesses are
each named; checkpoints made before slices (no map line) stay valid and are refused as ends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import IntegrityError
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Checkpoint
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, root_hash
from sentinelle.ledger.slices import SliceQueryError, map_root_of, slice_page
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from sentinelle.store import slices as slice_store
from sentinelle.transparency.verify import (
    EMPTY_ROOT,
    MAP_LINE_PREFIX,
    CompletenessError,
    MapProofError,
    MissingMapError,
    ProofError,
    SliceHead,
    accesses_to,
    slice_leaf_hash,
    verify_note,
    verify_slice,
)

CUTS = (0, 1, 300, 301, 900, 1500)  # a checkpoint at each size after 0


def sql(store: Store, text: str, params: tuple[Any, ...] = ()) -> Any:
    cur = store._conn.cursor()
    cur.execute(store.sql(text), params)
    rows = cur.fetchall() if cur.description else None
    store._conn.commit()
    return rows


def ingest_all(store: Store, ledger: Ledger) -> list[dict[str, Any]]:
    """Ingest 1,500 simulated events over 12 merchants, a batch (and checkpoint) per cut."""
    events = list(generate_events(events=CUTS[-1], seed=7, merchants=12))[: CUTS[-1]]
    for a, b in zip(CUTS, CUTS[1:], strict=False):
        batch = [(i, json.dumps(e).encode()) for i, e in enumerate(events[a:b])]
        Ingestor(store, ledger, chunk=97).ingest(batch)
    return events


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[Store, Ledger, list[dict[str, Any]]]]:
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        events = ingest_all(store, ledger)
        assert [cp.size for cp in store.checkpoints()] == list(CUTS[1:])
        yield store, ledger, events
    finally:
        store.close()


def recomputed(store: Store, size: int) -> dict[str, tuple[int, bytes]]:
    """Every merchant's slice at tree ``size``, from the stored events alone."""
    leaves: dict[str, list[bytes]] = {}
    for rows in store.iter_events():
        for seq, _, _, action, _, merchant, _, body in rows:
            if seq < size and merchant is not None and action in ACCESS_ACTIONS:
                lh = slice_leaf_hash(seq, leaf_hash(body.encode()))
                leaves.setdefault(merchant, []).append(lh)
    return {m: (len(hs), root_hash(hs)) for m, hs in leaves.items()}


def map_root_in(note: str) -> bytes:
    (line,) = Checkpoint.from_body(note.split("\n\n")[0] + "\n").extensions
    assert line.startswith(MAP_LINE_PREFIX)
    return base64.b64decode(line[len(MAP_LINE_PREFIX) :])


def answer(
    store: Store, ledger: Ledger, merchant: str, f: int, t: int, limit: int = 500
) -> list[dict[str, Any]]:
    pages = []
    after = None
    with store.snapshot():
        while True:
            page = slice_page(
                store, ledger.slices, merchant, from_size=f, to_size=t, after=after, limit=limit
            )
            pages.append(page.to_dict("more" if page.next else None))
            if page.next is None:
                return pages
            after = page.next


def busiest(store: Store) -> str:
    heads = recomputed(store, store.ledger_size())
    return max(heads, key=lambda m: heads[m][0])


def test_slices_built_at_ingest_are_the_events_recomputed(world):
    store, _, _ = world
    for cp in store.checkpoints():
        heads = recomputed(store, cp.size)
        for merchant, (n, root) in heads.items():
            assert store.slice_head_at(merchant, cp.size) == (n, root)
        # The map line of each checkpoint is the map of those slices.
        assert map_root_in(cp.note) == map_root_of((m, n, r) for m, (n, r) in heads.items())
    now = recomputed(store, store.ledger_size())
    assert {r[0]: (r[1], r[2]) for r in store.slice_heads_since(-1)} == now
    assert store.slice_state() == store.ledger_size()


@pytest.mark.parametrize("ends", [(0, 1500), (300, 1500), (301, 900), (0, 1), (900, 900)])
@pytest.mark.parametrize("limit", [1, 7, 500])
def test_answers_verify_page_by_page_and_whole(world, ends, limit):
    store, ledger, _ = world
    merchant = busiest(store)
    f, t = ends
    pages = answer(store, ledger, merchant, f, t, limit)
    got = verify_slice(
        pages, verifier_key=ledger.key.verifier_key(), merchant=merchant, origin=ledger.origin
    )
    want_from = recomputed(store, f).get(merchant, (0, EMPTY_ROOT))
    want_to = recomputed(store, t).get(merchant, (0, EMPTY_ROOT))
    assert (got.from_head.size, got.to_head.size) == (want_from[0], want_to[0])
    assert [e.slice_index for e in got.entries] == list(range(want_from[0], want_to[0]))
    assert all(f <= e.leaf_index < t for e in got.entries)
    # A page alone is not the whole list unless it is the last.
    if len(pages) > 1:
        with pytest.raises(CompletenessError, match="missing"):
            verify_slice(pages[:-1], verifier_key=ledger.key.verifier_key(), merchant=merchant)


def test_a_merchant_without_accesses_gets_an_absence_proof(world):
    store, ledger, _ = world
    for who in ("m-never", "shop.example/none"):
        (page,) = answer(store, ledger, who, 300, 1500)
        got = verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=who)
        assert got.to_head == SliceHead(0, EMPTY_ROOT) and got.entries == ()
        # Claiming an access for it fails: the map says it has none.
        page["to"]["slice"] = {"size": 1, "root": "11" * 32}
        with pytest.raises(MapProofError, match="to checkpoint"):
            verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=who)


def test_a_present_merchant_cannot_be_shown_absent(world):
    store, ledger, _ = world
    merchant = busiest(store)
    (page,) = answer(store, ledger, "m-never", 0, 1500)
    page["merchant"] = merchant
    with pytest.raises(MapProofError, match=merchant):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=merchant)


def test_a_removed_access_is_named(world):
    store, ledger, _ = world
    merchant = busiest(store)
    (page,) = answer(store, ledger, merchant, 300, 1500)
    victim = page["entries"][3]
    sql(store, "DELETE FROM events WHERE seq = ?", (victim["leaf_index"],))
    (page,) = answer(store, ledger, merchant, 300, 1500)
    with pytest.raises(ProofError, match=f"slice entry {victim['slice_index']} "):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=merchant)
    # Dropped from the answer as well (a server hiding it): the count says so.
    page["entries"] = [e for e in page["entries"] if e["slice_index"] < victim["slice_index"]]
    with pytest.raises(CompletenessError, match="missing"):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=merchant)


def test_an_altered_access_is_named(world):
    store, ledger, _ = world
    merchant = busiest(store)
    (page,) = answer(store, ledger, merchant, 0, 1500)
    victim = page["entries"][5]
    event = json.loads(victim["event"])
    body = victim["event"].replace(f'"action":"{event["action"]}"', '"action":"search"', 1)
    if body == victim["event"]:
        body = victim["event"].replace(f'"action":"{event["action"]}"', '"action":"view"', 1)
    sql(store, "UPDATE events SET body = ? WHERE seq = ?", (body, victim["leaf_index"]))
    (page,) = answer(store, ledger, merchant, 0, 1500)
    with pytest.raises(ProofError, match=f"event {event['id']!r}"):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=merchant)


def test_a_rewritten_slice_is_caught_by_the_signed_map(world):
    store, ledger, _ = world
    merchant = busiest(store)
    # Someone with the database removes an access and rewrites the slice rows to match: the
    # map root signed in the checkpoints no longer agrees.
    (page,) = answer(store, ledger, merchant, 0, 1500)
    gone = page["entries"][2]["leaf_index"]
    sql(store, "DELETE FROM events WHERE seq = ?", (gone,))
    heads = recomputed(store, 1500)
    n, root = heads[merchant]
    sql(
        store,
        "UPDATE slice_nodes SET size = ?, root = ? WHERE merchant = ? AND gsize = 1500",
        (n, root, merchant),
    )
    fresh = Ledger(store, ledger.key, ledger.keys)  # a process that reads the rewritten rows
    with store.snapshot():
        page = slice_page(store, fresh.slices, merchant, from_size=0, to_size=1500).to_dict()
    # The map proof fails first: the served head is not the one the signed map root holds
    # (the removed event alone would also fail its inclusion proof, further on).
    with pytest.raises(MapProofError, match="to checkpoint .*map proof"):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=merchant)


def test_the_monitors_known_head_must_agree(world):
    store, ledger, _ = world
    merchant = busiest(store)
    (page,) = answer(store, ledger, merchant, 300, 1500)
    n, root = recomputed(store, 300)[merchant]
    verify_slice(
        page,
        verifier_key=ledger.key.verifier_key(),
        merchant=merchant,
        known=(300, SliceHead(n, root)),
    )
    with pytest.raises(CompletenessError, match="rewritten"):
        verify_slice(
            page,
            verifier_key=ledger.key.verifier_key(),
            merchant=merchant,
            known=(300, SliceHead(n + 1, root)),
        )


def test_customer_lookup_follows_from_completeness(world):
    store, ledger, _ = world
    merchant = busiest(store)
    got = verify_slice(
        answer(store, ledger, merchant, 0, 1500),
        verifier_key=ledger.key.verifier_key(),
        merchant=merchant,
    )
    subject = next(s for e in got.entries for s in e.event.get("subjects") or ())
    touched = accesses_to(got, subject)
    assert touched and all(subject in e.event["subjects"] for e in touched)
    assert accesses_to(got, "c-nobody") == []


def test_bad_sizes_are_refused_naming_them(world):
    store, ledger, _ = world
    with store.snapshot():
        for f, t, param in ((900, 300, "from"), (0, 299, "to"), (2, 300, "from"), (0, 0, "to")):
            with pytest.raises(SliceQueryError) as caught:
                slice_page(store, ledger.slices, "m-1000", from_size=f, to_size=t)
            assert caught.value.param == param


def test_checkpoints_from_before_slices_stay_valid_and_are_refused_as_ends(world, settings):
    store, ledger, events = world
    # A checkpoint as a ledger made it before migration 18: no map line, same tree.
    old = store.checkpoint_at(300)
    bare = ledger.key.sign(Checkpoint(origin=ledger.origin, size=300, root=old.root))
    sql(store, "UPDATE checkpoints SET note = ? WHERE size = 300", (bare,))
    cp = verify_note(bare, ledger.key.verifier_key())
    assert (cp.size, cp.root, cp.map_root) == (300, old.root, None)
    # After a checkpoint with a map line, one without is a log that stopped committing to the
    # merchants' slices: verify fails, naming both.
    with pytest.raises(IntegrityError, match="carries no merchant-map line, though"):
        ledger.verify()
    # Every checkpoint up to it without the line, as after the migration: valid.
    for early in [c for c in store.checkpoints() if c.size < 300]:
        plain = ledger.key.sign(Checkpoint(origin=ledger.origin, size=early.size, root=early.root))
        sql(store, "UPDATE checkpoints SET note = ? WHERE size = ?", (plain, early.size))
    assert ledger.verify().leaves == 1500  # still valid checkpoints of the log
    with store.snapshot(), pytest.raises(SliceQueryError, match="no merchant map") as caught:
        slice_page(store, ledger.slices, "m-1000", from_size=300, to_size=1500)
    assert caught.value.param == "from"
    # An answer built on it anyway is refused by the verifier, naming why.
    (page,) = answer(store, ledger, busiest(store), 301, 1500)
    page["from"]["checkpoint"], page["from"]["size"] = bare, 300
    with pytest.raises(MissingMapError, match="before merchant slices"):
        verify_slice(page, verifier_key=ledger.key.verifier_key(), merchant=busiest(store))


def test_slices_are_built_for_events_stored_before_the_migration(world):
    store, ledger, events = world
    # As after migration 18 on a database with events: no slice yet.
    sql(store, "DELETE FROM slice_nodes")
    sql(store, "UPDATE slice_state SET size = 0")
    fresh = Ledger(store, ledger.key, ledger.keys)
    more = list(generate_events(events=200, seed=8, merchants=12))[:200]
    Ingestor(store, fresh).ingest(
        [(i, json.dumps({**e, "id": f"late-{e['id']}"}).encode()) for i, e in enumerate(more)]
    )
    size = store.ledger_size()
    now = recomputed(store, size)
    assert {r[0]: (r[1], r[2]) for r in store.slice_heads_since(-1)} == now
    merchant = busiest(store)
    got = verify_slice(
        answer(store, fresh, merchant, 0, size),
        verifier_key=ledger.key.verifier_key(),
        merchant=merchant,
    )
    assert got.to_head.size == now[merchant][0]


def test_explicit_checkpoints_carry_the_map_and_another_process_catches_up(world, settings):
    store, ledger, _ = world
    other = open_store(settings)
    try:
        writer = Ledger(other, ledger.key, ledger.keys)  # a second process writing
        more = list(generate_events(events=100, seed=9, merchants=12))[:100]
        Ingestor(other, writer).ingest(
            [(i, json.dumps({**e, "id": f"x-{e['id']}"}).encode()) for i, e in enumerate(more)]
        )
    finally:
        other.close()
    size = store.ledger_size()
    # This process's map was at 1500; it reads what the other wrote.
    cp = ledger.checkpoint()
    assert cp.size == size
    heads = recomputed(store, size)
    assert map_root_in(cp.note) == map_root_of((m, n, r) for m, (n, r) in heads.items())
    merchant = busiest(store)
    verify_slice(
        answer(store, ledger, merchant, 900, size),
        verifier_key=ledger.key.verifier_key(),
        merchant=merchant,
    )


@pytest.mark.parametrize("catch_up", [20_000, 0], ids=["from-events", "scan-of-heads"])
def test_two_processes_writing_alternately_keep_the_slices_of_the_events(
    world, settings, monkeypatch, catch_up
):
    """Each process keeps the slices in memory, keyed by the tree size it read them at; each
    batch of the other moves the ledger, and the next batch here reads what grew (from the
    events it has not seen, or a scan of the heads when far behind) before growing them."""
    monkeypatch.setattr(slice_store, "CATCH_UP_EVENTS", catch_up)
    store, ledger, _ = world
    other = open_store(settings)
    try:
        writer = Ledger(other, ledger.key, ledger.keys)  # a second process writing
        more = list(generate_events(events=600, seed=11, merchants=12))[:600]
        for k in range(6):
            ingestor = Ingestor(other, writer) if k % 2 else Ingestor(store, ledger)
            part = more[k * 100 : (k + 1) * 100]
            result = ingestor.ingest(
                [
                    (i, json.dumps({**e, "id": f"alt{k}-{e['id']}"}).encode())
                    for i, e in enumerate(part)
                ]
            )
            size = result.ledger_size
            heads = recomputed(store, size)
            cp = store.checkpoint_at(size)
            assert cp is not None
            assert map_root_in(cp.note) == map_root_of((m, n, r) for m, (n, r) in heads.items())
            for merchant, head in heads.items():
                assert store.slice_head_at(merchant, size) == head
        assert {r[0]: (r[1], r[2]) for r in store.slice_heads_since(-1)} == heads
        # Each process's map at an earlier checkpoint of the other still proves the slices.
        merchant = busiest(store)
        for slices_of in (ledger, writer):
            verify_slice(
                answer(store, slices_of, merchant, 1500, size),
                verifier_key=ledger.key.verifier_key(),
                merchant=merchant,
            )
    finally:
        other.close()
