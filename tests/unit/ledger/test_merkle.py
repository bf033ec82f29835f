"""Tests for sentinelle.ledger.merkle against a naive reference written from RFC 9162 §2.1."""

from __future__ import annotations

import hashlib
import math

import pytest

from sentinelle.errors import Error, IntegrityError
from sentinelle.ledger import merkle
from sentinelle.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    combine,
    consistency_proof,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_from_inclusion,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Reference implementation: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1, word for word. ---------


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over raw leaf data."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return ref_subproof(m, d, True)


# --- Fixtures ------------------------------------------------------------------------------

MAX = 70
DATA = [b"leaf %d" % i + bytes([i % 7]) * (i % 5) for i in range(MAX)]
HASHES = [leaf_hash(x) for x in DATA]
ROOTS = [ref_mth(DATA[:n]) for n in range(MAX + 1)]


def subtree_of(hashes: list[bytes]):
    """A SubtreeHash backed by a list of leaf hashes."""

    def subtree(start: int, end: int) -> bytes:
        return root_hash(hashes[start:end])

    return subtree


SUBTREE = subtree_of(HASHES)


def flip(h: bytes, pos: int = 0) -> bytes:
    return h[:pos] + bytes([h[pos] ^ 0x01]) + h[pos + 1 :]


# --- Published RFC 6962 vectors (transparency-dev/merkle testonly, certificate-transparency) ---

CT_DATA = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (1, 8): CT_INCLUSION[(0, 8)],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def test_published_roots():
    hashes = [leaf_hash(x) for x in CT_DATA]
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for n in range(len(CT_DATA) + 1):
        assert root_hash(hashes[:n]).hex() == CT_ROOTS[n]
        assert ref_mth(CT_DATA[:n]).hex() == CT_ROOTS[n]  # the reference is right too


def test_published_proofs():
    hashes = [leaf_hash(x) for x in CT_DATA]
    subtree = subtree_of(hashes)
    roots = [bytes.fromhex(r) for r in CT_ROOTS]
    for (index, size), want in CT_INCLUSION.items():
        proof = inclusion_proof(index, size, subtree)
        assert [h.hex() for h in proof] == want
        verify_inclusion(hashes[index], index, size, proof, roots[size])
    for (old, new), want in CT_CONSISTENCY.items():
        proof = consistency_proof(old, new, subtree)
        assert [h.hex() for h in proof] == want
        verify_consistency(old, new, roots[old], roots[new], proof)


def test_hash_primitives():
    assert HASH_SIZE == 32
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    a, b = HASHES[0], HASHES[1]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


# --- Root computation -------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(MAX + 1))
def test_root_hash_matches_reference(n):
    assert root_hash(HASHES[:n]) == ROOTS[n]
    assert (
        combine([SUBTREE(i << lv, (i + 1) << lv) for lv, i in perfect_subtrees(0, n)]) == ROOTS[n]
    )


def test_root_hash_large_tree():
    data = [i.to_bytes(4, "big") for i in range(1000)]
    assert root_hash([leaf_hash(x) for x in data]) == ref_mth(data)


# --- perfect_subtrees and combine -----------------------------------------------------------


def _nodes(lo: int, hi: int):
    """Every node [lo, hi) of the RFC tree over [lo, hi)."""
    yield lo, hi
    if hi - lo > 1:
        k = _k(hi - lo)
        yield from _nodes(lo, lo + k)
        yield from _nodes(lo + k, hi)


def test_perfect_subtrees_of_every_node():
    seen = 0
    for n in range(1, MAX + 1):
        for lo, hi in _nodes(0, n):
            pieces = perfect_subtrees(lo, hi)
            # Left to right, aligned, decreasing, covering [lo, hi) exactly.
            pos = lo
            for level, index in pieces:
                assert index << level == pos
                pos += 1 << level
            assert pos == hi
            levels = [lv for lv, _ in pieces]
            assert levels == sorted(set(levels), reverse=True)
            hashes = [root_hash(HASHES[i << lv : (i + 1) << lv]) for lv, i in pieces]
            assert combine(hashes) == ref_mth(DATA[lo:hi])
            seen += 1
    assert seen > 2000


