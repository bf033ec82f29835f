"""``ledger verify``'s own rebuild of the slices and the map (verify_slices) gives the same
slice roots as RFC 9162 over the slice leaves, and the same map root as ingest's map
(``slices.map_root_of``), whatever the merchants and however the updates are batched.

Both maps are the slices module's code (verify updates it batch by batch, ``map_root_of``
builds it at once), so each is also compared with :func:`reference_map_root`, the map
computed here from its definition alone (docs/ledger.md, "The map")."""

from __future__ import annotations

import random
from hashlib import sha256

import pytest

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import leaf_hash, root_hash
from sentinelle.ledger.slices import _prove, map_hash, map_root_of, map_update
from sentinelle.ledger.verify_slices import MapCommitment, SliceCheck
from sentinelle.transparency.verify import (
    EMPTY_ROOT,
    MAP_EMPTY,
    SliceHead,
    map_root_from_proof,
    slice_leaf_hash,
)


def reference_map_root(heads: dict[str, tuple[int, bytes]]) -> bytes:
    """The merchant map's root from its definition: a sparse Merkle tree keyed by
    ``SHA-256(merchant)``, key bit ``d`` (most significant first) choosing the side at depth
    ``d``; a merchant's leaf ``SHA-256(0x00 || key || uint64_be(size) || slice root)``; an
    inner node ``SHA-256(0x01 || left || right)``; an empty subtree 32 zero bytes; compact: a
    subtree holding one merchant is that merchant's leaf."""
    leaves = {_key(m): _leaf(m, size, root) for m, (size, root) in heads.items()}

    def bit(key: bytes, depth: int) -> int:
        return int(format(int.from_bytes(key, "big"), "0256b")[depth])

    def subtree(keys: list[bytes], depth: int) -> bytes:
        if not keys:
            return bytes(32)  # an empty subtree
        if len(keys) == 1:
            return leaves[keys[0]]
        left = [k for k in keys if bit(k, depth) == 0]
        right = [k for k in keys if bit(k, depth) == 1]
        return _node(subtree(left, depth + 1), subtree(right, depth + 1))

    return subtree(list(leaves), 0)


def _key(merchant: str) -> bytes:
    return sha256(merchant.encode()).digest()


def _leaf(merchant: str, size: int, root: bytes) -> bytes:
    return sha256(b"\x00" + _key(merchant) + size.to_bytes(8, "big") + root).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _merchant_whose_top_bits(bits: int, count: int) -> str:
    """A merchant id whose key starts with the ``count`` bits ``bits``."""
    return next(f"m-{i}" for i in range(2, 10_000) if _key(f"m-{i}")[0] >> (8 - count) == bits)


def test_the_maps_on_hand_computed_maps() -> None:
    """The reference and ingest's map on maps small enough to write out by hand."""
    root = leaf_hash(b"x")
    assert reference_map_root({}) == map_root_of([]) == MAP_EMPTY
    # One merchant: the map is its leaf.
    assert reference_map_root({"m-1": (3, root)}) == _leaf("m-1", 3, root)
    assert map_root_of([("m-1", 3, root)]) == _leaf("m-1", 3, root)
    # Two merchants whose keys differ at bit 0: the node over their leaves, bit 0 on the left.
    a, b = _merchant_whose_top_bits(0, 1), _merchant_whose_top_bits(1, 1)
    both = _node(_leaf(a, 1, root), _leaf(b, 2, root))
    assert reference_map_root({b: (2, root), a: (1, root)}) == both
    assert map_root_of([(b, 2, root), (a, 1, root)]) == both
    # Keys 10… and 11…: the same side at depth 0, beside an empty subtree; split at depth 1.
    c, d = _merchant_whose_top_bits(0b10, 2), _merchant_whose_top_bits(0b11, 2)
    deeper = _node(MAP_EMPTY, _node(_leaf(c, 1, root), _leaf(d, 5, root)))
    assert reference_map_root({c: (1, root), d: (5, root)}) == deeper
    assert map_root_of([(c, 1, root), (d, 5, root)]) == deeper


class _NoSlicesStored:
    def slice_state(self) -> int:
        return 0

    def slice_heads_since(self, *_: object, **__: object) -> list:
        return []

    def slice_head_at(self, *_: object) -> None:
        return None


@pytest.mark.parametrize("seed", range(6))
def test_the_rebuilt_map_is_ingests_map(seed: int) -> None:
    rng = random.Random(seed)
    merchants = [f"m-{i}" for i in range(rng.choice([1, 2, 3, 40, 300]))]
    check = SliceCheck(_NoSlicesStored(), [], 10**6)
    assert check.map_root() == MAP_EMPTY
    leaves: dict[str, list[bytes]] = {}
    seq = 0
    for _ in range(rng.randint(1, 12)):  # checkpoints
        for _ in range(rng.randint(0, 200)):
            merchant = rng.choice(merchants)
            lh = leaf_hash(f"event {seq}".encode())
            check.add(seq, merchant, lh)
            leaves.setdefault(merchant, []).append(slice_leaf_hash(seq, lh))
            seq += 1
        heads = {m: (len(hs), root_hash(hs)) for m, hs in leaves.items()}
        assert check.map_root() == map_root_of((m, n, r) for m, (n, r) in heads.items())
        assert check.map_root() == reference_map_root(heads)


def test_a_map_line_of_another_map_is_refused_naming_the_checkpoint() -> None:
    check = SliceCheck(_NoSlicesStored(), [MapCommitment(1, "cp 1", b"\x01" * 32)], 1)
    check.add(0, "m-1", leaf_hash(b"x"))
    with pytest.raises(
        IntegrityError,
        match="cp 1: its merchant-map line is the map neither of the events' slices nor of the ",
    ):
        check.reached(1)


@pytest.mark.parametrize("seed", range(4))
def test_updates_and_removals_keep_the_map_and_its_proofs(seed: int) -> None:
    """Batches that add, change and remove merchants (size 0, as an older checkpoint's map is
    put back) give the map of what is left, and every merchant's proof, present or absent,
    leads to its root."""
    rng = random.Random(seed)
    merchants = [f"m-{i}" for i in range(rng.choice([2, 5, 60, 700]))]
    heads: dict[str, tuple[int, bytes]] = {}
    node = None
    for _ in range(rng.randint(2, 10)):  # checkpoints
        batch = []
        for merchant in rng.sample(merchants, rng.randint(1, len(merchants))):
            size = rng.choice([0, 0, 1, 3, 40])
            root = leaf_hash(f"{merchant} {size} {rng.random()}".encode()) if size else EMPTY_ROOT
            batch.append((merchant, size, root))
            if size:
                heads[merchant] = (size, root)
            else:
                heads.pop(merchant, None)
        node = map_update(node, batch)
        assert map_hash(node) == reference_map_root(heads)
        for merchant in merchants:
            head = SliceHead(*heads.get(merchant, (0, EMPTY_ROOT)))
            proof = _prove(node, _key(merchant))
            assert map_root_from_proof(_key(merchant), head, proof) == map_hash(node)


def test_a_merchant_given_twice_keeps_its_last_head() -> None:
    first, last = leaf_hash(b"first"), leaf_hash(b"last")
    node = map_update(None, [("m-1", 1, first), ("m-2", 2, first), ("m-1", 3, last)])
    assert map_hash(node) == reference_map_root({"m-1": (3, last), "m-2": (2, first)})
