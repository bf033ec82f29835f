"""The monitor's checks (sentinelle.monitor.checks): tiles against the reference Merkle
functions, every relation between two checkpoints, cosignature counting, and that the module
stays light (no web framework, database or settings library imported)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sentinelle.errors import IntegrityError
from sentinelle.ledger import Checkpoint, SigningKey, consistency_proof, leaf_hash, root_hash
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.ledger.merkle import EMPTY_ROOT, node_hash
from sentinelle.monitor.checks import (
    LogTree,
    Relation,
    count_cosignatures,
    open_checkpoint,
    relate,
    tree_from_tiles,
)

ORIGIN = "shop.example/ledger"
LEAVES = [leaf_hash(b"a" + i.to_bytes(4, "big")) for i in range(66_000)]
OTHER = [leaf_hash(b"b" + i.to_bytes(4, "big")) for i in range(3_000)]


def tiles_of(leaves: list[bytes], size: int) -> dict[tuple[int, int, int], bytes]:
    """The C2SP tlog-tiles of the tree of ``size``: (level, index, width) -> bytes."""
    out: dict[tuple[int, int, int], bytes] = {}
    level_hashes = leaves[:size]
    level = 0
    while level_hashes:
        for index in range(0, len(level_hashes), 256):
            chunk = level_hashes[index : index + 256]
            out[(level, index // 256, len(chunk))] = b"".join(chunk)
        level_hashes = [
            root_hash(level_hashes[i : i + 256]) for i in range(0, len(level_hashes) - 255, 256)
        ]
        level += 1
    return out


def reference(leaves: list[bytes], old: int, new: int) -> LogTree:
    proof = consistency_proof(old, new, lambda a, b: root_hash(leaves[a:b]))
    return LogTree(root_hash(leaves[:old]), root_hash(leaves[:new]), tuple(proof))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1),
        (1, 2),
        (3, 7),
        (255, 256),
        (256, 257),
        (300, 65_536),
        (511, 513),
        (1_000, 65_791),
        (65_536, 65_537),
        (7, 66_000),
    ],
)
def test_tiles_give_the_reference_roots_and_proof(old: int, new: int) -> None:
    tiles = tiles_of(LEAVES, new)
    fetched: list[tuple[int, int, int]] = []

    def fetch(level: int, index: int, width: int) -> bytes:
        fetched.append((level, index, width))
        return tiles[(level, index, width)]

    assert tree_from_tiles(fetch, old, new) == reference(LEAVES, old, new)
    assert len(fetched) == len(set(fetched))  # each tile once


def test_a_tile_of_the_wrong_length_is_refused() -> None:
    tiles = tiles_of(LEAVES, 600)

    def fetch(level: int, index: int, width: int) -> bytes:
        return tiles[(level, index, width)][:-1]

    with pytest.raises(IntegrityError, match=r"^tile \(level 0, index \d\) is 8191 bytes"):
        tree_from_tiles(fetch, 300, 600)
    with pytest.raises(IntegrityError, match="no tree from size 0"):
        tree_from_tiles(fetch, 0, 600)


def cp(leaves: list[bytes], size: int) -> Checkpoint:
    return Checkpoint(origin=ORIGIN, size=size, root=root_hash(leaves[:size]))


def test_relations() -> None:
    old = cp(LEAVES, 1000)
    assert relate(old, old, None) is Relation.SAME
    assert relate(old, cp(LEAVES, 2000), reference(LEAVES, 1000, 2000)) is Relation.EXTENDS
    assert relate(old, cp(LEAVES, 999), None) is Relation.SMALLER
    assert relate(old, cp(OTHER, 1000), None) is Relation.SPLIT_VIEW
    # Another history: its own proof ties its own old root to its new root.
    fork = OTHER[:1000] + LEAVES[1000:2000]
    assert relate(old, cp(fork, 2000), reference(fork, 1000, 2000)) is Relation.REWRITTEN
    # A proof that ties nothing: no proof ties the two checkpoints.
    junk = LogTree(old.root, root_hash(fork[:2000]), (b"\x00" * 32,) * 3)
    assert relate(old, cp(fork, 2000), junk) is Relation.SPLIT_VIEW
    # The log claims our old root but its proof leads elsewhere: not a rewrite it proves.
    claimed = reference(fork, 1000, 2000)
    claimed = LogTree(old.root, claimed.new_root, claimed.proof)
    assert relate(old, cp(fork, 2000), claimed) is Relation.SPLIT_VIEW
    # The log's answer about another new root proves nothing against ours either.
    elsewhere = reference(OTHER, 1000, 2000)
    assert relate(old, cp(fork, 2000), elsewhere) is Relation.SPLIT_VIEW
    with pytest.raises(IntegrityError, match="no consistency proof from size 1000 to 2000"):
        relate(old, cp(LEAVES, 2000), None)


def test_the_same_tree_with_another_map_is_a_split_view() -> None:
    old = cp(LEAVES, 1000)
    mapped = Checkpoint(origin=ORIGIN, size=1000, root=old.root, extensions=("x/map AAAA",))
    assert relate(mapped, mapped, None) is Relation.SAME
    assert relate(old, mapped, None) is Relation.SPLIT_VIEW
    other = Checkpoint(origin=ORIGIN, size=1000, root=old.root, extensions=("x/map BBBB",))
    assert relate(mapped, other, None) is Relation.SPLIT_VIEW


def test_the_empty_tree() -> None:
    empty = Checkpoint(origin=ORIGIN, size=0, root=EMPTY_ROOT)
    assert relate(empty, cp(LEAVES, 5), None) is Relation.EXTENDS
    assert relate(empty, empty, None) is Relation.SAME
    bogus = Checkpoint(origin=ORIGIN, size=0, root=node_hash(EMPTY_ROOT, EMPTY_ROOT))
    assert relate(bogus, cp(LEAVES, 5), None) is Relation.SPLIT_VIEW


def test_log_tree_bounds_what_it_holds() -> None:
    with pytest.raises(IntegrityError, match="more than 128 hashes"):
        LogTree(EMPTY_ROOT, EMPTY_ROOT, (EMPTY_ROOT,) * 129)
    with pytest.raises(IntegrityError, match="not 32 bytes"):
        LogTree(EMPTY_ROOT, EMPTY_ROOT, (b"\x01",))


def test_open_checkpoint_needs_a_pinned_key_and_the_origin() -> None:
    key, rotated, stranger = (SigningKey.generate(ORIGIN) for _ in range(3))
    note = rotated.sign(cp(LEAVES, 10))
    got = open_checkpoint(note, origin=ORIGIN, log_keys=[key.verifier(), rotated.verifier()])
    assert (got.size, got.note) == (10, note)
    with pytest.raises(IntegrityError, match="note has no signature by key"):
        open_checkpoint(note, origin=ORIGIN, log_keys=[stranger.verifier()])
    with pytest.raises(IntegrityError, match="is for log 'shop.example/ledger', expected 'x/y'"):
        open_checkpoint(note, origin="x/y", log_keys=[rotated.verifier()])
    tampered = note.replace("\n10\n", "\n11\n")
    with pytest.raises(IntegrityError, match="does not verify"):
        open_checkpoint(tampered, origin=ORIGIN, log_keys=[rotated.verifier()])
    with pytest.raises(IntegrityError, match="no log key is pinned"):
        open_checkpoint(note, origin=ORIGIN, log_keys=[])


def test_cosignatures_are_counted_and_forgeries_told_apart() -> None:
    key = SigningKey.generate(ORIGIN)
    w1, w2, w3, stranger = (Cosigner.generate(f"witness.test/w{i}") for i in range(1, 5))
    body = cp(LEAVES, 10).body()
    note = key.sign(cp(LEAVES, 10))
    cosigned = note + w1.cosign(body, timestamp=100) + stranger.cosign(body, timestamp=100)
    pinned = [w1.verifier(), w2.verifier(), w3.verifier()]
    counted = count_cosignatures(cosigned, pinned)
    assert counted.valid == (w1.verifier().key_id,)
    assert counted.missing == (w2.verifier().key_id, w3.verifier().key_id)
    assert counted.bad == ()
    assert counted.meets(1) and not counted.meets(2)
    # w2's line on another checkpoint, pasted here: it names w2 and does not verify.
    other = w2.cosign(cp(LEAVES, 11).body(), timestamp=100)
    forged = count_cosignatures(cosigned + other, pinned)
    assert forged.bad == (w2.verifier().key_id,)
    assert not forged.meets(1)  # a forgery fails the round whatever the count


def test_the_checks_import_no_framework() -> None:
    code = (
        "import sys, sentinelle.monitor.checks\n"
        "heavy = {'fastapi', 'starlette', 'sqlalchemy', 'pydantic', 'httpx', 'psycopg'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "[]\n"