def test_perfect_subtrees_examples():
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(5, 5) == []
    assert perfect_subtrees(0, 1) == [(0, 0)]
    assert perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert perfect_subtrees(1024, 2048) == [(10, 1)]
    assert combine([]) == EMPTY_ROOT
    assert combine([HASHES[3]]) == HASHES[3]


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (4, 3), (1, 3), (2, 7), (4, 12), (6, 10)])
def test_perfect_subtrees_refuses_non_nodes(start, end):
    with pytest.raises(Error):
        perfect_subtrees(start, end)


# --- Inclusion proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_inclusion_proofs_match_reference_and_verify(n):
    root = ROOTS[n]
    for i in range(n):
        proof = inclusion_proof(i, n, SUBTREE)
        assert proof == ref_path(i, DATA[:n])
        verify_inclusion(HASHES[i], i, n, proof, root)
        assert root_from_inclusion(HASHES[i], i, n, proof) == root


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_tampered_inclusion_proofs_fail(n):
    root = ROOTS[n]
    for i in range(n):
        proof = inclusion_proof(i, n, SUBTREE)
        bad_cases = [
            (flip(HASHES[i]), i, n, proof, root),  # other leaf
            (HASHES[i], i, n, proof, flip(root, 31)),  # other root
            (HASHES[i], i, n, [*proof, HASHES[0]], root),  # too long
            (HASHES[i], n, n, proof, root),  # index == size
            (HASHES[i], -1, n, proof, root),
            (HASHES[i], i, n, proof, root[:31]),  # short root
            (HASHES[i][:31], i, n, proof, root),  # short leaf hash
        ]
        bad_cases += [
            (HASHES[i], i, n, proof[:j] + [flip(proof[j], j)] + proof[j + 1 :], root)
            for j in range(len(proof))
        ]
        if proof:
            bad_cases.append((HASHES[i], i, n, proof[:-1], root))  # too short
            bad_cases.append((HASHES[i], i, n, [proof[0][:31], *proof[1:]], root))
        if len(proof) >= 2 and proof[0] != proof[1]:
            bad_cases.append((HASHES[i], i, n, [proof[1], proof[0], *proof[2:]], root))
        for j in (i - 1, i + 1):  # the right leaf at the wrong index
            if 0 <= j < n:
                bad_cases.append((HASHES[i], j, n, proof, root))
        for m in (n - 1, n + 1):  # a genuine root of another tree size
            if i < m <= MAX:
                bad_cases.append((HASHES[i], i, m, proof, ROOTS[m]))
        for case in bad_cases:
            with pytest.raises(IntegrityError):
                verify_inclusion(*case)


def test_inclusion_proof_refuses_bad_arguments():
    for index, size in [(0, 0), (3, 3), (-1, 3), (5, 2)]:
        with pytest.raises(Error):
            inclusion_proof(index, size, SUBTREE)


def test_single_leaf_tree():
    assert inclusion_proof(0, 1, SUBTREE) == []
    verify_inclusion(HASHES[0], 0, 1, [], HASHES[0])
    with pytest.raises(IntegrityError):
        verify_inclusion(HASHES[0], 0, 1, [HASHES[1]], HASHES[0])


# --- Consistency proofs ---------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_consistency_proofs_match_reference_and_verify(n):
    for m in range(0, n + 1):
        proof = consistency_proof(m, n, SUBTREE)
        if 0 < m < n:
            assert proof == ref_proof(m, DATA[:n])
        else:
            assert proof == []
        verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


