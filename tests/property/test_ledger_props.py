"""Property tests for sentinelle.ledger: proofs round-trip, checkpoints round-trip, notes resist
any single-byte change."""

from __future__ import annotations

from itertools import accumulate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_trees import PerfectTree, counter_leaves

from sentinelle.errors import IntegrityError
from sentinelle.ledger import (
    Checkpoint,
    SigningKey,
    combine,
    consistency_proof,
    inclusion_proof,
    perfect_subtrees,
    root_from_inclusion,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 4096
LEAVES = counter_leaves(MAX_SIZE)
subtree = PerfectTree(LEAVES).subtree


ROOT_CACHE: dict[int, bytes] = {}


def root(size: int) -> bytes:
    if size not in ROOT_CACHE:
        ROOT_CACHE[size] = root_hash(LEAVES[:size])
    return ROOT_CACHE[size]


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@given(data=st.data(), size=sizes)
@settings(max_examples=300, deadline=None)
def test_inclusion_round_trip(data, size):
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, size, subtree)
    verify_inclusion(LEAVES[index], index, size, proof, root(size))
    assert root_from_inclusion(LEAVES[index], index, size, proof) == root(size)
    assert len(proof) <= (size - 1).bit_length()


@given(data=st.data(), new=sizes)
@settings(max_examples=300, deadline=None)
def test_consistency_round_trip(data, new):
    old = data.draw(st.integers(min_value=0, max_value=new), label="old")
    proof = consistency_proof(old, new, subtree)
    verify_consistency(old, new, root(old), root(new), proof)
    assert len(proof) <= (new - 1).bit_length() + 1


@given(data=st.data(), size=st.integers(min_value=2, max_value=MAX_SIZE))
@settings(max_examples=200, deadline=None)
def test_tampered_proofs_fail(data, size):
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, size, subtree)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="at")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    bad = list(proof)
    bad[at] = (
        bad[at][: bit // 8] + bytes([bad[at][bit // 8] ^ (1 << bit % 8)]) + bad[at][bit // 8 + 1 :]
    )
    with pytest.raises(IntegrityError):
        verify_inclusion(LEAVES[index], index, size, bad, root(size))

    old = data.draw(st.integers(min_value=1, max_value=size - 1), label="old")
    proof = consistency_proof(old, size, subtree)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="at2")
    bad = list(proof)
    bad[at] = bytes([bad[at][0] ^ 0x80]) + bad[at][1:]
    with pytest.raises(IntegrityError):
        verify_consistency(old, size, root(old), root(size), bad)


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
def test_root_hash_equals_combine_of_perfect_subtrees(hashes):
    n = len(hashes)
    starts = list(accumulate((1 << lv for lv, _ in perfect_subtrees(0, n)), initial=0))
    pieces = [root_hash(hashes[a:b]) for a, b in zip(starts, starts[1:], strict=False)]
    assert combine(pieces) == root_hash(hashes)


# --- Checkpoints and notes ----------------------------------------------------------------------

origins = st.text(
    alphabet=st.characters(min_codepoint=0x20, blacklist_categories=["Cs"]), min_size=1, max_size=60
)
key_names = st.text(
    alphabet=st.characters(
        min_codepoint=0x21, blacklist_categories=["Cs", "Zs", "Zl", "Zp"], blacklist_characters="+"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: not any(c.isspace() for c in s))
checkpoints = st.builds(
    Checkpoint,
    origin=origins,
    size=st.integers(min_value=0, max_value=2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
)


@given(checkpoints)
def test_checkpoint_body_round_trip(cp):
    assert Checkpoint.from_body(cp.body()) == cp


@given(cp=checkpoints, name=key_names)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_sign_verify_round_trip(cp, name):
    key = SigningKey.generate(name)
    note = key.sign(cp)
    assert key.verifier().verify(note) == cp


KEY = SigningKey.generate("sentinelle.example/props")
OTHER = SigningKey.generate("sentinelle.example/props")  # same name, other key


@given(cp=checkpoints, data=st.data())
@settings(max_examples=500)
def test_any_single_byte_change_fails(cp, data):
    note = KEY.sign(cp).encode("utf-8")
    at = data.draw(st.integers(min_value=0, max_value=len(note) - 1), label="at")
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != note[at]))
    mutated = (note[:at] + bytes([value]) + note[at + 1 :]).decode("utf-8", "surrogateescape")
    with pytest.raises(IntegrityError):
        KEY.verifier().verify(mutated)


@given(checkpoints)
def test_other_key_never_verifies(cp):
    with pytest.raises(IntegrityError):
        KEY.verifier().verify(OTHER.sign(cp))
