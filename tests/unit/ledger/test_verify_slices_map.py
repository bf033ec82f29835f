"""``ledger verify``'s own rebuild of the slices and the map (verify_slices) gives the same
slice roots as RFC 9162 over the slice leaves, and the same map root as ingest's map
(``slices.map_root_of``), whatever the merchants and however the updates are batched."""

from __future__ import annotations

import random

import pytest

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import leaf_hash, root_hash
from sentinelle.ledger.slices import map_root_of
from sentinelle.ledger.verify_slices import MapCommitment, SliceCheck
from sentinelle.transparency.verify import MAP_EMPTY, slice_leaf_hash


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


def test_a_map_line_of_another_map_is_refused_naming_the_checkpoint() -> None:
    check = SliceCheck(_NoSlicesStored(), [MapCommitment(1, "cp 1", b"\x01" * 32)], 1)
    check.add(0, "m-1", leaf_hash(b"x"))
    with pytest.raises(
        IntegrityError,
        match="cp 1: its merchant-map line is the map neither of the events' slices nor of the ",
    ):
        check.reached(1)