@pytest.mark.parametrize("n", range(2, MAX + 1))
def test_tampered_consistency_proofs_fail(n):
    for m in range(1, n):
        proof = consistency_proof(m, n, SUBTREE)
        old, new = ROOTS[m], ROOTS[n]
        bad_cases = [
            (m, n, flip(old), new, proof),
            (m, n, old, flip(new), proof),
            (m, n, new, old, proof),
            (n, m, new, old, proof),  # sizes swapped
            (m, n, old, new, [*proof, HASHES[0]]),
            (m, n, old, new, proof[:-1]),
            (m, n, old, new, []),
            (m, n, old[:31], new, proof),
            (m, n, old, new, [proof[0][:31], *proof[1:]]),
            (-1, n, old, new, proof),
        ]
        bad_cases += [
            (m, n, old, new, proof[:j] + [flip(proof[j], j)] + proof[j + 1 :])
            for j in range(len(proof))
        ]
        if len(proof) >= 2 and proof[0] != proof[1]:
            bad_cases.append((m, n, old, new, [proof[1], proof[0], *proof[2:]]))
        for m2 in (m - 1, m + 1):  # genuine roots, wrong old size
            if 0 < m2 < n:
                bad_cases.append((m2, n, ROOTS[m2], new, proof))
        if n < MAX:  # genuine roots, wrong new size
            bad_cases.append((m, n + 1, old, ROOTS[n + 1], proof))
        for case in bad_cases:
            with pytest.raises(IntegrityError):
                verify_consistency(*case)


def test_consistency_edge_cases():
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    bad = [
        (0, 5, ROOTS[1], ROOTS[5], []),  # the empty tree has a known root
        (0, 5, EMPTY_ROOT, ROOTS[5], [HASHES[0]]),
        (5, 5, ROOTS[5], ROOTS[4], []),  # same size, two roots: a split view
        (5, 5, ROOTS[5], ROOTS[5], [HASHES[0]]),
        (6, 5, ROOTS[6], ROOTS[5], []),
    ]
    for case in bad:
        with pytest.raises(IntegrityError):
            verify_consistency(*case)
    for old, new in [(-1, 3), (4, 3)]:
        with pytest.raises(Error):
            consistency_proof(old, new, SUBTREE)


# --- The subtree callback is called O(log n) times, and only on tree nodes. -------------------


class CountingSubtree:
    def __init__(self, size: int):
        self.size = size
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> bytes:
        assert 0 <= start < end <= self.size
        perfect_subtrees(start, end)  # raises unless [start, end) is a tree node
        self.calls.append((start, end))
        return hashlib.sha256(b"%d-%d" % (start, end)).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 1000, 4096, 1_000_003, 2**40 + 12345])
def test_subtree_called_log_times(size):
    depth = math.ceil(math.log2(size)) if size > 1 else 0
    for index in {0, 1 % size, size // 3, size // 2, size - 2 if size > 1 else 0, size - 1}:
        counter = CountingSubtree(size)
        proof = inclusion_proof(index, size, counter)
        assert len(counter.calls) == len(proof) <= depth
        assert len(set(counter.calls)) == len(counter.calls)
        verify_inclusion(
            b"\x00" * 32, index, size, proof, root_from_inclusion(b"\x00" * 32, index, size, proof)
        )
    for old in {1, 2, size // 3, size // 2, size - 1, size}:
        if not 0 < old <= size:
            continue
        counter = CountingSubtree(size)
        proof = consistency_proof(old, size, counter)
        assert len(counter.calls) == len(proof) <= depth + 1
        assert len(set(counter.calls)) == len(counter.calls)


@pytest.mark.parametrize("size", [*range(1, 300), 511, 512, 513, 65_537, 10_000_000])
def test_a_path_is_its_siblings_below_the_fork_then_the_edge_ranges(size):
    """What ``TileReader.inclusion_paths`` builds on: below the fork level the siblings are
    perfect subtrees, then every leaf of that fork level has the same ranges."""
    step = max(1, size // 300)
    for index in range(0, size, step):
        fork = (index ^ size).bit_length() - 1
        below = [(((index >> h) ^ 1) << h, (((index >> h) ^ 1) + 1) << h) for h in range(fork)]
        assert inclusion_ranges(index, size) == below + merkle.edge_ranges(fork, size)


def test_module_exports():
    assert set(merkle.__all__) == {
        "EMPTY_ROOT",
        "HASH_SIZE",
        "SubtreeHash",
        "combine",
        "consistency_proof",
        "consistency_ranges",
        "edge_ranges",
        "inclusion_ranges",
        "inclusion_proof",
        "leaf_hash",
        "node_hash",
        "perfect_subtrees",
        "root_from_inclusion",
        "root_hash",
        "verify_consistency",
        "verify_inclusion",
        "verify_inclusions",
    }
    for name in merkle.__all__:
        assert getattr(merkle, name) is not None
